"""The examples in README.md and the docs' getting-started page run as written."""

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"print": lambda *a, **k: None})


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r'pip install -e "\.\[test[^"]*\]"[^&\n]*', readme).group(0).strip()
    assert install in ci
    assert "python -m pytest" in readme and "\npython -m pytest\n" in ci


@pytest.mark.parametrize("page", ["getting_started.rst", "user_guide/scaling_out.rst"])
def test_docs_page_doctests(page):
    result = doctest.testfile(
        str(ROOT / "docs" / page), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0 and result.failed == 0
