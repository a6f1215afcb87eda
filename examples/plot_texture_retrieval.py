"""
Texture retrieval with image features and a learned metric
===========================================================

Small patches of three real textures (brick, grass and gravel, from
:func:`mlearn.datasets.load_textures`) are described by a grey-level
histogram and local binary patterns at three scales. A query patch is
answered with its nearest gallery patches, first under the Euclidean
distance between the features, then under a metric LMNN learned from the
gallery's labels.
"""

# %%
# Features and a learned metric
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import LMNN
from mlearn.datasets import load_textures
from mlearn.features import ColorHistogram, LocalBinaryPattern
from mlearn.metrics import precision_at_k
from mlearn.pairwise import kneighbors

textures = load_textures(patch_size=16, n_patches_per_image=80, random_state=0)
gallery, queries, y_gallery, y_queries = train_test_split(
    textures.images,
    textures.target,
    test_size=0.25,
    stratify=textures.target,
    random_state=0,
)
features = make_pipeline(
    FeatureUnion(
        [
            ("histogram", ColorHistogram(bins=16, color_space="gray")),
            ("lbp", LocalBinaryPattern(method="uniform", scales=[(8, 1.0), (16, 2.0)])),
        ]
    ),
    StandardScaler(),
).fit(gallery)
F_gallery, F_queries = features.transform(gallery), features.transform(queries)
lmnn = LMNN(n_neighbors=3, n_components=8, random_state=0).fit(F_gallery, y_gallery)

# %%
# Precision of the five nearest patches
# -------------------------------------
# The fraction of each query's five nearest gallery patches that show the
# query's texture, averaged over the queries.
spaces = {
    "Euclidean": (F_queries, F_gallery),
    "LMNN": (lmnn.transform(F_queries), lmnn.transform(F_gallery)),
}
for name, (Q, G) in spaces.items():
    p5 = precision_at_k(Q, y_queries, reference=G, reference_labels=y_gallery, k=5)
    print(f"{name}: precision@5 {p5:.3f}")

# %%
# A query and its neighbours
# --------------------------
# The query on which the learned metric gains most over the Euclidean one,
# and the five patches each metric returns for it (a red title marks a wrong
# texture).
_, eucl = kneighbors(F_queries, F_gallery, n_neighbors=5)
_, learned = kneighbors(*spaces["LMNN"], n_neighbors=5)
gain = np.sum(y_gallery[learned] == y_queries[:, None], axis=1) - np.sum(
    y_gallery[eucl] == y_queries[:, None], axis=1
)
query = int(np.argmax(gain))
rows = {"Euclidean": eucl[query], "LMNN": learned[query]}

fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for row, (name, neighbours) in zip(axes, rows.items()):
    row[0].imshow(queries[query], cmap="gray", vmin=0, vmax=255)
    row[0].set_title(f"query\n({textures.target_names[y_queries[query]]})")
    row[0].set_ylabel(name)
    for ax, index in zip(row[1:], neighbours):
        ax.imshow(gallery[index], cmap="gray", vmin=0, vmax=255)
        right = y_gallery[index] == y_queries[query]
        ax.set_title(textures.target_names[y_gallery[index]], color="black" if right else "red")
    for ax in row:
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()
plt.show()
