"""Which spread should ``feature_scaling`` divide by: the standard deviation or the range?

Both centre each feature and divide it by a spread, which makes a learner's
fit independent of the features' units and origin
(``mlearn/learners/_scaling.py``): 'standard' by its standard deviation,
'range' by its range times one factor common to all features (the rescaled
features' variances then average 1, as standardised features' do, so the
learners' margins, priors and defaults meet data of the scale they were set
for). They differ in the features' relative weights. The
default is chosen by a rule stated before measuring: **the setting with the
larger mean 3-NN accuracy over the classifying label learners and the four
bundled data sets (each pair weighted equally), on the selection shuffles**.
The selection shuffles are 10-fold stratified cross-validation shuffled with
``random_state`` 2 and 3; the held-out shuffles, reported beside them and
used by ``bench_preprocessing.py``, are 0 and 1. Each learner runs with its
other defaults (``random_state=0``) in
``make_pipeline(learner(feature_scaling=...), KNeighborsClassifier(3))`` on
the data as loaded (the setting makes a scaler in front irrelevant);
AngularMarginLearner is scored with cosine 3-NN. The learners are those of
``bench_preprocessing.py``.

Usage::

    python benchmarks/bench_feature_scaling_rule.py [--jobs 2]

writes ``results/feature_scaling_rule.{json,md}``.
"""

import argparse
import sys
import time
from pathlib import Path

import harness

if __name__ == "__main__":
    harness.one_thread_for_this_script(force=True)

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_preprocessing as bp  # noqa: E402
from harness import write_results  # noqa: E402

SETTINGS = ("standard", "range")
SELECTION_SHUFFLES = (2, 3)
HELD_OUT_SHUFFLES = (0, 1)
N_SPLITS = 10
TITLE = "feature_scaling: standard deviation or range, chosen on selection shuffles"
COLUMNS = [
    "learner",
    "dataset",
    *(f"selection_{s}" for s in SETTINGS),
    *(f"held_out_{s}" for s in SETTINGS),
    "failed",
]

# the configurations bench_preprocessing's cells run (set in every worker too,
# which imports this module)
for _setting in SETTINGS:
    bp.CONFIGURATIONS[_setting] = {"feature_scaling": _setting}


def run(datasets, n_jobs):
    cells = [
        (name, dataset, setting, "none", shuffles, N_SPLITS)
        for dataset in datasets
        for name in bp.learners_to_run()
        for setting in SETTINGS
        for shuffles in (SELECTION_SHUFFLES, HELD_OUT_SHUFFLES)
    ]
    size = {d: np.prod(bp._data(d)[0].shape) for d in datasets}
    order = sorted(range(len(cells)), key=lambda i: -size[cells[i][1]])
    done = {}

    def record(index, result, seconds):
        done[index] = result
        name, dataset, setting, _, shuffles = cells[index][:5]
        print(
            f"  [{len(done):3d}/{len(cells)}] {name:32s} {dataset:14s} {setting:9s} "
            f"shuffles {shuffles}  {bp._fmt_acc(result['accuracy'])}  ({seconds:.1f}s)",
            flush=True,
        )

    bp.run_cells(cells, order, n_jobs, record)

    rows = []
    for dataset in datasets:
        for name in bp.learners_to_run():
            row = {"learner": name, "dataset": dataset}
            for index, cell in enumerate(cells):
                if cell[0] == name and cell[1] == dataset:
                    part = "selection" if cell[4] == SELECTION_SHUFFLES else "held_out"
                    row[f"{part}_{cell[2]}"] = done[index]["accuracy"]
                    row.setdefault("failed", 0)
                    row["failed"] += done[index]["failed"]
            rows.append(row)
    return rows


def summary(rows):
    """Mean accuracy of each setting on each part, over every (learner, data set)."""
    out = {}
    for part in ("selection", "held_out"):
        for setting in SETTINGS:
            values = [row[f"{part}_{setting}"] for row in rows]
            out[f"{part}_{setting}"] = (
                None if any(v is None for v in values) else float(np.mean(values))
            )
    out["chosen"] = max(SETTINGS, key=lambda s: out[f"selection_{s}"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    datasets = list(bp.DATASETS)
    rows = run(datasets, args.jobs)
    result = summary(rows)
    elapsed = time.perf_counter() - start
    per_dataset = []
    for dataset in datasets:
        part = [row for row in rows if row["dataset"] == dataset]
        per_dataset.append(
            f"{dataset}: "
            + ", ".join(
                f"{setting} {np.mean([r[f'selection_{setting}'] for r in part]):.4f} / "
                f"{np.mean([r[f'held_out_{setting}'] for r in part]):.4f}"
                for setting in SETTINGS
            )
        )
    notes = (
        "Rule, stated before measuring: the default feature_scaling is the setting with "
        "the larger mean 3-NN accuracy over every (learner, data set) pair on the "
        f"selection shuffles {SELECTION_SHUFFLES} (10-fold stratified CV each). "
        f"Mean over the {len(rows)} pairs, selection / held-out shuffles "
        f"{HELD_OUT_SHUFFLES}: "
        + ", ".join(
            f"{s} {result[f'selection_{s}']:.4f} / {result[f'held_out_{s}']:.4f}" for s in SETTINGS
        )
        + f". Chosen: {result['chosen']!r}. Per data set (selection / held-out means): "
        + "; ".join(per_dataset)
        + f". Learners: {', '.join(bp.learners_to_run())}; each fitted on the data as "
        "loaded, then KNeighborsClassifier(3) (cosine for AngularMarginLearner). "
        f"{args.jobs} worker processes of one thread; the run took "
        f"{elapsed / 60:.1f} minutes. Command: "
        "`python benchmarks/bench_feature_scaling_rule.py`"
    )
    print(notes)
    write_results(
        "feature_scaling_rule",
        rows,
        title=TITLE,
        notes=notes,
        columns=COLUMNS,
    )


if __name__ == "__main__":
    main()
