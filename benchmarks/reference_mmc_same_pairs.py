"""Fit metric-learn 0.7's MMC on given pairs (reference environment).

Reads one JSON document on standard input::

    {"files": ["/tmp/fold0.npz", ...], "diagonal": false}

Each file holds ``pairs`` (n_pairs, 2, n_features) and ``labels`` (+1/-1).
Prints one JSON document: for each file, the learned Mahalanobis matrix and
the fit time in seconds. Runs with ``harness.run_reference``.
"""

import json
import sys
import time
import warnings

import numpy as np
from metric_learn import MMC


def main():
    request = json.load(sys.stdin)
    results = []
    for path in request["files"]:
        data = np.load(path)
        learner = MMC(diagonal=request["diagonal"], random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            learner.fit(data["pairs"], data["labels"])
            elapsed = time.perf_counter() - start
        results.append({"M": learner.get_mahalanobis_matrix().tolist(), "fit_s": elapsed})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
