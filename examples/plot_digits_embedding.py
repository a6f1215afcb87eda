"""
Digits in two dimensions: PCA against a learned metric
======================================================

A metric learner with ``n_components=2`` is also a supervised dimensionality
reduction: its ``transform`` maps each point to ``L x``, and the Euclidean
distance there is the learned Mahalanobis distance. Here NCA learns that map
on the handwritten digits (64 pixels, 10 classes) and is set beside PCA, which
keeps the two directions of largest variance and ignores the labels.
"""

# %%
# Fit both maps on a training split
# ---------------------------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import NCA

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
maps = {
    "PCA": make_pipeline(StandardScaler(), PCA(n_components=2)),
    "NCA": make_pipeline(StandardScaler(), NCA(n_components=2, random_state=0)),
}
for pipe in maps.values():
    pipe.fit(X_train, y_train)

# %%
# 3-NN accuracy in the plane
# --------------------------
# The held-out half is classified by its three nearest training points in
# each 2-D embedding: the learned map keeps the classes apart far better.
scores = {}
for name, pipe in maps.items():
    knn = KNeighborsClassifier(3).fit(pipe.transform(X_train), y_train)
    scores[name] = knn.score(pipe.transform(X_test), y_test)
    print(f"{name}: 3-NN accuracy in 2-D {scores[name]:.3f}")

# %%
# The held-out digits in each plane
# ---------------------------------
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, (name, pipe) in zip(axes, maps.items()):
    Z = pipe.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=8)
    ax.set_title(f"{name} (3-NN accuracy {scores[name]:.2f})")
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
plt.show()
