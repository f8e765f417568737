"""The public API stays annotated, and the pre-commit hooks run the same checks as ``make lint``.

A public function is a ``def`` at module or class level, outside private modules (``_x.py``,
``_x/``) and private classes, whose name has no leading underscore (``__init__`` and
``__call__`` count). It is fully annotated when every parameter but self/cls has an annotation
and it has a return annotation (``__init__`` needs none). Nested closures are not counted.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lucid"
# reached when annotations were added (0.23 before, 0.61 after issue 14, 0.84 after a second
# pass): raise it as they grow
FULLY_ANNOTATED_FLOOR = 0.84


def _is_public_module(path):
    parts = path.relative_to(PACKAGE).parts
    return not any(p.startswith("_") and p != "__init__.py" for p in parts)


def _public_functions(tree):
    def walk(node, public):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from walk(child, public and not child.name.startswith("_"))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = child.name
                if public and (not name.startswith("_") or name in ("__init__", "__call__")):
                    yield child
            else:
                yield from walk(child, public)

    yield from walk(tree, True)


def _fully_annotated(fn):
    a = fn.args
    params = a.posonlyargs + a.args + a.kwonlyargs + [p for p in (a.vararg, a.kwarg) if p]
    params = [p for p in params if p.arg not in ("self", "cls")]
    return all(p.annotation is not None for p in params) and (
        fn.returns is not None or fn.name == "__init__"
    )


def annotation_share():
    """(fully annotated, total) public functions in lucid/."""
    done = total = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        if not _is_public_module(path):
            continue
        for fn in _public_functions(ast.parse(path.read_text(), str(path))):
            total += 1
            done += _fully_annotated(fn)
    return done, total


def test_the_public_api_keeps_its_annotations():
    done, total = annotation_share()
    assert total > 500  # the walk found the package
    assert done / total >= FULLY_ANNOTATED_FLOOR, (
        f"{done}/{total} = {done / total:.1%} public functions fully annotated, below the "
        f"floor {FULLY_ANNOTATED_FLOOR:.0%}: annotate the new functions"
    )


def test_a_function_counts_only_when_fully_annotated():
    tree = ast.parse(
        "def f(x: int, y) -> int: ...\n"
        "def g(x: int) -> int: ...\n"
        "class C:\n"
        "    def __init__(self, n: int): ...\n"
        "    def _private(self): ...\n"
        "class _Hidden:\n"
        "    def method(self): ...\n"
    )
    found = {fn.name: _fully_annotated(fn) for fn in _public_functions(tree)}
    assert found == {"f": False, "g": True, "__init__": True}


def test_pre_commit_hooks_are_local_and_run_ruff_and_mypy():
    yaml = __import__("pytest").importorskip("yaml")
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (repo,) = config["repos"]
    assert repo["repo"] == "local"  # no network: the tools of the dev extra
    hooks = {hook["id"]: hook for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy"} <= set(hooks)
    assert all(hook["language"] == "system" for hook in hooks.values())
    assert hooks["ruff-check"]["entry"].startswith("ruff check")
    assert hooks["ruff-format"]["entry"].startswith("ruff format")
    assert hooks["mypy"]["entry"] == "mypy"
