"""How much of a PyTorch 3D/video training script ports to Lucid by renaming.

Reads docs/pytorch-names.tsv (PyTorch names used by public 3D/video training code, each with an
estimated use count), looks each name up in the installed lucid (``torch.X`` as ``lucid.X``,
``torch.utils.data.X`` as ``lucid.data.X``, ``Tensor.X`` on a tensor) and counts those that exist
and mean the same (a note starting "differs:" marks one that exists but does not). Prints the
share by names and by uses, and the names that do not port.

    python benchmarks/pytorch_name_sweep.py
"""

import csv
import importlib
import pathlib

TSV = pathlib.Path(__file__).resolve().parent.parent / "docs" / "pytorch-names.tsv"


def read_names(path=TSV):
    """The rows of the TSV (comment lines skipped) as dicts: name, uses (int), sources, note."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    for row in rows:
        row["uses"] = int(row["uses"])
    return rows


def exists(name):
    """Whether the PyTorch name ``name`` has a Lucid counterpart of the same (renamed) name."""
    import lucid

    if name.startswith("Tensor."):
        return hasattr(lucid.zeros(1, requires_grad=True), name[len("Tensor.") :])
    parts = name.split(".")
    if parts[0] != "torch":
        raise ValueError(f"{name!r}: expected a name starting with torch. or Tensor.")
    if parts[1:3] == ["utils", "data"]:
        parts = ["lucid", "data", *parts[3:]]
    else:
        parts = ["lucid", *parts[1:]]
    for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def sweep(rows=None):
    """Counts: names and uses in all, ported (exists, same meaning), and the rows that do not."""
    rows = read_names() if rows is None else rows
    missing = [r for r in rows if not exists(r["name"])]
    differs = [r for r in rows if r["note"].startswith("differs:") and r not in missing]
    bad = missing + differs
    return {
        "names": len(rows),
        "uses": sum(r["uses"] for r in rows),
        "ported_names": len(rows) - len(bad),
        "ported_uses": sum(r["uses"] for r in rows) - sum(r["uses"] for r in bad),
        "missing": missing,
        "differs": differs,
    }


def main():
    s = sweep()
    print(
        f"{s['ported_names']} of {s['names']} names port "
        f"({100 * s['ported_names'] / s['names']:.0f}%), "
        f"{s['ported_uses']} of {s['uses']} uses ({100 * s['ported_uses'] / s['uses']:.0f}%)"
    )
    for r in s["missing"]:
        print(f"missing  {r['name']:48s} {r['uses']:3d}  {r['note']}")
    for r in s["differs"]:
        print(f"differs  {r['name']:48s} {r['uses']:3d}  {r['note'][len('differs: ') :]}")


if __name__ == "__main__":
    main()
