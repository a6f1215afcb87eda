"""Deep training (``mlearn.deep``): self-supervised pre-training and metric losses.

Three parts, on the CPU with one thread:

1. ``self-supervised``: a :class:`~mlearn.deep.SmallConvNet` pre-trained with
   SimCLR, MoCo, BYOL and RotationPrediction against the same network at its
   random initialisation (and the raw pixels), on the 1,797 digits (8 x 8,
   scaled to [0, 1]) and on texture patches of
   :func:`mlearn.datasets.load_textures` (32 x 32, scaled to [0, 1]).
   Pre-training uses no labels and runs once on all the images of a data set
   (the usual evaluation of self-supervised methods: the labels, which only
   the probes see, never reach the pre-training). The embeddings are then
   scored by 5-fold stratified cross-validation (shuffled, ``random_state=0``):
   a linear probe (``LogisticRegression`` on standardised embeddings, fitted
   on the training folds) and 3-NN accuracy (Euclidean, on the embeddings as
   they are). Target: each of SimCLR, MoCo and BYOL above the random
   network on both scores; RotationPrediction is reported, not a target.
2. ``open-set retrieval``: :class:`~mlearn.deep.DeepMetricLearner` trained on
   70 % of the digits of some classes (0-4, and the swapped split 5-9) with
   each supervised loss, scored by MAP@R
   (:func:`mlearn.metrics.mean_average_precision_at_r`, leave-one-out) of the
   digits of the other classes (and, as a check of the training, of the other
   30 % of the training classes' digits), against the frozen network (the same
   initialisation, unit-norm embeddings as the learner's) and the raw pixels.
   Several seeds (the seed draws the initial network, the 70/30 draw and the
   learner's ``random_state``). Each loss runs twice: with early stopping
   (``validation_split='classes'``: MAP@R of 2 of the 5 training classes,
   held out from training, decides when to stop and which epoch to keep; the
   evaluation classes reach neither training nor stopping) and without it
   (``max_iter`` epochs, or fewer when the training loss stalls). Target:
   arcface and triplet with early stopping above the frozen network.
3. ``open-set retrieval on image patches``: 32 x 32 grey patches (floats in
   [0, 1]) of the 18 images that ship inside scikit-image (``skimage.data``,
   no download), the class of a patch being its source image. For seeds 0-4,
   a seeded permutation of the images puts 9 of them in training and 9 in
   the evaluation; DeepMetricLearner trains on 70 % of the training images'
   patches with each loss at its defaults (``max_iter=10`` epochs, no early
   stopping; a second row with ``early_stopping=True,
   validation_split='classes', validation_fraction=0.3``, i.e. 3 of the 9
   training images are held out), and is scored by MAP@R among the patches of
   the 9 other images (never seen in training), against the frozen network
   and the raw pixels; the other 30 % of the training images' patches give
   the closed-set check. Target: arcface and triplet at their defaults
   (without early stopping) above the frozen network, mean over the 5
   splits.
4. ``determinism``: two fits with the same ``random_state`` give identical
   embeddings (SimCLR and DeepMetricLearner).

Every estimator keeps its default hyper-parameters; only the budget (epochs,
``max_iter``) and, in parts 2 and 3, the early-stopping protocol are set, and
``batch_size`` stays 64. Nothing is tuned on the
evaluation folds or the held-out classes.

Usage::

    python benchmarks/bench_deep.py [--quick] [--device cpu] [--only image-patches]

The full run takes about seven minutes on two shared CPU cores; ``--quick``
(a smoke run of under a minute) cuts the epochs, seeds and
texture patches and writes ``results/deep_quick.*``; the full run writes
``results/deep.json`` and ``results/deep.md`` and rewrites the tables of
``docs/user_guide/deep_training.rst``. ``--only image-patches`` runs part 3
alone (under two minutes) and merges it into the existing results file,
which keeps the other parts as they were measured.
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

# one thread when run as a script (a test importing a helper from here keeps
# its own settings); set before NumPy loads
import harness

if __name__ == "__main__":
    harness.one_thread_for_this_script()

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import RESULTS_DIR, _fmt, environment

from mlearn.datasets import IMAGE_NAMES, load_image_patches, load_textures
from mlearn.deep import BYOL, DeepMetricLearner, MoCo, RotationPrediction, SimCLR, SmallConvNet
from mlearn.features import DeepEmbedding
from mlearn.metrics import mean_average_precision_at_r

SSL_METHODS = {
    "SimCLR": SimCLR,
    "MoCo": MoCo,
    "BYOL": BYOL,
    "RotationPrediction": RotationPrediction,
}
SSL_TARGETS = ("SimCLR", "MoCo", "BYOL")
LOSSES = ("arcface", "triplet", "contrastive", "margin_ranking", "normface", "cosface", "softmax")
LOSS_TARGETS = ("arcface", "triplet")
SPLITS = {"train 0-4, query 5-9": (0, 1, 2, 3, 4), "train 5-9, query 0-4": (5, 6, 7, 8, 9)}
EMBEDDING_DIM = 32
# open set: early stopping on MAP@R of 2 of the 5 training classes, held out
# from training; the evaluation classes reach neither training nor stopping
EARLY_STOPPING = {
    "early_stopping": True,
    "validation_split": "classes",
    "validation_fraction": 0.4,
}
STOPPING_SUFFIX = ", early stopping"
# each loss with early stopping (the protocol; the target rows) and without
LEARNERS = [(loss, stopping) for loss in LOSSES for stopping in (True, False)]


def _learner_name(loss, stopping):
    return f"DeepMetricLearner({loss})" + (STOPPING_SUFFIX if stopping else "")


IMAGE_PATCH_SIZE = 32
IMAGE_SPLIT = "9 of 18 images train, 9 query"
# image patches: 3 of the 9 training images held out to decide when to stop
IMAGE_EARLY_STOPPING = {
    "early_stopping": True,
    "validation_split": "classes",
    "validation_fraction": 0.3,
}
# image patches: every loss at its defaults (max_iter=10), the target rows, and
# with early stopping on held-out images
IMAGE_LEARNERS = [(loss, stopping) for loss in LOSSES for stopping in (False, True)]

FULL = {
    "ssl_epochs": 30,
    "metric_epochs": 30,
    "seeds": (0, 1, 2, 3, 4),
    "patches": 128,
    "image_patches_per_image": 50,
    "image_epochs": None,  # DeepMetricLearner's default, max_iter=10
}
QUICK = {
    "ssl_epochs": 2,
    "metric_epochs": 3,
    "seeds": (0, 1),
    "patches": 32,
    "image_patches_per_image": 12,
    "image_epochs": 2,
}


def digits():
    data = load_digits()
    return (data.images / 16).astype(np.float32)[:, None], data.target


def textures(n_patches):
    images, target = load_textures(
        patch_size=32, n_patches_per_image=n_patches, random_state=0, return_X_y=True
    )
    return (images / 255).astype(np.float32)[:, None], target


def image_patches(n_per_image, patch_size=IMAGE_PATCH_SIZE):
    """Grey patches of scikit-image's bundled images, labelled by image, in [0, 1]."""
    images, target = load_image_patches(patch_size, n_per_image, random_state=0, return_X_y=True)
    return (images / 255).astype(np.float32)[:, None], target


