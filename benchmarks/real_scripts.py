"""Real programs, Lucid against PyTorch CPU (and pure MLX where a pure-MLX version exists), timed
in the same run, the frameworks interleaved round by round.

    python benchmarks/real_scripts.py                      # everything, 3 rounds
    python benchmarks/real_scripts.py --tiny --rounds 1    # a quick check (tests' settings)
    python benchmarks/real_scripts.py --only r3d_18 unet3d_segmentation.py --sizes small
    python benchmarks/real_scripts.py --profile unet3d_segmentation.py   # Lucid's per-op table
    python benchmarks/real_scripts.py --profile r3d_18 --trace r3d_18.json

Programs:

- **scripts**: every script of examples/ported/lucid/ and its PyTorch original in
  examples/ported/torch/, each run in a fresh subprocess (in a temporary directory) with small
  fixed arguments; the time is the whole process's wall time, start-up included. The row
  ``(start-up: import only)`` times ``python -c "import lucid"`` against ``import torch`` so it
  can be subtracted.
- **models**: every ``lucid.models`` model, one forward + backward (``out.sum().backward()``,
  train mode, gradients evaluated) at two input sizes. The PyTorch model is torchvision's where
  torchvision is installed (the video ResNets), otherwise the Lucid model's own source file
  executed with ``lucid`` renamed ``torch`` (the models are written in the PyTorch API; the
  parameter counts are checked equal and Lucid's weights are loaded into it once to check that
  both give the same logits). No pure-MLX version of these models exists.
- **step_vs_mlx net**: the small Conv3d + BatchNorm network of benchmarks/step_vs_mlx.py, one
  eager training step (Adam): Lucid, the same network in PyTorch, and step_vs_mlx.py's pure-MLX
  program (mlx.nn + value_and_grad).

Each program runs a warm-up call per framework (the models and the MLX net), then ``--rounds``
rounds, each timing Lucid, PyTorch, MLX in turn; the table gives the median seconds per
program and the ratios. Lucid runs on the CPU kernel set of the environment
(``LUCID_CPU_KERNELS``; the header prints it). PyTorch runs with its default threads.

``--profile NAME`` runs one program (a script name, a model name or ``step_vs_mlx``) under
``lucid.profiler`` instead and prints its per-op table (``--sync``/``--no-sync``,
``--record-memory``, ``--trace PATH`` for a Chrome trace).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import runpy
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import torch_port  # noqa: E402  (Lucid's model sources run as PyTorch models)

PORTED = ROOT / "examples" / "ported"
SCRIPTS = sorted(p.name for p in (PORTED / "lucid").glob("*.py"))

# arguments per script: a few seconds of work each (the defaults train for minutes); --tiny
# takes tests/test_ported.py's settings
SETTINGS = {
    "unet3d_segmentation.py": ["--epochs", "1", "--volumes", "16"],
    "r2plus1d_video.py": ["--epochs", "1", "--clips", "64"],
    "train_resume.py": ["--epochs", "3"],
    "custom_autograd.py": ["--epochs", "1", "--finetune-epochs", "1", "--volumes", "64"],
    "resume_mid_epoch.py": ["--epochs", "2", "--volumes", "48"],
    "gradient_penalty.py": ["--epochs", "1", "--steps", "4", "--batch", "8"],
}
TINY = {
    "unet3d_segmentation.py": ["--epochs", "1", "--volumes", "8"],
    "r2plus1d_video.py": ["--epochs", "1", "--clips", "32"],
    "train_resume.py": ["--epochs", "2"],
    "custom_autograd.py": ["--epochs", "1", "--finetune-epochs", "1", "--volumes", "32"],
    "resume_mid_epoch.py": ["--epochs", "2", "--volumes", "48"],
    "gradient_penalty.py": ["--epochs", "1", "--steps", "2", "--batch", "4"],
}

# model -> (source module, torchvision name or None, {size: input shape})
VIDEO = {"small": (1, 3, 4, 32, 32), "large": (2, 3, 8, 56, 56)}
VOLUME = {"small": (2, 1, 16, 32, 32), "large": (2, 1, 32, 64, 64)}  # N=1 ends 1x1x1: BN refuses
UNET = {"small": (1, 1, 16, 16, 16), "large": (2, 1, 32, 32, 32)}
MODELS = {
    "r3d_18": ("video_resnet", "r3d_18", VIDEO),
    "mc3_18": ("video_resnet", "mc3_18", VIDEO),
    "r2plus1d_18": ("video_resnet", "r2plus1d_18", VIDEO),
    "resnet3d_10": ("resnet3d", None, VOLUME),
    "resnet3d_18": ("resnet3d", None, VOLUME),
    "resnet3d_34": ("resnet3d", None, VOLUME),
    "resnet3d_50": ("resnet3d", None, VOLUME),
    "UNet3d": ("unet3d", None, UNET),
}
MLX_NET_SIZES = {"small": (2, 8), "large": (16, 16)}  # (batch, edge) as step_vs_mlx.py


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _env() -> dict:
    """The environment of a subprocess: this checkout first on the import path."""
    path = os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), path]) if path else str(ROOT))


# --- scripts -------------------------------------------------------------------------------------
def script_runner(framework: str, name: str, args: list[str], threads: int | None = None):
    """A function running one ported script in a fresh process; returns its wall seconds
    (``threads``: PyTorch's intra-op threads, through OMP_NUM_THREADS)."""
    env = _env()
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, str(PORTED / framework / name), *args]

    def run() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{framework}/{name} failed:\n{proc.stderr[-2000:]}")
        return seconds

    return run


