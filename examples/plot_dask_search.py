"""
Embedding and searching a dask array
====================================

Give a :class:`dask.array.Array` where a NumPy array goes and mlearn builds a
lazy graph: a fitted learner's ``transform`` maps the data block by block,
and :func:`mlearn.pairwise.kneighbors` searches a gallery block by block,
with the in-memory result to the bit. Here the digits play a large data set
stored in a zarr store of 300-row chunks, and a ``LocalCluster`` computes.
The same code runs on a real cluster with
``Client("tcp://scheduler-host:8786")`` (see the "Scaling out" page).
"""

# %%
# A cluster and data on disk
# --------------------------
import os
import tempfile

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits

from mlearn import NCA
from mlearn.pairwise import kneighbors

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
client = Client(cluster)

X, y = load_digits(return_X_y=True)
X = X / 16
store = os.path.join(tempfile.mkdtemp(), "digits.zarr")
da.from_array(X, chunks=300).to_zarr(store)
points = da.from_zarr(store)
print(points)

# %%
# Fit on a sample, transform everything lazily
# --------------------------------------------
# The learner is fitted on what fits in memory (here 600 labelled digits);
# its ``transform`` of the dask array reads nothing until it is computed.
nca = NCA(n_components=16, max_iter=30, random_state=0).fit(X[:600], y[:600])
embedded = nca.transform(points)
print(type(embedded).__name__, embedded.chunks)

# %%
# Search the gallery block by block
# ---------------------------------
# Each block answers the queries with its own five nearest points; only those
# travel between tasks and are merged. The result equals the in-memory search.
queries, gallery = embedded[:12], embedded[600:]
dist, ind = dask.compute(*kneighbors(queries, gallery, n_neighbors=5))
in_memory = kneighbors(nca.transform(X[:12]), nca.transform(X[600:]), n_neighbors=5)
print("same as in memory:", np.array_equal(ind, in_memory[1]))

# %%
# Queries and the gallery digits found for them
# ---------------------------------------------
fig, axes = plt.subplots(4, 6, figsize=(6, 4.4))
for row, query in zip(axes, range(4)):
    row[0].imshow(X[query].reshape(8, 8), cmap="gray_r")
    row[0].set_title("query", fontsize=9)
    for ax, index in zip(row[1:], ind[query]):
        ax.imshow(X[600 + index].reshape(8, 8), cmap="gray_r")
        ax.set_title(f"{y[600 + index]}", fontsize=9)
    for ax in row:
        ax.set_axis_off()
fig.tight_layout()
plt.show()

client.close()
cluster.close()
