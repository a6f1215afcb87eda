"""Run metric-learn 0.7.0's own test suite against mlearn through an import alias.

"Switching from metric-learn is a change of import" is checked here the hard
way: metric-learn's tests run unchanged, with ``metric_learn`` made of
modules that re-export mlearn's objects. The script

1. downloads metric-learn 0.7.0's source distribution from the package index
   (``pip download --no-deps --no-binary :all: metric-learn==0.7.0``), or
   takes a local one with ``--sdist``;
2. builds, in a temporary directory, a package ``metric_learn/`` whose
   modules forward to mlearn (``metric_learn.itml`` to
   ``mlearn.learners.itml``, ``metric_learn.base_metric`` to
   ``mlearn.base``, ...), next to the sdist's ``test/`` folder. The sdist's
   ``_util.py`` and ``sklearn_shims.py`` are copied as they are: they are
   test infrastructure there (helpers the tests import), not learners;
3. adds a ``conftest.py`` in which ``pytest.warns(None)`` (removed from
   pytest, used by the 0.7.0 tests to assert that nothing warns) records
   every warning, as it used to;
4. runs pytest there and writes ``results/metric_learn_suite.{json,md}``:
   the counts, and the failures grouped by cause, each group classified as
   out of scope (metric-learn's private helpers, exact message wording,
   artefacts of the tests themselves) or as public behaviour, with what
   mlearn does instead (see ``docs/user_guide/migrating.rst``).

Nothing of metric-learn is kept: the temporary directory is removed unless
``--keep`` is given.

Usage::

    python benchmarks/metric_learn_suite.py [--sdist metric-learn-0.7.0.tar.gz] [--keep]
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

VERSION = "0.7.0"
OUT_OF_SCOPE = "private helper / message wording (out of scope)"
PUBLIC = "public behaviour"

# metric-learn module -> the mlearn module it forwards to
FORWARDED_MODULES = {
    "covariance": "mlearn.learners.covariance",
    "itml": "mlearn.learners.itml",
    "lfda": "mlearn.learners.lfda",
    "lmnn": "mlearn.learners.lmnn",
    "lsml": "mlearn.learners.lsml",
    "mlkr": "mlearn.learners.mlkr",
    "mmc": "mlearn.learners.mmc",
    "nca": "mlearn.learners.nca",
    "rca": "mlearn.learners.rca",
    "scml": "mlearn.learners.scml",
    "sdml": "mlearn.learners.sdml",
    "constraints": "mlearn.constraints",
    "exceptions": "mlearn.exceptions",
}

ALIAS_INIT = f'''"""metric_learn, made of mlearn's objects (generated)."""
from mlearn import (  # noqa: F401
    ITML, LFDA, LMNN, LSML, MLKR, MMC, NCA, RCA, SCML, SDML, Constraints, Covariance,
    ITML_Supervised, LSML_Supervised, MMC_Supervised, RCA_Supervised, SCML_Supervised,
    SDML_Supervised,
)

__version__ = "{VERSION}"
'''

ALIAS_BASE_METRIC = '''"""metric_learn.base_metric, made of mlearn.base (generated)."""
from mlearn._validation import ArrayIndexer  # noqa: F401
from mlearn.base import (  # noqa: F401
    BaseMetricLearner,
    MahalanobisMixin,
    PairsClassifierMixin as _PairsClassifierMixin,
    QuadrupletsClassifierMixin as _QuadrupletsClassifierMixin,
    TripletsClassifierMixin as _TripletsClassifierMixin,
)
'''

ALIAS_FORWARD = '''"""metric_learn.{name}, forwarding to {target} (generated)."""
import {target} as _target
from {target} import *  # noqa: F401,F403


def __getattr__(name):
    return getattr(_target, name)
'''

CONFTEST = '''"""Generated: pytest.warns(None) records every warning, as it did before pytest 7."""
import warnings

import pytest

_warns = pytest.warns


class _RecordAll(warnings.catch_warnings):
    def __init__(self):
        super().__init__(record=True)

    def __enter__(self):
        record = super().__enter__()
        warnings.simplefilter("always")
        return record


def _warns_none_records_all(expected_warning=Warning, *args, **kwargs):
    if expected_warning is None:
        return _RecordAll()
    return _warns(expected_warning, *args, **kwargs)