def network(seed):
    """The initial network of a seed (the estimators copy it; it is not trained)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SmallConvNet(embedding_dim=EMBEDDING_DIM)


def cv_scores(Z, y, n_splits=5):
    """Linear-probe and 3-NN accuracies of each fold of a stratified CV."""
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=0).split(Z, y)
    probe, knn = [], []
    for train, test in folds:
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.append(clf.fit(Z[train], y[train]).score(Z[test], y[test]))
        neighbours = KNeighborsClassifier(n_neighbors=3).fit(Z[train], y[train])
        knn.append(neighbours.score(Z[test], y[test]))
    return np.array(probe), np.array(knn)


def self_supervised(budget, device):
    datasets = {
        "digits 8x8": digits(),
        f"textures 32x32 ({3 * budget['patches']} patches)": textures(budget["patches"]),
    }
    rows = []
    for name, (X, y) in datasets.items():
        net = network(0)
        embeddings = {
            "pixels": (X.reshape(len(X), -1), 0.0, 0),
            "random network": (
                DeepEmbedding(copy.deepcopy(net), device=device).fit_transform(X),
                0.0,
                0,
            ),
        }
        for method, cls in SSL_METHODS.items():
            start = time.perf_counter()
            estimator = cls(net, max_iter=budget["ssl_epochs"], random_state=0, device=device)
            estimator.fit(X)
            elapsed = time.perf_counter() - start
            embeddings[method] = (estimator.transform(X), elapsed, estimator.n_iter_)
        for method, (Z, elapsed, epochs) in embeddings.items():
            probe, knn = cv_scores(Z, y)
            rows.append(
                {
                    "data": name,
                    "embedding": method,
                    "linear_probe": float(probe.mean()),
                    "linear_probe_std": float(probe.std()),
                    "knn3": float(knn.mean()),
                    "knn3_std": float(knn.std()),
                    "fit_time_s": elapsed,
                    "epochs_run": epochs,
                }
            )
            print(rows[-1], flush=True)
    for row in rows:
        if row["embedding"] in SSL_TARGETS:
            base = next(
                r for r in rows if r["data"] == row["data"] and r["embedding"] == "random network"
            )
            met = row["linear_probe"] > base["linear_probe"] and row["knn3"] > base["knn3"]
            row["target_met"] = "yes" if met else "no"
    return rows


def open_set(budget, device):
    X, y = digits()
    rows = []
    for split, train_classes in SPLITS.items():
        draws = {seed: np.isin(y, train_classes) for seed in budget["seeds"]}
        rows += _open_set_rows(
            X,
            y,
            split,
            draws,
            LEARNERS,
            {"max_iter": budget["metric_epochs"]},
            EARLY_STOPPING,
            target_with_stopping=True,
            device=device,
        )
    return rows


def open_set_images(budget, device):
    """Open-set retrieval among patches of images not seen in training."""
    X, y = image_patches(budget["image_patches_per_image"])
    n_images = len(IMAGE_NAMES)
    draws = {}
    for seed in budget["seeds"]:
        train_images = np.random.RandomState(seed).permutation(n_images)[: n_images // 2]
        draws[seed] = np.isin(y, train_images)
    epochs = budget["image_epochs"]
    return _open_set_rows(
        X,
        y,
        IMAGE_SPLIT,
        draws,
        IMAGE_LEARNERS,
        {} if epochs is None else {"max_iter": epochs},
        IMAGE_EARLY_STOPPING,
        target_with_stopping=False,
        device=device,
    )


def _open_set_rows(
    X, y, split, draws, learners, params, stopping_params, *, target_with_stopping, device
):
    """MAP@R of unseen and of held-out seen classes, mean ± std over the draws.

    ``draws`` maps a seed to the mask of the training classes' samples.
    """
    results = {}
    for seed, in_training in draws.items():
        seen = np.flatnonzero(in_training)
        unseen = np.flatnonzero(~in_training)
        # 70 % of the seen classes' samples train; the other 30 % check that
        # training worked (closed set); the unseen classes are the open set
        train, held_out = train_test_split(
            seen, test_size=0.3, stratify=y[seen], random_state=seed
        )
        embedders = {
            "pixels": lambda Z: Z.reshape(len(Z), -1),
            "frozen network": DeepEmbedding(network(seed), normalize=True, device=device)
            .fit(X[train])
            .transform,
        }
        for loss, stopping in learners:
            learner = DeepMetricLearner(
                network(seed),
                loss=loss,
                random_state=seed,
                device=device,
                **params,
                **(stopping_params if stopping else {}),
            )
            start = time.perf_counter()
            learner.fit(X[train], y[train])
            elapsed = time.perf_counter() - start
            name = _learner_name(loss, stopping)
            results.setdefault(name, []).append((elapsed, learner.n_iter_))
            embedders[name] = learner.transform
        for name, embed in embedders.items():
            scores = results.setdefault(f"{name} scores", [])
            scores.append(
                (
                    mean_average_precision_at_r(embed(X[unseen]), y[unseen]),
                    mean_average_precision_at_r(embed(X[held_out]), y[held_out]),
                )
            )
    rows = []
    base = None
    for name in [
        "pixels",
        "frozen network",
        *(_learner_name(loss, stopping) for loss, stopping in learners),
    ]:
        unseen_scores, seen_scores = np.array(results[f"{name} scores"]).T
        fits = results.get(name, [(0.0, 0)])
        row = {
            "split": split,
            "embedding": name,
            "map_at_r": float(np.mean(unseen_scores)),
            "map_at_r_std": float(np.std(unseen_scores)),
            "map_at_r_seen": float(np.mean(seen_scores)),
            "map_at_r_seen_std": float(np.std(seen_scores)),
            "fit_time_s": float(np.mean([t for t, _ in fits])),
            "epochs_run": _span([n for _, n in fits]),
        }
        if name == "frozen network":
            base = row["map_at_r"]
        loss = name[len("DeepMetricLearner(") :].split(")")[0] if "(" in name else None
        if loss in LOSS_TARGETS and name.endswith(STOPPING_SUFFIX) == target_with_stopping:
            row["target_met"] = "yes" if row["map_at_r"] > base else "no"
        rows.append(row)
        print(row, flush=True)
    return rows


def determinism(device):
    X, y = digits()
    X, y = X[:256], y[:256]
    rows = []
    for name, make in {
        "SimCLR": lambda: SimCLR(network(0), max_iter=2, random_state=0, device=device),
        "DeepMetricLearner(arcface)": lambda: DeepMetricLearner(
            network(0), loss="arcface", max_iter=2, random_state=0, device=device
        ),
    }.items():
        first = make().fit(X, y).transform(X)
        second = make().fit(X, y).transform(X)
        rows.append(
            {
                "estimator": name,
                "identical": bool(np.array_equal(first, second)),
                "max_abs_difference": float(np.abs(first - second).max()),
            }
        )
        print(rows[-1], flush=True)
    return rows


def _trained(row, text):
    """``text``, or a dash for an embedding that is not trained."""
    return "—" if str(row["epochs_run"]) == "0" else text


def _span(values):
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _table(rows, columns):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    return lines


def _retrieval_view(rows):
    return [
        {
            **r,
            "MAP@R unseen classes": f"{r['map_at_r']:.3f} ± {r['map_at_r_std']:.3f}",
            "MAP@R seen classes": f"{r['map_at_r_seen']:.3f} ± {r['map_at_r_seen_std']:.3f}",
            "fit time (s)": _trained(r, f"{r['fit_time_s']:.1f}"),
            "epochs_run": _trained(r, str(r["epochs_run"])),
        }
        for r in rows
    ]


RETRIEVAL_COLUMNS = [
    "split",
    "embedding",
    "MAP@R unseen classes",
    "MAP@R seen classes",
    "fit time (s)",
    "epochs_run",
    "target_met",
]


def _score(rows, embedding, split=None):
    return next(
        r["map_at_r"]
        for r in rows
        if r["embedding"] == embedding and (split is None or r["split"] == split)
    )


def transfer_summary(open_rows, image_rows, n_image_splits):
    """One sentence per data set: do the target losses beat the frozen network?"""

    def verdict(rows):
        met = [r["target_met"] == "yes" for r in rows if "target_met" in r]
        return "do" if all(met) else ("do not" if not any(met) else "only partly")

    splits = list(dict.fromkeys(r["split"] for r in open_rows))

    def per_split(embedding):
        return " / ".join(f"{_score(open_rows, embedding, s):.3f}" for s in splits)

    digits_text = (
        f"On digits (5 training classes) the trained networks {verdict(open_rows)} "
        "transfer to the unseen classes: with early stopping, ArcFace "
        f"{per_split(_learner_name('arcface', True))} and the triplet loss "
        f"{per_split(_learner_name('triplet', True))} against the frozen network's "
        f"{per_split('frozen network')} (MAP@R, the two splits)."
    )
    if not image_rows:
        return digits_text
    return digits_text + (
        f" On image patches (9 training images) they {verdict(image_rows)}: at their "
        f"defaults, ArcFace {_score(image_rows, _learner_name('arcface', False)):.3f} and "
        f"the triplet loss {_score(image_rows, _learner_name('triplet', False)):.3f} "
        f"against the frozen network's {_score(image_rows, 'frozen network'):.3f} "
        "(MAP@R among the patches of the 9 other images, mean over "
        f"{n_image_splits} splits)."
    )


def _measured(env):
    return (
        ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("date", "torch", "device"))
        + f", torch {env['torch']} ({env['date']})"
    )


def markdown(payload):
    budget = payload["budget"]
    env = payload["environment"]
    ssl_view = [
        {
            **r,
            "linear probe": f"{r['linear_probe']:.3f} ± {r['linear_probe_std']:.3f}",
            "3-NN": f"{r['knn3']:.3f} ± {r['knn3_std']:.3f}",
            "fit time (s)": _trained(r, f"{r['fit_time_s']:.1f}"),
            "epochs_run": _trained(r, str(r["epochs_run"])),
        }
        for r in payload["self_supervised"]
    ]
    open_rows = payload["open_set"]
    image_rows = payload.get("open_set_images", [])
    n_seeds = len(budget["seeds"])
    lines = [
        "# mlearn.deep: self-supervised pre-training and deep metric losses",
        "",
        f"Produced by `{payload['command']}` (device {env['device']}, torch {env['torch']}, "
        "1 torch thread).",
        "",
        "## Self-supervised pre-training against the random network",
        "",
        *_table(
            ssl_view,
            [
                "data",
                "embedding",
                "linear probe",
                "3-NN",
                "fit time (s)",
                "epochs_run",
                "target_met",
            ],
        ),
        "",
        f"SmallConvNet(embedding_dim={EMBEDDING_DIM}) (width 16, depth 3, batch normalisation; "
        "one initialisation, seed 0, shared by every row), pre-trained without labels for "
        f"max_iter={budget['ssl_epochs']} epochs (batch_size 64, every other parameter at its "
        "default, random_state=0) once on all the images of the data set; epochs_run: the "
        "epochs run (n_iter_), fewer when the default stopping rule (training loss not "
        "improved by tol=1e-4 for n_iter_no_change=5 epochs) ended the fit. Scores: mean ± "
        "std over 5 stratified folds (shuffled, random_state=0) of the accuracy of a "
        "linear probe (StandardScaler + LogisticRegression fitted on the training folds' "
        "embeddings) and of 3-NN (Euclidean on the embeddings). 'pixels' are the raw "
        "pixels; 'random network' the network before training. Fit time: one "
        "pre-training. Target: SimCLR, MoCo and BYOL above the random network on both "
        "scores; RotationPrediction is reported, not a target.",
        "",
        "## Open-set retrieval: does what is learned transfer to unseen classes?",
        "",
        transfer_summary(open_rows, image_rows, n_seeds),
        "",
        "## Open-set retrieval on digits: MAP@R of classes not seen in training",
        "",
        *_table(_retrieval_view(open_rows), RETRIEVAL_COLUMNS),
        "",
        "DeepMetricLearner trained on 70 % of the digits of the training classes "
        "(stratified draw, random_state=seed) for "
        f"at most max_iter={budget['metric_epochs']} epochs (batch_size 64, default margin, "
        "scale and mining of each loss; epochs_run: the range of n_iter_ over the seeds). "
        "Rows marked 'early stopping': early_stopping=True, validation_split='classes', "
        "validation_fraction=0.4, i.e. 2 of the 5 training classes (drawn with "
        "random_state) are held out of training and their MAP@R after each epoch decides "
        "when to stop (5 epochs without improvement) and which epoch's weights to keep; the "
        "other 3 classes train. Rows without it train on all 5 classes until max_iter or "
        "until the training loss stalls (tol=1e-4, n_iter_no_change=5). "
        "MAP@R unseen classes: leave-one-out MAP@R (Euclidean on the unit-norm embeddings) "
        "among all the digits of the other classes, none of which was seen in training "
        "(the open-set score). MAP@R seen classes: the same among the other 30 % of the "
        "training classes' digits (new digits of known classes; shows what training "
        f"achieved). Mean ± std over {n_seeds} seeds (seed s: the network's "
        "initialisation, the 70/30 draw and random_state=s); 'frozen network' is the same "
        "initialisation untrained, with unit-norm embeddings; 'pixels' the raw 64 pixels; "
        "fit time: mean seconds per fit. Target: "
        "arcface and triplet with early stopping above the frozen network.",
        "",
    ]
    if image_rows:
        epochs = budget.get("image_epochs")
        budget_text = (
            "max_iter=10 epochs, the default"
            if epochs is None
            else f"max_iter={epochs} epochs (a smoke run)"
        )
        lines += [
            "## Open-set retrieval on image patches: MAP@R of images not seen in training",
            "",
            *_table(_retrieval_view(image_rows), RETRIEVAL_COLUMNS),
            "",
            f"{budget['image_patches_per_image']} grey patches of "
            f"{IMAGE_PATCH_SIZE}×{IMAGE_PATCH_SIZE} pixels (scaled to [0, 1]) from each "
            "of the 18 images bundled with scikit-image "
            f"(`load_image_patches(random_state=0)`: {', '.join(IMAGE_NAMES)}; colour "
            "images in grey levels, non-overlapping grid tiles drawn at random); the "
            "class of a patch is its image. Split s (s = "
            f"{', '.join(str(seed) for seed in budget['seeds'])}): RandomState(s) permutes "
            "the images, the first 9 are the training images, the other 9 the query "
            "images. DeepMetricLearner(SmallConvNet(embedding_dim=32)) is trained on 70 % "
            "of the training images' patches (stratified draw, random_state=s) with every "
            f"parameter of each loss at its default ({budget_text}, batch_size 64, no "
            "early stopping; the training loss may end it sooner: tol=1e-4, "
            "n_iter_no_change=5). Rows marked 'early stopping': early_stopping=True, "
            "validation_split='classes', validation_fraction=0.3, i.e. 3 of the 9 "
            "training images are held out of training and their patches' MAP@R picks "
            "the epoch. MAP@R unseen classes: leave-one-out MAP@R among all the patches "
            "of the 9 query images, none of which was seen in training or in early "
            "stopping. MAP@R seen classes: the same among the other 30 % of the "
            "training images' patches (the closed-set check). Mean ± std over the "
            f"{len(budget['seeds'])} splits; 'frozen network' is the same initialisation "
            "untrained, with unit-norm embeddings (DeepEmbedding(normalize=True)); "
            f"'pixels' the raw {IMAGE_PATCH_SIZE * IMAGE_PATCH_SIZE} pixels. No "
            "parameter was chosen on the query images. Target: arcface and triplet "
            "at their defaults (without early stopping) above the frozen network.",
            "",
        ]
    lines += [
        "## Determinism",
        "",
        *_table(payload["determinism"], ["estimator", "identical", "max_abs_difference"]),
        "",
        "Two fits with random_state=0 on the first 256 digits (2 epochs), embeddings "
        "compared bit for bit.",
        "",
        f"Measured on {_measured(env)}.",
    ]
    image_run = payload.get("image_patches_run")
    if image_rows and image_run and image_run["command"] != payload["command"]:
        lines += [
            "",
            f"The image-patch part was added by `{image_run['command']}` (merged into the "
            "results above, which it leaves as they were), measured on "
            f"{_measured(image_run['environment'])}.",
        ]
    return "\n".join(lines) + "\n"


DOCS_PAGE = HERE.parent / "docs" / "user_guide" / "deep_training.rst"
START, END = ".. benchmark table start", ".. benchmark table end"


def _list_table(title, header, body):
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *body]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return lines


def _retrieval_table(title, rows, split=True):
    header = ["embedding", "MAP@R, unseen classes", "MAP@R, seen classes", "fit time (s)"]
    header += ["epochs"]
    body = [
        [
            r["embedding"],
            f"{r['map_at_r']:.3f} ± {r['map_at_r_std']:.3f}",
            f"{r['map_at_r_seen']:.3f} ± {r['map_at_r_seen_std']:.3f}",
            _trained(r, f"{r['fit_time_s']:.1f}"),
            _trained(r, str(r["epochs_run"])),
        ]
        for r in rows
    ]
    if split:
        header = ["split", *header]
        body = [[r["split"], *cells] for r, cells in zip(rows, body)]
    return _list_table(title, header, body)


def rst_tables(payload):
    """The benchmark tables of the user-guide page, as RST list-tables."""
    ssl = _list_table(
        "Self-supervised pre-training: accuracy of probes on the embeddings",
        ["data", "embedding", "linear probe", "3-NN", "fit time (s)", "epochs"],
        [
            [
                r["data"],
                r["embedding"],
                f"{r['linear_probe']:.3f} ± {r['linear_probe_std']:.3f}",
                f"{r['knn3']:.3f} ± {r['knn3_std']:.3f}",
                _trained(r, f"{r['fit_time_s']:.1f}"),
                _trained(r, str(r["epochs_run"])),
            ]
            for r in payload["self_supervised"]
        ],
    )
    lines = [*ssl, ""]
    n_splits = len(payload["budget"]["seeds"])
    if payload.get("open_set_images"):
        lines += [
            *_retrieval_table(
                "Open-set retrieval on image patches: MAP@R of images not seen in training "
                f"(9 training images, 9 query images; mean over {n_splits} splits)",
                payload["open_set_images"],
                split=False,
            ),
            "",
        ]
    lines += _retrieval_table(
        "Open-set retrieval on digits: MAP@R of classes not seen in training",
        payload["open_set"],
    )
    return "\n".join(line.rstrip() for line in lines)


def update_docs(payload):
    """Rewrite the tables between the markers of the user-guide page."""
    text = DOCS_PAGE.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOCS_PAGE.write_text(head + START + "\n\n" + rst_tables(payload) + "\n\n" + END + tail)


def _budget(budget):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in budget.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets (smoke test)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument(
        "--only",
        choices=["image-patches"],
        help="run only this part and merge it into the existing results file",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    budget = QUICK if args.quick else FULL
    start = time.perf_counter()
    command = "python benchmarks/bench_deep.py" + " ".join(
        [""]
        + (["--quick"] if args.quick else [])
        + ([f"--device {args.device}"] if args.device != "cpu" else [])
        + ([f"--only {args.only}"] if args.only else [])
    )
    name = "deep_quick" if args.quick else "deep"
    env = {**environment(), "torch": torch.__version__, "device": args.device}
    path = RESULTS_DIR / f"{name}.json"
    if args.only:
        payload = json.loads(path.read_text())
        if payload["environment"]["device"] != args.device:
            raise SystemExit(f"{path} was measured on {payload['environment']['device']}")
        image_keys = ("image_patches_per_image", "image_epochs")
        if payload["budget"]["seeds"] != list(budget["seeds"]):
            raise SystemExit(f"{path} used other seeds; rerun the whole benchmark")
    else:
        payload = {
            "name": name,
            "command": command,
            "environment": env,
            "budget": {},
            "self_supervised": self_supervised(budget, args.device),
            "open_set": open_set(budget, args.device),
        }
        image_keys = tuple(budget)
    payload["budget"].update(_budget({k: budget[k] for k in image_keys}))
    payload["open_set_images"] = open_set_images(budget, args.device)
    payload["image_patches_run"] = {"command": command, "environment": env}
    if not args.only:
        payload["determinism"] = determinism(args.device)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS_DIR / f"{name}.md").write_text(markdown(payload))
    if not args.quick:
        update_docs(payload)
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