def import_runner(module: str):
    """A function timing ``python -c "import <module>"`` in a fresh process."""
    env = _env()

    def run() -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
        return time.perf_counter() - t0

    return run


# --- models --------------------------------------------------------------------------------------
def torch_model(name: str, torch):
    """(the PyTorch model for ``name``, where it came from)."""
    _, tv_name, _ = MODELS[name]
    if tv_name is not None:
        try:
            from torchvision.models import video
        except Exception:  # absent, or built for another torch (its C ops fail to register)
            pass
        else:
            return getattr(video, tv_name)(), "torchvision"
    return torch_port.torch_model(name), "Lucid's source renamed"


DEVICE = "cpu"  # Lucid's device for the models and the step_vs_mlx net (--device)


def model_runners(name: str, size: str, torch):
    """({framework: function timing one forward + backward}, note)."""
    import lucid
    import lucid._backend as B
    import lucid.models

    shape = MODELS[name][2][size]
    x_np = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    lucid.manual_seed(0)
    model = getattr(lucid.models, name)().to(DEVICE)
    model.train()
    x = lucid.tensor(x_np, device=DEVICE)
    params = list(model.parameters())

    def lucid_step() -> float:
        t0 = time.perf_counter()
        model.zero_grad()
        model(x).sum().backward()
        B.evaluate(*[p.grad.data for p in params if p.grad is not None])
        return time.perf_counter() - t0

    runners = {"lucid": lucid_step}
    note = ""
    if torch is not None:
        tmodel, source = torch_model(name, torch)
        tmodel.train()
        note = _check_same_model(model, tmodel, x, torch)
        note = f"torch: {source}; {note}"
        tx = torch.from_numpy(x_np)

        def torch_step() -> float:
            t0 = time.perf_counter()
            tmodel.zero_grad(set_to_none=True)
            tmodel(tx).sum().backward()
            return time.perf_counter() - t0

        runners["torch"] = torch_step
    return runners, note


def _check_same_model(model, tmodel, x, torch) -> str:
    """Load Lucid's weights into the PyTorch model and compare one forward (in eval mode, so
    the BatchNorm statistics stay as they were)."""
    n_lucid = sum(p.numel() for p in model.parameters())
    n_torch = sum(p.numel() for p in tmodel.parameters())
    if n_lucid != n_torch:
        return f"PARAMETER COUNTS DIFFER ({n_lucid} vs {n_torch})"
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()}
    try:
        tmodel.load_state_dict(state)
    except RuntimeError:  # torchvision's keys differ: timing only
        return f"{n_lucid:,} parameters"
    model.eval(), tmodel.eval()
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x.numpy())).numpy()
    got = model(x).detach().numpy()
    model.train(), tmodel.train()
    scale = float(np.abs(want).max()) or 1.0
    return f"{n_lucid:,} parameters, logits max rel diff {np.abs(got - want).max() / scale:.1e}"