pytest.warns = _warns_none_records_all
'''

PYTEST_INI = """[pytest]
markers =
    integration: metric-learn's marker for longer tests
"""

# How failures are explained: (test-name pattern, message pattern, category, why).
# The first match wins; a failure matching none is reported as unexplained
# public behaviour.
CAUSES = [
    # metric-learn's private helpers and tests of them
    (
        r".*",
        r"force_all_finite",
        OUT_OF_SCOPE,
        "metric-learn's own _util.check_input passes scikit-learn's removed "
        "force_all_finite keyword (scikit-learn >= 1.8)",
    ),
    (
        r".*",
        r"_prepare_inputs|_check_preprocessor|_validate_calibration_params",
        OUT_OF_SCOPE,
        "calls a private metric-learn method (_prepare_inputs, _check_preprocessor, "
        "_validate_calibration_params) that mlearn does not have",
    ),
    (
        r"test_non_psd_raises",
        r".*",
        OUT_OF_SCOPE,
        "tests metric-learn's private _util.components_from_metric and its message",
    ),
    (
        r"test_validate_calibration_params_invalid_parameters_error_before__fit",
        r".*",
        OUT_OF_SCOPE,
        "the exact wording of the 'unknown strategy' message (mlearn raises "
        "ValueError before fitting too)",
    ),
    (
        r"test_error_message_tuple_size|test_embed_dim|test_pair_distance_dim|"
        r"test_n_components|test_check_input_pairs_learners_invalid_y|"
        r"test_chunk_case_one_miss_point|test_generate_knntriplets|"
        r"test_raise_big_number_of_features|test_scml|test_singular_",
        r"assert '.*'? (==|in) |assert .* in str|Regex pattern did not match|assert any\(|"
        r"not sufficient|raised_warning|assert str\(",
        OUT_OF_SCOPE,
        "the exact wording of an error or warning message (mlearn raises or warns "
        "with the same exception class and its own message)",
    ),
    (
        r"test_init_transformation",
        r"assert '.*' == ",
        OUT_OF_SCOPE,
        "the exact wording of the init shape messages",
    ),
    (
        r"test_score_pairs_warning",
        r"assert False|any\(",
        OUT_OF_SCOPE,
        "the exact wording of score_pairs' FutureWarning (mlearn warns with its own "
        "text and returns pair_distance)",
    ),
    # artefacts of the tests
    (
        r"test_auto_init_transformation\[.*MMC-",
        r"points per tuple",
        OUT_OF_SCOPE,
        "test artefact: the test tiles the pairs' tuple axis to 4 points; metric-learn's "
        "MMC has no n_components, so its own run never reaches this case",
    ),
    # public behaviour that mlearn deliberately keeps (see migrating.rst)
    (
        r"test_init_transformation\[MMC",
        r".*",
        PUBLIC,
        "MMC's init array is a Mahalanobis matrix (n_features, n_features) as in "
        "metric-learn's MMC; the test treats it as a linear map because mlearn's MMC "
        "also has n_components",
    ),
    (
        r"test_singular_covariance_init_of_non_strict_pd",
        r".*",
        PUBLIC,
        "MMC with init='covariance' on collinear features uses the pseudo-inverse "
        "without a warning",
    ),
    (
        r"^test_mlkr$",  # TestSklearnCompat: check_estimator(MLKR())
        r"AssertionError",
        PUBLIC,
        "scikit-learn's check_transformer_n_iter wants n_iter_ >= 1; on its two tight "
        "blobs, rescaled by the default feature_scaling, MLKR's start is already "
        "stationary (loss 1e-7) and it reports the 0 iterations it ran",
    ),
    (
        r"test_raise_big_number_of_features",
        r"DID NOT RAISE",
        PUBLIC,
        "SCML's 'triplet_diffs' bases are drawn from fewer triplets than features "
        "(smaller rounds) where metric-learn refuses to fit",
    ),
]


def fetch_sdist(workdir):
    """Download metric-learn's source distribution into ``workdir``; its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"metric-learn=={VERSION}",
            "-d",
            str(workdir),
        ],
        check=True,
    )
    (sdist,) = Path(workdir).glob(f"metric[-_]learn-{VERSION}.tar.gz")
    return sdist


def build_suite(sdist, workdir):
    """The test tree: metric-learn's tests beside an alias package of mlearn's objects."""
    workdir = Path(workdir)
    root = f"metric-learn-{VERSION}/"
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or not name.startswith(root):
                continue
            relative = name[len(root) :]
            keep = relative.startswith("test/") and relative.endswith(".py")
            keep |= relative in ("metric_learn/_util.py", "metric_learn/sklearn_shims.py")
            if keep:
                target = workdir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
    if not (workdir / "test").is_dir():
        raise RuntimeError(f"{sdist} has no {root}test/ folder")
    (workdir / "test" / "__init__.py").touch()
    package = workdir / "metric_learn"
    (package / "__init__.py").write_text(ALIAS_INIT)
    (package / "base_metric.py").write_text(ALIAS_BASE_METRIC)
    for name, target in FORWARDED_MODULES.items():
        (package / f"{name}.py").write_text(ALIAS_FORWARD.format(name=name, target=target))
    (workdir / "conftest.py").write_text(CONFTEST)
    (workdir / "pytest.ini").write_text(PYTEST_INI)
    return workdir


def run_suite(workdir, timeout):
    """Run pytest in ``workdir``; the parsed JUnit report."""
    report = Path(workdir) / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore",
            "--tb=line",
            f"--junitxml={report}",
            "test",
        ],
        cwd=workdir,
        timeout=timeout,
        check=False,
    )
    return ET.parse(report)


def collect(tree):
    """Counts and one record per failing test: file, test, parameters, message."""
    counts = Counter()
    failures = []
    for case in tree.iter("testcase"):
        problems = case.findall("failure") + case.findall("error")
        if problems:
            counts["failed"] += 1
            name = case.get("name")
            failures.append(
                {
                    "file": case.get("classname", "").split(".")[-1],
                    "test": re.sub(r"\[.*", "", name),
                    "name": name,
                    "message": (problems[0].get("message") or "").strip(),
                }
            )
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts, failures


def explain(failure):
    """(category, why) for a failure, from CAUSES."""
    for test_pattern, message_pattern, category, why in CAUSES:
        if re.search(test_pattern, failure["name"]) and re.search(
            message_pattern, failure["message"], flags=re.S
        ):
            return category, why
    return PUBLIC, "unexplained: " + _first_line(failure["message"])


def _first_line(message):
    line = message.splitlines()[0] if message else ""
    return re.sub(r"0x[0-9a-f]+", "0x...", line)[:200]


def group(failures):
    """Failures grouped by (test, cause), largest groups first."""
    groups = defaultdict(list)
    for failure in failures:
        category, why = explain(failure)
        groups[(failure["file"], failure["test"], category, why)].append(failure)
    rows = []
    for (file, test, category, why), members in groups.items():
        rows.append(
            {
                "test": f"{file}::{test}",
                "failed": len(members),
                "category": category,
                "cause": why,
                "example": _first_line(members[0]["message"]),
            }
        )
    return sorted(rows, key=lambda r: (r["category"] != PUBLIC, -r["failed"], r["test"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="a local metric-learn 0.7.0 .tar.gz")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--timeout", type=float, default=3600.0, help="pytest time limit (s)")
    parser.add_argument("--name", default="metric_learn_suite", help="results file name")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="metric-learn-suite-"))
    try:
        sdist = args.sdist or fetch_sdist(workdir / "download")
        build_suite(sdist, workdir / "suite")
        counts, failures = collect(run_suite(workdir / "suite", args.timeout))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    rows = group(failures)
    by_category = Counter()
    for row in rows:
        by_category[row["category"]] += row["failed"]
    summary = {
        "passed": counts["passed"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
        "failed_public_behaviour": by_category[PUBLIC],
        "failed_out_of_scope": by_category[OUT_OF_SCOPE],
    }
    notes = (
        f"metric-learn {VERSION}'s test suite run against mlearn through an import "
        f"alias: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped. Of the failures, "
        f"{summary['failed_public_behaviour']} concern public behaviour (each "
        "listed in docs/user_guide/migrating.rst with the reason) and "
        f"{summary['failed_out_of_scope']} metric-learn's private helpers, the "
        "exact wording of its messages, or artefacts of its tests."
    )
    harness.write_results(
        args.name,
        rows,
        title="metric-learn 0.7.0's test suite against mlearn",
        notes=notes,
        columns=["test", "failed", "category", "cause", "example"],
    )
    payload_path = harness.RESULTS_DIR / f"{args.name}.json"
    payload = json.loads(payload_path.read_text())
    payload["summary"] = summary
    payload_path.write_text(json.dumps(payload, indent=2) + "\n")
    print(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
