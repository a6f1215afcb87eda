"""Run the shared protocol on a metric-learn 0.7 learner (reference environment).

Reads one JSON document on standard input::

    {"learner": "LMNN", "params": {"n_neighbors": 3}, "datasets": ["iris"],
     "n_splits": 5, "skip_failed_folds": false, "cv_random_state": 0}

(``cv_random_state``, optional, shuffles the folds differently; 0 is the
shared protocol's split)

and prints one JSON document: a list of ``protocol.evaluate`` results, one per
dataset, each with an ``error`` string instead when metric-learn fails on it.
Runs with ``harness.run_reference`` (the environment from
``harness.ensure_reference_env``).
"""

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import metric_learn  # noqa: E402
from protocol import evaluate  # noqa: E402


def main():
    request = json.load(sys.stdin)
    cls = getattr(metric_learn, request["learner"])
    params = request.get("params", {})
    results = []
    for dataset in request["datasets"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                row = evaluate(
                    lambda: cls(**params),
                    dataset,
                    n_splits=request.get("n_splits", 5),
                    skip_failed_folds=request.get("skip_failed_folds", False),
                    random_state=request.get("cv_random_state", 0),
                )
            except Exception as exc:  # a failing reference is a result too
                row = {"dataset": dataset, "error": f"{type(exc).__name__}: {exc}"[:500]}
        results.append(row)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
