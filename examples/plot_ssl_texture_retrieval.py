"""
Texture retrieval with a network pre-trained without labels (SimCLR)
====================================================================

A small convolutional network is pre-trained with SimCLR on patches of three
real textures (brick, grass and gravel, from
:func:`mlearn.datasets.load_textures`) without their labels: it learns to map
two random augmentations (crop, flip, brightness and contrast, blur) of one
patch close together and away from the other patches. A query patch is then
answered with its nearest gallery patches in the network's embedding, before
and after pre-training. Needs PyTorch (``pip install "mlearn-metric[torch]"``).
"""

# %%
# Gallery, queries and the network
# --------------------------------
# The gallery patches are the only images the pre-training sees (and their
# labels are not used); the query patches are held out.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from mlearn.datasets import load_textures
from mlearn.deep import SimCLR, SmallConvNet
from mlearn.features import DeepEmbedding
from mlearn.metrics import mean_average_precision_at_r
from mlearn.pairwise import kneighbors

textures = load_textures(patch_size=32, n_patches_per_image=64, random_state=0)
images = (textures.images / 255).astype(np.float32)[:, None]  # (192, 1, 32, 32)
gallery, queries, y_gallery, y_queries = train_test_split(
    images, textures.target, test_size=0.25, stratify=textures.target, random_state=0
)
torch.manual_seed(0)  # the network's initial weights
net = SmallConvNet(in_channels=1, embedding_dim=32)

# %%
# Pre-training
# ------------
# SimCLR with its defaults (NT-Xent at temperature 0.5, the default
# augmentations) for 20 epochs of batches of 64 patches; a few seconds on a
# CPU. ``net`` itself stays untrained: ``fit`` trains a copy.
simclr = SimCLR(net, max_iter=20, random_state=0, device="cpu").fit(gallery)
untrained = DeepEmbedding(net, device="cpu").fit(gallery)
print(
    f"NT-Xent loss: epoch 1 {simclr.objective_history_[0]:.3f}, "
    f"epoch {simclr.n_iter_} {simclr.objective_history_[-1]:.3f}"
)

# %%
# Retrieval quality
# -----------------
# MAP@R of the queries against the gallery: for each query, the precision at
# each rank up to R (the number of gallery patches of its texture), averaged
# over the ranks that hit its texture, then over the queries.
spaces = {}
scores = {}
for name, model in [("untrained", untrained), ("SimCLR", simclr)]:
    Q, G = model.transform(queries), model.transform(gallery)
    spaces[name] = (Q, G)
    scores[name] = mean_average_precision_at_r(
        Q, y_queries, reference=G, reference_labels=y_gallery
    )
    print(f"{name:>9}: MAP@R {scores[name]:.3f}")
map_before, map_after = scores["untrained"], scores["SimCLR"]

# %%
# Queries and their neighbours
# ----------------------------
# One query patch of each texture and its five nearest gallery patches, in
# the untrained network's embedding and in the pre-trained one (a red title
# marks a patch of another texture).
neighbours = {name: kneighbors(Q, G, n_neighbors=5)[1] for name, (Q, G) in spaces.items()}
shown = [int(np.flatnonzero(y_queries == label)[0]) for label in range(3)]

fig, axes = plt.subplots(2 * len(shown), 6, figsize=(8, 9.5))
for i, query in enumerate(shown):
    for j, (name, ind) in enumerate(neighbours.items()):
        row = axes[2 * i + j]
        row[0].imshow(queries[query, 0], cmap="gray", vmin=0, vmax=1)
        row[0].set_title(f"query ({textures.target_names[y_queries[query]]})", fontsize=8)
        row[0].set_ylabel(name, fontsize=8)
        for ax, index in zip(row[1:], ind[query]):
            ax.imshow(gallery[index, 0], cmap="gray", vmin=0, vmax=1)
            right = y_gallery[index] == y_queries[query]
            ax.set_title(
                textures.target_names[y_gallery[index]],
                color="black" if right else "red",
                fontsize=8,
            )
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
fig.tight_layout()
plt.show()
