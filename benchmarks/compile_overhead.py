"""Per-call overhead of ``lucid.compile`` on a training step, against the same step in pure MLX
under ``mx.compile``, both on MLX's kernels (LUCID_CPU_KERNELS=mlx, the set a Mac uses).

    LUCID_CPU_KERNELS=mlx python benchmarks/compile_overhead.py [--rounds 12] [--block 15]

Network (10 layers with parameters), channels-first in Lucid, channels-last in MLX:
Conv3d(1, 8, 3, pad 1) + BN + ReLU, Conv3d(8, 16, 3, pad 1) + BN + ReLU, MaxPool3d(2),
Conv3d(16, 16, 3, pad 1) + BN + ReLU, MaxPool3d(2), Conv3d(16, 32, 3, pad 1) + BN + ReLU,
adaptive average pool to 1, Flatten, Linear(32, 16) + ReLU, Linear(16, 4); cross-entropy;
Adam(lr 1e-3, PyTorch's bias-corrected rule on both sides; ``--sgd``: plain SGD(lr 1e-3) on
both sides, to see the optimizer's share). Batch 2 of 1x8x8x8 volumes.
The MLX model starts from Lucid's initial weights (Conv3d weights moved from (out, in, kd, kh,
kw) to (out, kd, kh, kw, in)) and the first losses are checked to agree, so both do the same
work. ``mlx.nn.BatchNorm`` refuses 5-D input, so the MLX program normalises an (N, D*H*W, C)
view (the same statistics: over all but channels).

Each step is fully evaluated (Lucid's compiled call evaluates itself; the MLX step calls
``mx.eval`` on the loss and the state). Blocks of steps alternate between the variants so that a
busy machine's drift hits all alike; min and median ms per step, wall and CPU time (CPU time of
the process counts the work, not the waits for a core on a shared machine), and the ratios to
``mx.compile`` are printed. Variants: ``lucid.compile`` as it runs here (on a Linux CPU its
convolutions use Lucid's tap formulation), the same with the convolutions routed to
``mx.conv_general`` as on a Mac, and each one's cached MLX graph run alone (no Python around
it). Then where Lucid's per-call time goes: each call split into the time inside MLX (the
compiled graph's call and the evaluation) and the Python rest; each part of the wrapper's
per-call work timed alone; and a cProfile of the compiled calls, the wrapper's own entries.

The Lucid timed is this checkout's (the script puts its repository first on ``sys.path``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time

os.environ.setdefault("LUCID_CPU_KERNELS", "mlx")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # time the Lucid of this checkout, not whichever one is installed

import mlx.core as mx  # noqa: E402
import mlx.nn as mnn  # noqa: E402
import mlx.optimizers as mopt  # noqa: E402
import numpy as np  # noqa: E402

import lucid  # noqa: E402
import lucid.nn as nn  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from lucid._backend import dispatch  # noqa: E402
from lucid.autograd.grad_mode import is_grad_enabled  # noqa: E402
from lucid.utils import pytree  # noqa: E402

BATCH, EDGE, CLASSES = 2, 8, 4
WIDTHS = [(1, 8), (8, 16), (16, 16), (16, 32)]  # the four Conv3d + BN + ReLU blocks
POOL_AFTER = {1, 2}  # MaxPool3d(2) after these blocks: 8^3 -> 4^3 -> 2^3
HIDDEN = 16
lc = importlib.import_module("lucid.compile")  # the wrapper's internals, for the breakdown
WRAPPER_FILES = ("compile.py", "_guards.py", "pytree.py")  # Lucid's own per-call work


def lucid_net():
    """The network in Lucid (channels-first)."""
    layers = []
    for i, (cin, cout) in enumerate(WIDTHS):
        layers += [nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU()]
        if i in POOL_AFTER:
            layers.append(nn.MaxPool3d(2))
    layers += [
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(WIDTHS[-1][1], HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, CLASSES),
    ]
    return nn.Sequential(*layers)


class MlxNet(mnn.Module):
    """The network in pure MLX (channels-last)."""

    def __init__(self):
        super().__init__()
        self.convs = [mnn.Conv3d(cin, cout, 3, padding=1) for cin, cout in WIDTHS]
        self.norms = [mnn.BatchNorm(cout) for _, cout in WIDTHS]
        self.pool = mnn.MaxPool3d(2)
        self.fc1 = mnn.Linear(WIDTHS[-1][1], HIDDEN)
        self.fc2 = mnn.Linear(HIDDEN, CLASSES)

    def __call__(self, x):
        for i, (conv, bn) in enumerate(zip(self.convs, self.norms)):
            x = conv(x)
            n, d, h, w, c = x.shape
            x = mnn.relu(bn(x.reshape(n, d * h * w, c)).reshape(n, d, h, w, c))
            if i in POOL_AFTER:
                x = self.pool(x)
        x = x.mean(axis=(1, 2, 3))
        return self.fc2(mnn.relu(self.fc1(x)))

    def load_lucid(self, model):
        """Copy the Lucid model's parameters and BatchNorm buffers into this one."""

        def arr(t, conv=False):
            a = t.numpy()
            return mx.array(a.transpose(0, 2, 3, 4, 1) if conv else a)

        convs = [m for m in model if isinstance(m, nn.Conv3d)]
        norms = [m for m in model if isinstance(m, nn.BatchNorm3d)]
        fcs = [m for m in model if isinstance(m, nn.Linear)]
        for src, dst in zip(convs, self.convs):
            dst.weight, dst.bias = arr(src.weight, conv=True), arr(src.bias)
        for src, dst in zip(norms, self.norms):
            dst.weight, dst.bias = arr(src.weight), arr(src.bias)
            dst.running_mean, dst.running_var = arr(src.running_mean), arr(src.running_var)
        for src, dst in zip(fcs, (self.fc1, self.fc2)):
            dst.weight, dst.bias = arr(src.weight), arr(src.bias)


