"""Every snippet in README.md and docs/*.md runs, so the docs cannot drift from the code.

In each file, ```python blocks run in order in one namespace (like a notebook). A block written
as an interactive session (``>>>`` prompts) is checked with doctest, so the output it quotes is the
output Lucid prints. A block whose first line is ``# not run`` is skipped (shell-dependent
examples such as multi-process launches).
"""

import doctest
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks(path):
    """The python blocks of a markdown file, in order."""
    return [b for b in BLOCK.findall(path.read_text()) if not b.startswith("# not run")]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_snippets_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    namespace = {"__name__": f"docs_{path.stem}"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for i, code in enumerate(blocks(path)):
        name = f"{path.name} block {i + 1}"
        if ">>>" in code:
            test = parser.get_doctest(code, namespace, name, str(path), 0)
            result = runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # DocTest runs on a copy of the namespace
            assert result.failed == 0, f"{name}: {result.failed} example(s) printed something else"
        else:
            exec(compile(code, name, "exec"), namespace)


def test_every_doc_file_has_a_snippet():
    for path in FILES:
        if path.name not in ("benchmarks.md", "backend-conv-contract.md", "architecture.md"):
            assert blocks(path), f"{path.name} has no runnable snippet"
