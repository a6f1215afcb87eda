"""
Tuning a learner with GridSearchCV
==================================

Every mlearn learner is a scikit-learn estimator, so its parameters are tuned
like any other step of a pipeline. Here a grid search picks LMNN's
``n_components`` and ``regularization`` for a 3-NN classifier on the wine
data by cross-validated accuracy, and the chosen pipeline's test accuracy is
set beside the Euclidean 3-NN's. (Any scikit-learn scorer works as well, for
example MAP@R on the embedding with
:func:`mlearn.metrics.make_retrieval_scorer`.)
"""

# %%
# The pipeline and the grid
# -------------------------
import matplotlib.pyplot as plt
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import LMNN

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
pipe = make_pipeline(
    StandardScaler(), LMNN(n_neighbors=3, random_state=0), KNeighborsClassifier(3)
)
grid = {
    "lmnn__n_components": [2, 4, 8, 13],
    "lmnn__regularization": [0.3, 0.7],
}
search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0))
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)
print(f"cross-validated accuracy {search.best_score_:.3f}")

# %%
# Against the Euclidean 3-NN on the held-out test set
# ---------------------------------------------------
baseline = make_pipeline(StandardScaler(), KNeighborsClassifier(3)).fit(X_train, y_train)
print(
    f"test accuracy: Euclidean {baseline.score(X_test, y_test):.3f}, "
    f"tuned LMNN {search.score(X_test, y_test):.3f}"
)

# %%
# The cross-validated score over the grid
# ---------------------------------------
scores = search.cv_results_["mean_test_score"].reshape(
    len(grid["lmnn__n_components"]), len(grid["lmnn__regularization"])
)
fig, ax = plt.subplots(figsize=(5, 3.5))
for j, regularization in enumerate(grid["lmnn__regularization"]):
    ax.plot(
        grid["lmnn__n_components"], scores[:, j], "o-", label=f"regularization={regularization}"
    )
ax.set_xlabel("n_components")
ax.set_ylabel("3-NN accuracy (3-fold CV)")
ax.set_xticks(grid["lmnn__n_components"])
ax.legend()
fig.tight_layout()
plt.show()
