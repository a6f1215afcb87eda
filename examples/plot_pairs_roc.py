"""
Pair verification: ROC curve and a calibrated threshold
=======================================================

A pairs learner answers "same class or not?" for two points: ``predict``
says similar (+1) when the learned distance is at most ``threshold_``.
ITML learns the metric from labelled pairs of digits; ``calibrate_threshold``
then picks the threshold on separate validation pairs, and the ROC curve on
test pairs shows where that threshold operates.
"""

# %%
# Pairs from three disjoint sets of digits
# ----------------------------------------
# :class:`mlearn.Constraints` draws similar (+1) and dissimilar (-1) pairs of
# indices from class labels; each split draws its pairs among its own points.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_curve
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from mlearn import ITML, Constraints
from mlearn.metrics import pair_roc_auc
from mlearn.plotting import plot_roc

X, labels = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
train, rest = train_test_split(np.arange(len(X)), test_size=0.5, random_state=0)
valid, test = train_test_split(rest, test_size=0.5, random_state=0)


def labelled_pairs(points, n, seed):
    index, y = Constraints(labels[points]).pairs(n, random_state=seed)
    return X[points][index], y


train_pairs, y_train = labelled_pairs(train, 400, 0)
valid_pairs, y_valid = labelled_pairs(valid, 200, 1)
test_pairs, y_test = labelled_pairs(test, 200, 2)

# %%
# Learn the metric, then choose the threshold
# -------------------------------------------
itml = ITML(gamma=1.0).fit(train_pairs, y_train)
itml.calibrate_threshold(valid_pairs, y_valid, strategy="accuracy")
print(f"threshold_ = {itml.threshold_:.3f}")
accuracy = np.mean(itml.predict(test_pairs) == y_test)
print(
    f"test pairs: ROC AUC {itml.score(test_pairs, y_test):.3f}, "
    f"accuracy at the threshold {accuracy:.3f}"
)

# %%
# ROC curves on the test pairs
# ----------------------------
# The Euclidean distance between the standardised pixels is the baseline. The
# dot is the calibrated threshold's false and true positive rates on the test
# pairs.
ax = plot_roc(itml, test_pairs, y_test, label="ITML")
euclidean = np.linalg.norm(test_pairs[:, 0] - test_pairs[:, 1], axis=1)
fpr, tpr, _ = roc_curve(y_test, -euclidean)
ax.plot(fpr, tpr, label=f"Euclidean (AUC {pair_roc_auc(y_test, -euclidean):.3f})")
predicted = itml.predict(test_pairs)
ax.plot(
    np.mean(predicted[y_test == -1] == 1),
    np.mean(predicted[y_test == 1] == 1),
    "ko",
    label="calibrated threshold",
)
ax.legend(loc="lower right")
plt.show()