def mlx_net_runners(size: str, torch):
    """({framework: function timing one training step}, note) for step_vs_mlx.py's network."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    kernels = os.environ.get("LUCID_CPU_KERNELS")
    import step_vs_mlx  # (it defaults LUCID_CPU_KERNELS to mlx for its own runs: undone here)

    if kernels is None:
        os.environ.pop("LUCID_CPU_KERNELS", None)
    import mlx.core as mx

    batch, edge = MLX_NET_SIZES[size]
    mlx_step = step_vs_mlx.mlx_steps(batch, edge)[0]
    lucid_step = step_vs_mlx.lucid_steps(batch, edge, DEVICE)[0]

    def timed(step):
        def run() -> float:
            t0 = time.perf_counter()
            step()
            return time.perf_counter() - t0

        return run

    runners = {"lucid": timed(lucid_step), "mlx": timed(mlx_step)}
    if torch is not None:
        runners["torch"] = timed(_torch_net_step(torch, batch, edge))
    return runners, f"batch {batch} of {edge}^3, Adam; MLX {mx.__version__} eager"


def _torch_net_step(torch, batch, edge):
    """step_vs_mlx.py's network and training step in PyTorch."""
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv3d(1, 8, 3, padding=1),
        nn.BatchNorm3d(8),
        nn.ReLU(),
        nn.Conv3d(8, 16, 3, padding=1),
        nn.BatchNorm3d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, edge, edge, edge)
    y = torch.randint(0, 5, (batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


# --- the run -------------------------------------------------------------------------------------
FRAMEWORKS = ("lucid", "torch", "mlx")


def measure(runners: dict, rounds: int, warmup: bool) -> dict:
    """Median seconds per framework over ``rounds`` interleaved rounds (or an error string)."""
    times: dict = {k: [] for k in runners}
    errors: dict = {}
    order = [k for k in FRAMEWORKS if k in runners]
    if warmup:
        for k in order:
            try:
                runners[k]()
            except Exception as exc:  # a failing program is reported, the others still run
                errors[k] = f"{type(exc).__name__}: {exc}"
    for _ in range(rounds):
        for k in order:
            if k in errors:
                continue
            try:
                times[k].append(runners[k]())
            except Exception as exc:
                errors[k] = f"{type(exc).__name__}: {exc}"
    out = {k: statistics.median(v) for k, v in times.items() if v and k not in errors}
    out.update({k: "failed" for k in errors})
    for k, message in errors.items():
        print(f"  {k} failed: {message[-1500:]}", file=sys.stderr)
    return out


def programs(args, torch):
    """(group, name, detail, factory) for every selected program; factory() -> (runners, note)."""
    settings = TINY if args.tiny else SETTINGS
    chosen = set(args.only or [])

    def wanted(name):
        return not chosen or name in chosen

    out = []
    if not args.skip_scripts:
        if wanted("startup"):

            def startup():
                runners = {"lucid": import_runner("lucid")}
                if torch is not None:
                    runners["torch"] = import_runner("torch")
                return runners, ""

            out.append(("scripts", "(start-up: import only)", "", startup))
        for name in SCRIPTS:
            if not wanted(name):
                continue

            def script(name=name):
                runners = {"lucid": script_runner("lucid", name, settings[name])}
                if torch is not None:
                    runners["torch"] = script_runner(
                        "torch", name, settings[name], args.torch_threads
                    )
                return runners, ""

            out.append(("scripts", name, " ".join(settings[name]), script))
    if not args.skip_models:
        for name in MODELS:
            for size in args.sizes:
                if wanted(name):
                    detail = "x".join(map(str, MODELS[name][2][size]))
                    out.append(
                        ("models", name, detail, lambda n=name, s=size: model_runners(n, s, torch))
                    )
        for size in args.sizes:
            if wanted("step_vs_mlx"):
                batch, edge = MLX_NET_SIZES[size]
                out.append(
                    (
                        "models",
                        "step_vs_mlx net (train step)",
                        f"{batch}x1x{edge}^3",
                        lambda s=size: mlx_net_runners(s, torch),
                    )
                )
    return out


def _cell(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else (v or "-")


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) and b > 0 else "-"


def header(torch) -> str:
    """The machine and versions the figures belong to."""
    import mlx.core as mx

    import lucid
    from lucid._backend import dispatch

    return (
        f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Lucid {lucid.__version__} (CPU kernels: {dispatch.cpu_kernels()}), "
        f"MLX {mx.__version__}, "
        + (
            f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
            if torch is not None
            else "PyTorch not installed"
        )
    )


def run_all(args) -> None:
    """Measure every selected program and print the table."""
    torch = _torch()
    if torch is not None and args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(header(torch))
    print(
        f"seconds, median of {args.rounds} interleaved round(s); scripts: the whole process; "
        f"models: one forward + backward\n",
        flush=True,
    )
    rows = []
    for group, name, detail, factory in programs(args, torch):
        print(f"[{group}] {name} {detail}", file=sys.stderr, flush=True)
        runners, note = factory()
        t = measure(runners, args.rounds, warmup=group == "models")
        rows.append((name, detail, t.get("lucid"), t.get("torch"), t.get("mlx"), note))
        del runners
    head = ("program", "settings / input", "Lucid s", "PyTorch s", "MLX s", "Lucid/PT", "Lucid/MLX")
    body = [
        (n, d, _cell(lu), _cell(pt), _cell(ml), _ratio(lu, pt), _ratio(lu, ml))
        for n, d, lu, pt, ml, _ in rows
    ]
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *body]:
        print(
            "  ".join(
                str(c).ljust(w) if i < 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(r, widths))
            ).rstrip()
        )
    notes = [(n, d, note) for n, d, *_, note in rows if note]
    if notes:
        print("\nnotes:")
        for n, d, note in notes:
            print(f"  {n} {d}: {note}")