@contextlib.contextmanager
def mac_conv_route(on):
    """Route Lucid's convolutions as on a Mac (``mx.conv_general``) while tracing; on a Linux CPU
    Lucid's MLX kernel set uses its tap formulation instead (``dispatch.conv_route``). The
    route is read when a graph is traced only, so the cached graph keeps it."""
    before = dispatch._LINUX_CPU
    dispatch._LINUX_CPU = before and not on
    try:
        yield
    finally:
        dispatch._LINUX_CPU = before


def make_lucid(sgd=False):
    """(model, compiled step), not yet called."""
    lucid.random.seed(0)
    model = lucid_net()
    opt = (lucid.optim.SGD if sgd else lucid.optim.Adam)(model.parameters(), lr=1e-3)

    def train(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, lucid.compile(train)


def prime(step, x, y, mac_route=False):
    """Run the first two calls (the first runs eagerly and creates Adam's state, the second
    traces, with the convolution route asked for); the first loss."""
    with mac_conv_route(mac_route):
        first = step(x, y).item()
        step(x, y)
    return first


def make_mlx(model_lucid, x, y, sgd=False):
    """(first loss, step): the pure-MLX step compiled in MLX's documented pattern."""
    model = MlxNet()
    model.load_lucid(model_lucid)
    mx.eval(model.parameters())
    if sgd:
        opt = mopt.SGD(learning_rate=1e-3)
    else:
        opt = mopt.Adam(learning_rate=1e-3, bias_correction=True)
    opt.init(model.trainable_parameters())

    def loss_fn(model, x, y):
        return mnn.losses.cross_entropy(model(x), y, reduction="mean")

    grad_fn = mnn.value_and_grad(model, loss_fn)
    first = loss_fn(model, x, y).item()  # before any update, as Lucid's first loss
    state = [model.state, opt.state]

    def train(x, y):
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        return loss

    compiled = mx.compile(train, inputs=state, outputs=state)

    def step():
        loss = compiled(x, y)
        mx.eval(loss, state)
        return loss

    return first, step


def timed(fn, n):
    """(wall ms, CPU ms) of each of ``n`` calls of ``fn``. CPU time (all of the process's
    threads) counts only the work done, not the waits for a core on a shared machine."""
    out = []
    for _ in range(n):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append(((time.perf_counter() - w0) * 1e3, (time.process_time() - c0) * 1e3))
    return out


def interleaved(steps, rounds, block):
    """{name: [(wall ms, CPU ms) per step]}: blocks of ``block`` steps, alternating between
    ``steps``."""
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            times[name] += timed(fn, block)
    return times


def report(times, block, base):
    """Print min and median per step and their ratios to ``base``, wall and CPU time; return
    {clock: {name: (min, median, paired ratio)}}."""
    out = {}
    for c, clock in enumerate(("wall", "CPU")):
        t = {k: [v[c] for v in vs] for k, vs in times.items()}
        n = len(t[base])
        # per round: the block's median over the base's block median; the median of those
        paired = {
            k: statistics.median(
                statistics.median(v[i : i + block]) / statistics.median(t[base][i : i + block])
                for i in range(0, n, block)
            )
            for k, v in t.items()
        }
        res = out[clock] = {k: (min(v), statistics.median(v), paired[k]) for k, v in t.items()}
        lo, mid, _ = res[base]
        print(f"\n{clock} ms per step, {n} steps each in blocks of {block}; ratios to {base}:")
        print(f"{'':<26}{'min':>8}{'median':>9}{'min/':>8}{'median/':>9}{'paired':>8}")
        for k, (a, m, p) in res.items():
            print(f"{k:<26}{a:8.3f}{m:9.3f}{a / lo:8.3f}{m / mid:9.3f}{p:8.3f}")
    return out


def graph_alone(step, x, y):
    """A function that runs only the cached trace's compiled MLX graph (and evaluates it), on
    the current state, without writing anything back: the graph's share of a call."""
    (trace,) = [t for traces in step._cache.values() for t in traces]
    leaves, _ = pytree.flatten(((x, y), {}))
    _, inputs, _, _ = lc._describe_args(leaves)
    state, _, _ = trace.slots.read()
    grads = [t.grad.data for t in trace.grad_owners]
    rng = lc.runtime.rng_key() if trace.draws else lc._unused_key()

    def run():
        out = trace.compiled([state, grads, rng, inputs, []])
        mx.eval(out)

    return trace, run


def parts(trace, x, y, n=1000):
    """{name: µs per call} (CPU time, min over 5 repeats of ``n``) of each part of the
    wrapper's per-call work on a cached trace, timed alone; names indented are inside the one
    above them."""
    args = ((x, y), {})
    leaves, _ = pytree.flatten(args)
    slots = trace.slots
    state, setters, _ = slots.read()
    tensors = slots.tensors()
    owners = trace.grad_owners_out
    grads = [t.grad for t in owners]

    def each_module_members():
        for m in slots.modules:
            list(m.parameters()) + list(m.buffers())

    def training_flags():
        for m in slots.modules:
            [sub.training for sub in m.modules()]

    def write_back():  # what _run does after the graph, with the arrays already there
        for (put, keep), a in zip(setters, state):
            if keep:
                put(a)
        grads_back()

    def tensor_puts():
        for t in tensors:
            t.data = t.data

    def grads_back():
        for t in trace.grad_owners:
            t.grad = None
        for t, g in zip(owners, grads):
            t.grad = lucid.Tensor._wrap(g.data, t._device)

    nm = len(slots.modules)
    cases = {
        "pytree.flatten of the arguments": lambda: pytree.flatten(args),
        "_describe_args (cache key)": lambda: lc._describe_args(leaves),
        "_modes (grad mode, autocast, kernels)": lc._modes,
        f"Guards.holds ({len(trace.guards.entries)} guards)": trace.guards.holds,
        f"_Slots.read ({len(state)} arrays: setters and signature)": slots.read,
        f"  _Slots.tensors ({len(tensors)} tensors)": slots.tensors,
        f"    parameters() + buffers() of each of the {nm} captured Modules": each_module_members,
        f"  training flags: modules() of each of the {nm} captured Modules": training_flags,
        f"write-back ({sum(k for _, k in setters)} state arrays, {len(owners)} grads)": write_back,
        f"  the {len(tensors)} tensors' .data assignments": tensor_puts,
        f"  the {len(owners)} grads: reset, wrap, checked assignment": grads_back,
        "trace.rebuild (output tensors)": lambda: trace.rebuild([state[0]]),
        "is_grad_enabled": is_grad_enabled,
    }
    out = {}
    for name, fn in cases.items():
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(n):
                fn()
            best = min(best, (time.process_time() - t0) / n * 1e6)
        out[name] = best
    return out


def split_calls(step, trace, x, y, calls):
    """{part: [CPU µs in each call]} for ``calls`` calls of ``step``: the time inside MLX (the
    cached trace's compiled graph call and Lucid's one evaluation), inside ``Guards.holds`` and
    inside ``_Slots.read`` (each wrapped with a timer for this measurement), the Python rest
    and the total. Split inside each call, so a busy machine moves it less than a difference
    of two timings does, and timed where it runs (caches cold after the graph)."""
    spent: dict = {}
    targets = {
        "MLX: compiled graph call": (trace, "compiled"),
        "MLX: evaluation": (lc.B, "evaluate"),
        "Guards.holds": (trace.guards, "holds"),
        "_Slots.read": (trace.slots, "read"),
    }
    saved = {name: getattr(obj, attr) for name, (obj, attr) in targets.items()}
    own = {name for name, (obj, attr) in targets.items() if attr in vars(obj)}

    def clocked(name, fn):
        def run(*a):
            c = time.process_time()
            try:
                return fn(*a)
            finally:
                spent[name] += time.process_time() - c

        return run

    for name, (obj, attr) in targets.items():
        setattr(obj, attr, clocked(name, saved[name]))
    rows = {name: [] for name in [*targets, "Python rest", "total"]}
    try:
        for _ in range(calls):
            spent.update(dict.fromkeys(targets, 0.0))
            c = time.process_time()
            step(x, y)
            c = time.process_time() - c
            for name in targets:
                rows[name].append(spent[name] * 1e6)
            rows["Python rest"].append((c - sum(spent.values())) * 1e6)
            rows["total"].append(c * 1e6)
    finally:
        for name, (obj, attr) in targets.items():
            if name in own:
                setattr(obj, attr, saved[name])
            else:
                delattr(obj, attr)  # a method: the class's shows again
    return rows


def profile(step, x, y, calls):
    """The top entries of the wrapper's own per-call work under cProfile (µs per step)."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        step(x, y)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = sum(tt for (_, _, tt, _, _) in stats.values()) / calls * 1e6
    rows = []
    for (path, line, name), (_, ncalls, tt, ct, _) in stats.items():
        if os.path.basename(path) in WRAPPER_FILES:
            rows.append((ct / calls * 1e6, tt / calls * 1e6, ncalls / calls, name, path, line))
    rows.sort(reverse=True)
    return total, rows


def loadavg():
    """The 1, 5 and 15 minute load averages."""
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def machine():
    """CPU model, cores, load average, MLX version, date."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        git = ["git", "-C", ROOT]
        commit = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(git + ["status", "--porcelain", "lucid"], capture_output=True)
        rev = commit.stdout.decode().strip() + (" + edits" if dirty.stdout.strip() else "")
    except OSError:
        rev = "?"
    return (
        f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, MLX {mx.__version__}"
        f"; Lucid {os.path.dirname(lucid.__file__)} ({rev}), CPU kernels "
        f"{os.environ['LUCID_CPU_KERNELS']}; load average {loadavg()}; "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )


def main():
    """Check equal work, time both, break Lucid's call down."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=12, help="alternations of the two")
    p.add_argument("--block", type=int, default=15, help="steps per block")
    p.add_argument("--profile-calls", type=int, default=100)
    p.add_argument("--sgd", action="store_true", help="plain SGD instead of Adam on both sides")
    args = p.parse_args()
    print(machine())
    print(f"optimizer: {'SGD' if args.sgd else 'Adam'}")

    xn = np.random.default_rng(0).standard_normal((BATCH, 1, EDGE, EDGE, EDGE), dtype=np.float32)
    yn = np.arange(BATCH, dtype=np.int32) % CLASSES
    x, y = lucid.tensor(xn), lucid.tensor(yn)
    xm, ym = mx.array(xn.transpose(0, 2, 3, 4, 1)), mx.array(yn)

    model, step = make_lucid(args.sgd)
    first_mlx, mlx_step = make_mlx(model, xm, ym, args.sgd)  # from Lucid's initial weights
    first_lucid = prime(step, x, y)
    _, step_mac = make_lucid(args.sgd)  # the same initial weights (same seed)
    prime(step_mac, x, y, mac_route=True)
    diff = abs(first_lucid - first_mlx)
    print(f"first loss: Lucid {first_lucid:.6f}, MLX {first_mlx:.6f}, |diff| {diff:.1e}")
    if diff > 1e-4:
        raise SystemExit("the two networks do not compute the same thing")
    # steps 3-5 (Lucid's compiled graph, MLX's after its own steps 1-2) still agree
    lucid_loss = [step(x, y).item() for _ in range(3)]
    mac_loss = [step_mac(x, y).item() for _ in range(3)]
    mlx_loss = [mlx_step().item() for _ in range(5)][2:]
    print(
        "losses of steps 3-5: lucid.compile "
        + ", ".join(f"{v:.5f}" for v in lucid_loss)
        + " | Mac route "
        + ", ".join(f"{v:.5f}" for v in mac_loss)
        + " | MLX "
        + ", ".join(f"{v:.5f}" for v in mlx_loss)
    )
    if max(abs(a - b) for a, b in zip(lucid_loss + mac_loss, mlx_loss * 2)) > 1e-3:
        raise SystemExit("the steps update differently")
    for s in (step, step_mac):
        assert s.traces == 1 and not s.eager, (s.traces, s.eager)

    lucid_call = lambda: step(x, y)  # noqa: E731
    trace, graph = graph_alone(step, x, y)
    _, graph_mac = graph_alone(step_mac, x, y)
    variants = {
        "mx.compile": mlx_step,
        "lucid.compile": lucid_call,
        "  its graph alone": graph,
        "lucid.compile, Mac route": lambda: step_mac(x, y),
        "  its graph alone ": graph_mac,
    }
    t = interleaved(variants, args.rounds, args.block)
    assert step.traces == 1 and step_mac.traces == 1, "a step traced again while timed"
    res = report(t, args.block, "mx.compile")
    print(
        "(goal: lucid.compile / mx.compile <= 1.15; paired: the median over rounds of the ratio "
        "of block medians)"
    )
    for clock, r in res.items():
        call, alone = r["lucid.compile"], r["  its graph alone"]
        print(
            f"Lucid's Python per call ({clock}: call - its graph alone): min "
            f"{(call[0] - alone[0]) * 1e3:.0f} µs, median {(call[1] - alone[1]) * 1e3:.0f} µs"
        )
    print(f"load average after timing: {loadavg()}")

    rows = split_calls(step, trace, x, y, args.profile_calls * 2)
    print(f"\nlucid.compile's call split inside each of {args.profile_calls * 2} calls (CPU µs):")
    for name, col in rows.items():
        print(f"  {name:<26} min {min(col):9.1f}  median {statistics.median(col):9.1f}")
    python = [t - a - b for t, a, b in zip(rows["total"], *list(rows.values())[:2])]
    med = statistics.median(python)
    print(f"  {'Python (total - MLX)':<26} min {min(python):9.1f}  median {med:9.1f}")

    print("\nthe wrapper's per-call work, each part timed alone (CPU µs per call, min of 5):")
    split = parts(trace, x, y)
    for name, us in split.items():
        print(f"  {us:8.1f}  {name}")
    total = sum(v for k, v in split.items() if not k.startswith(" "))
    print(f"  {total:8.1f}  sum of the outer parts")

    total, rows = profile(step, x, y, args.profile_calls)
    print(
        f"\ncProfile of {args.profile_calls} compiled calls (profiled Python total "
        f"{total:.0f} µs per call, inflated by the profiler); the wrapper's own entries, by "
        f"cumulative µs per call:"
    )
    print(
        "  (_run's own time holds the compiled graph and its evaluation: MLX's calls are not "
        "seen by cProfile)"
    )
    print(f"  {'cum µs':>8} {'own µs':>8} {'calls':>6}  function")
    for ct, tt, nc, name, path, line in rows[:15]:
        print(f"  {ct:8.1f} {tt:8.1f} {nc:6.0f}  {name} ({os.path.basename(path)}:{line})")


if __name__ == "__main__":
    main()
