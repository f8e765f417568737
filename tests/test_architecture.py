"""The layering of docs/architecture.md, checked on the source: who may import what."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lucid"


def imports(path):
    """The modules a file imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(ROOT).with_suffix("").parts
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(parts[: len(parts) - node.level])
                out.add(f"{base}.{node.module}" if node.module else base)
            else:
                out.add(node.module)
                out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def files(sub=""):
    return sorted((PACKAGE / sub).rglob("*.py"))


def layer_of(path):
    rel = path.relative_to(PACKAGE).parts
    return rel[0].removesuffix(".py")


def test_only_the_backend_imports_mlx():
    offenders = [
        str(p.relative_to(ROOT))
        for p in files()
        if layer_of(p) != "_backend" and any(m == "mlx" or m.startswith("mlx.") for m in imports(p))
    ]
    assert not offenders, f"import mlx outside lucid/_backend: {offenders}"


def test_the_backend_imports_nothing_of_lucid_above_it():
    for p in files("_backend"):
        above = [
            m for m in imports(p) if m.startswith("lucid.") and not m.startswith("lucid._backend")
        ]
        assert not above, f"{p.relative_to(ROOT)} imports {above}"


def test_lower_layers_do_not_import_higher_ones():
    lower = {"_backend", "autograd", "tensor", "dtypes", "ops"}
    higher = ("lucid.nn", "lucid.models", "lucid.transforms", "lucid.optim", "lucid.data")
    higher += ("lucid.metrics",)
    for p in files():
        if layer_of(p) in lower:
            bad = [m for m in imports(p) if m.startswith(higher)]
            assert not bad, f"{p.relative_to(ROOT)} imports {bad}"


# optional extras of pyproject.toml: imported only inside the function that needs them, with an
# ImportError naming the extra (`pip install lucid[nifti]`)
OPTIONAL = {"nibabel", "scipy", "matplotlib", "tensorboard", "onnx", "onnxruntime", "coremltools"}


def eager_imports(path):
    """The top-level module names a file imports outside function bodies (at import time)."""
    out = set()

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                out.update(a.name.split(".")[0] for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                out.add(child.module.split(".")[0])
            walk(child)

    walk(ast.parse(path.read_text()))
    return out


def test_runtime_imports_are_mlx_numpy_and_the_standard_library():
    import sys

    allowed = {"mlx", "numpy", "lucid"} | set(sys.stdlib_module_names)
    for p in files():
        top = {m.split(".")[0] for m in imports(p)}
        extra = top - allowed
        assert extra <= OPTIONAL, f"{p.relative_to(ROOT)} imports {sorted(extra - OPTIONAL)}"
        eager = extra & eager_imports(p)
        assert not eager, f"{p.relative_to(ROOT)} imports the optional {sorted(eager)} eagerly"