# --- --profile -----------------------------------------------------------------------------------
def profile_one(args) -> None:
    """Run one program under lucid.profiler and print its per-op table."""
    import lucid

    name = args.profile
    options = dict(sync=args.sync, record_memory=args.record_memory)
    if name in SCRIPTS:
        settings = (TINY if args.tiny else SETTINGS)[name]
        script = PORTED / "lucid" / name
        old_argv, old_cwd = sys.argv, os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            sys.argv = [str(script), *settings]
            try:
                with lucid.profiler.profile(**options) as prof:
                    runpy.run_path(str(script), run_name="__main__")
            finally:
                sys.argv = old_argv
                os.chdir(old_cwd)
        what = f"{name} {' '.join(settings)}"
    elif name in MODELS or name == "step_vs_mlx":
        size = args.sizes[0]
        if name == "step_vs_mlx":
            runners, _ = mlx_net_runners(size, None)
        else:
            runners, _ = model_runners(name, size, None)
        step = runners["lucid"]
        step()  # warm-up, unprofiled
        with lucid.profiler.profile(**options) as prof:
            step()
        what = f"{name} ({size}), one {'training step' if name == 'step_vs_mlx' else 'fwd+bwd'}"
    else:
        known = ", ".join([*SCRIPTS, *MODELS, "step_vs_mlx"])
        raise SystemExit(f"--profile: unknown program {name!r}; choose one of {known}")
    print(f"lucid.profiler: {what} (sync={args.sync})")
    print(prof.key_averages().table(sort_by=args.sort_by, row_limit=args.row_limit))
    if args.trace:
        prof.export_chrome_trace(args.trace)
        print(f"Chrome trace written to {args.trace}")


def main(argv=None) -> None:
    """Parse the command line and run."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu", help="Lucid's device for models and nets (gpu)")
    p.add_argument("--tiny", action="store_true", help="tests/test_ported.py's script settings")
    p.add_argument("--sizes", nargs="+", default=["small", "large"], choices=["small", "large"])
    p.add_argument("--only", nargs="+", help="program names (scripts, models, step_vs_mlx)")
    p.add_argument("--skip-scripts", action="store_true")
    p.add_argument("--skip-models", action="store_true")
    p.add_argument("--torch-threads", type=int, help="PyTorch's threads (default: its own choice)")
    p.add_argument("--profile", metavar="NAME", help="per-op table of one program instead")
    p.add_argument("--sort-by", default="self_cpu_time_total")
    p.add_argument("--row-limit", type=int, default=25)
    p.add_argument("--sync", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--record-memory", action="store_true")
    p.add_argument("--trace", metavar="PATH", help="with --profile: write a Chrome trace")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    global DEVICE
    DEVICE = args.device
    if args.profile:
        profile_one(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
