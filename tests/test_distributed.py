"""lucid.distributed: two real ranks on MLX's ring backend over 127.0.0.1 (data-parallel SGD with
SyncBatchNorm equals single-process SGD on the concatenated batches), single-process no-op
behaviour, DistributedSampler shards, gradient buckets, and clear errors.

The two-rank test starts this file as a worker (``python tests/test_distributed.py --worker``)
in two processes with MLX_RANK and MLX_HOSTFILE set, exactly what ``mlx.launch`` does.
"""

import gc
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import lucid
import lucid.distributed as dist
import lucid.nn as nn
import lucid.nn.functional as F
from lucid import memory, optim
from lucid._backend import distributed as BD, runtime
from lucid.autograd import gradcheck
from lucid.data import DataLoader, TensorDataset
from lucid.distributed.data_parallel import plan_buckets
from lucid.distributed.sync_batchnorm import sync_standardize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_SAMPLES, PER_RANK_BATCH, CLASSES = 19, 4, 3  # 19 -> padded to 20: 10 per rank, 3 steps
LR, MOMENTUM, WD = 0.1, 0.9, 1e-3


def make_data():
    """Inputs and labels shared by the workers and the reference."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N_SAMPLES, 1, 4, 4, 4)).astype(np.float32)
    y = rng.integers(0, CLASSES, N_SAMPLES).astype(np.int64)
    return x, y


def make_model(norm):
    return nn.Sequential(
        nn.Conv3d(1, 2, 3, padding=1),
        norm(2),
        nn.ReLU(),
        nn.MaxPool3d(2),
        nn.Flatten(),
        nn.Linear(16, CLASSES),
    )


def params_np(model):
    return {k: v.numpy() for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- worker
def worker(out_dir):
    """One rank: 3 data-parallel SGD steps, then collective and checkpoint checks."""
    dist.init(backend="ring", strict=True)
    rank, world = dist.rank(), dist.world_size()
    calls = {"n": 0}
    all_sum = BD.all_sum

    def counting_all_sum(a):
        calls["n"] += 1
        return all_sum(a)

    BD.all_sum = counting_all_sum
    x, y = make_data()
    lucid.random.seed(100 + rank)  # different initial weights: DataParallel must equalise them
    model = make_model(dist.SyncBatchNorm)
    before = params_np(model)
    ddp = dist.DataParallel(model, bucket_cap_mb=1e-4)  # ~100 bytes: several buckets
    init = params_np(model)
    opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    sampler = dist.DistributedSampler(N_SAMPLES, shuffle=True, seed=3)
    sampler.set_epoch(1)
    loader = DataLoader(
        TensorDataset(x, y, np.arange(N_SAMPLES)), batch_size=PER_RANK_BATCH, sampler=sampler
    )
    loss_fn = nn.CrossEntropyLoss()
    batches, collectives = [], []
    for xb, yb, ib in loader:
        opt.zero_grad()
        loss_fn(ddp(xb), yb).backward()
        start = calls["n"]
        ddp.average_gradients()
        collectives.append(calls["n"] - start)
        opt.step()
        batches.append(ib.numpy())
    expected_buckets = len(plan_buckets([p.data for p in model.parameters()], 1e-4 * 2**20))
    # a gradient present on rank 1 only is averaged with rank 0's zero; none anywhere stays None
    only1, unused = (
        lucid.tensor([1.0, 2.0], requires_grad=True),
        lucid.tensor([3.0], requires_grad=True),
    )
    if rank == 1:
        (only1 * lucid.tensor([4.0, 6.0])).sum().backward()
    start = calls["n"]
    dist.average_gradients([only1, unused])
    one_call = calls["n"] - start
    # models that differ between ranks: a clear error on every rank, not a hang
    try:
        dist.broadcast_parameters(nn.Linear(2, 2 + rank))
        mismatch = ""
    except RuntimeError as exc:
        mismatch = str(exc)
    # checkpoint written by rank 0, read back by every rank
    path = os.path.join(out_dir, "ckpt.safetensors")
    dist.save_on_rank0({"model": model.state_dict(), "step": len(batches)}, path)
    ckpt = lucid.load(path)
    ckpt_diff = max(
        float(np.abs(ckpt["model"][k].numpy() - v).max()) for k, v in params_np(model).items()
    )
    np.savez(
        os.path.join(out_dir, f"rank{rank}.npz"),
        world=world,
        batches=np.concatenate(batches),
        sizes=[len(b) for b in batches],
        collectives=np.array(collectives),
        expected_buckets=expected_buckets,
        one_call=one_call,
        mismatch=mismatch,
        only1=only1.grad.numpy(),
        unused_none=unused.grad is None,
        ckpt_diff=ckpt_diff,
        ckpt_step=ckpt["step"],
        sum=dist.all_reduce(lucid.tensor([rank + 1.0, 10.0])).numpy(),
        mean=dist.all_reduce(lucid.tensor([rank + 1.0, 10.0]), op="mean").numpy(),
        max=dist.all_reduce(lucid.tensor([rank, -rank], dtype="int64"), op="max").numpy(),
        gather=dist.all_gather(lucid.tensor([[rank * 1.0]])).numpy(),
        bcast=dist.broadcast(lucid.tensor([rank + 7.0]), root=1).numpy(),
        **{"before." + k: v for k, v in before.items()},
        **{"init." + k: v for k, v in init.items()},
        **{"final." + k: v for k, v in params_np(model).items()},
    )


# ----------------------------------------------------------------------------- two ranks
def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run_two_ranks(out_dir, timeout=60):
    hostfile = out_dir / "hosts.json"
    hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"] for p in _free_ports(2)]))
    env = dict(os.environ, MLX_HOSTFILE=str(hostfile), PYTHONPATH=REPO)
    procs = [
        subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", str(out_dir)],
            env=dict(env, MLX_RANK=str(r)),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    deadline, logs = time.monotonic() + timeout, []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            logs.append(out)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the two ranks did not finish within {timeout}s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for r, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"rank {r} failed:\n{log}"
    return [dict(np.load(out_dir / f"rank{r}.npz")) for r in range(2)]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    if not BD.is_available("ring"):
        pytest.skip("MLX's ring backend is not available in this MLX build")
    return _run_two_ranks(tmp_path_factory.mktemp("ranks"))


def _group(res, prefix):
    return {k[len(prefix) :]: v for k, v in res.items() if k.startswith(prefix)}


def test_two_ranks_match_single_process_sgd_on_the_concatenated_batches(two_ranks):
    r0, r1 = two_ranks
    assert int(r0["world"]) == 2 and int(r1["world"]) == 2
    # different initial weights, equalised from rank 0 by DataParallel
    assert not np.array_equal(r0["before.0.weight"], r1["before.0.weight"])
    for k, v in _group(r0, "init.").items():
        np.testing.assert_array_equal(v, r1["init." + k])
        np.testing.assert_array_equal(v, r0["before." + k])
    # the sampler gave each rank 3 batches; together they cover the dataset (19 -> 20 padded)
    assert r0["sizes"].tolist() == r1["sizes"].tolist() == [4, 4, 2]
    seen = np.concatenate([r0["batches"], r1["batches"]])
    assert len(seen) == 20 and set(seen.tolist()) == set(range(N_SAMPLES))
    cuts = np.cumsum(r0["sizes"])[:-1]
    b0, b1 = np.split(r0["batches"], cuts), np.split(r1["batches"], cuts)
    # reference: one process, plain BatchNorm3d, each step on rank 0's batch + rank 1's batch
    x, y = make_data()
    ref = make_model(nn.BatchNorm3d)
    ref.load_state_dict({k: lucid.tensor(v) for k, v in _group(r0, "init.").items()})
    opt = optim.SGD(ref.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    for i0, i1 in zip(b0, b1):
        idx = np.concatenate([i0, i1])
        opt.zero_grad()
        nn.CrossEntropyLoss()(ref(lucid.tensor(x[idx])), lucid.tensor(y[idx])).backward()
        opt.step()
    for k, want in params_np(ref).items():
        for r, res in enumerate((r0, r1)):
            np.testing.assert_allclose(
                res["final." + k], want, rtol=1e-4, atol=1e-5, err_msg=f"rank {r}: {k}"
            )
    assert int(r0["final.1.num_batches_tracked"]) == 3


def test_two_ranks_buckets_collectives_and_checkpoint(two_ranks):
    for r, res in enumerate(two_ranks):
        assert int(res["expected_buckets"]) > 1  # the tiny cap really split the gradients
        assert res["collectives"].tolist() == [int(res["expected_buckets"])] * 3
        assert int(res["one_call"]) == 1  # two small parameters: one bucket, one all-sum
        np.testing.assert_array_equal(res["only1"], [2.0, 3.0])  # (0 + [4, 6]) / 2
        assert bool(res["unused_none"])
        assert "ranks hold different tensors" in str(res["mismatch"]), r
        assert float(res["ckpt_diff"]) == 0.0 and int(res["ckpt_step"]) == 3
        np.testing.assert_array_equal(res["sum"], [3.0, 20.0])
        np.testing.assert_array_equal(res["mean"], [1.5, 10.0])
        np.testing.assert_array_equal(res["max"], [1, 0])
        np.testing.assert_array_equal(res["gather"], [[0.0], [1.0]])
        np.testing.assert_array_equal(res["bcast"], [8.0])


def test_mlx_launch_starts_two_connected_ranks():
    launcher = os.path.join(os.path.dirname(sys.executable), "mlx.launch")
    if not os.path.exists(launcher) or not BD.is_available("ring"):
        pytest.skip("mlx.launch or MLX's ring backend is not available here")
    port = _free_ports(1)[0]  # the launcher listens on port and port + 1
    proc = subprocess.Popen(
        [
            launcher,
            "-n",
            "2",
            "--backend",
            "ring",
            "-p",
            str(port),
            "--python",
            sys.executable,
            os.path.abspath(__file__),
            "--launch-check",
        ],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        pytest.fail("mlx.launch did not finish within 60 s")
    assert proc.returncode == 0, out
    assert "rank 0 of 2: sum 3.0" in out and "rank 1 of 2: sum 3.0" in out, out


# ----------------------------------------------------------------------------- one process
def test_single_process_is_a_group_of_one_and_collectives_are_identities(tmp_path):
    dist.init()
    assert dist.is_initialized() and dist.rank() == 0 and dist.world_size() == 1
    t = lucid.tensor([[1.0, -2.0]])
    for op in ("sum", "mean", "max", "min"):
        out = dist.all_reduce(t, op=op)
        np.testing.assert_array_equal(out.numpy(), t.numpy())
        assert out is not t and out.data is not t.data  # a new tensor, as documented
    np.testing.assert_array_equal(dist.all_gather(t).numpy(), t.numpy())
    np.testing.assert_array_equal(dist.broadcast(t).numpy(), t.numpy())
    dist.barrier()
    model = nn.Linear(3, 2)
    w = model.weight.numpy()
    (model(lucid.ones(4, 3)) ** 2).sum().backward()
    g = model.weight.grad.numpy()
    ddp = dist.DataParallel(model)
    dist.average_gradients(model)
    ddp.average_gradients()
    np.testing.assert_array_equal(model.weight.grad.numpy(), g)
    np.testing.assert_array_equal(model.weight.numpy(), w)
    x = lucid.randn(2, 3)
    np.testing.assert_array_equal(ddp(x).numpy(), model(x).numpy())
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]
    path = tmp_path / "one.safetensors"
    dist.save_on_rank0({"w": model.weight}, path)
    np.testing.assert_array_equal(lucid.load(path)["w"].numpy(), w)


def test_sync_batchnorm_single_process_matches_batchnorm3d():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((3, 2, 3, 2, 2)).astype(np.float32) * 2 + 1 for _ in range(2)]
    ref, sbn = nn.BatchNorm3d(2), dist.SyncBatchNorm(2, momentum=None)
    ref.momentum = None
    for m in (ref, sbn):
        m.weight.data = lucid.tensor([1.5, -0.5])
        m.bias.data = lucid.tensor([0.1, 0.2])
    seed = rng.standard_normal((3, 2, 3, 2, 2)).astype(np.float32)
    for xa in xs:
        outs = []
        for m in (ref, sbn):
            x = lucid.tensor(xa, requires_grad=True)
            out = m(x)
            out.backward(lucid.tensor(seed))
            outs.append((out.numpy(), x.grad.numpy(), m.weight.grad.numpy()))
            m.zero_grad()
        for a, b in zip(*outs):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(
            getattr(sbn, name).numpy(), getattr(ref, name).numpy(), rtol=1e-6
        )
    ref.eval(), sbn.eval()
    x = lucid.tensor(xs[0])
    np.testing.assert_allclose(sbn(x).numpy(), ref(x).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_sync_batchnorm_running_stats_are_cut_with_the_step(momentum):
    """300 training steps keep SyncBatchNorm's running statistics a bounded graph: the forward
    hands them to the step's one evaluation (the deferral registry holds them, the step empties
    it) and MLX's active memory stays flat after a warm-up. Updated off that evaluation, each
    step's statistics hung on the last ones' lazy chain, with the step's gathered per-channel
    table (~0.5 KB at 64 channels): ~150 KB over 300 steps."""
    gc.collect()
    lucid.random.seed(0)
    model = nn.Sequential(
        dist.SyncBatchNorm(64, momentum=momentum), nn.Flatten(), nn.Linear(128, 3)
    )
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = lucid.randn(4, 64, 2), lucid.tensor([0, 1, 2, 0])
    sbn = model[0]

    def steps(n):
        for _ in range(n):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            assert id(sbn.running_mean) in runtime._state().deferred
            assert id(sbn.running_var) in runtime._state().deferred
            loss.backward()
            opt.step()
            assert not runtime._state().deferred

    steps(20)
    gc.collect()
    active0 = memory.active()
    steps(300)
    gc.collect()
    assert memory.active() - active0 < 16 * 1024, (active0, memory.active())
    assert sbn.num_batches_tracked.item() == 320


def test_sync_standardize_gradcheck_and_values():
    x = np.random.default_rng(1).standard_normal((3, 2, 4)) * 3 + 2
    y, mean, var, count = sync_standardize(lucid.tensor(x, dtype="float64"), 1e-5)
    want = (x - x.mean(axis=(0, 2), keepdims=True)) / np.sqrt(
        x.var(axis=(0, 2), keepdims=True) + 1e-5
    )
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.array(var), x.var(axis=(0, 2)), rtol=1e-12)
    assert count == 12
    assert gradcheck(
        lambda t: sync_standardize(t, 1e-5)[0],
        [lucid.tensor(x, dtype="float64", requires_grad=True)],
    )
    with pytest.raises(ValueError, match="more than 1 value"):
        sync_standardize(lucid.tensor(np.ones((1, 2))), 1e-5)


def test_convert_sync_batchnorm_keeps_parameters_and_buffers():
    model = nn.Sequential(nn.Conv3d(1, 2, 1), nn.BatchNorm3d(2), nn.Sequential(nn.BatchNorm1d(4)))
    w, rm = model[1].weight, model[1].running_mean
    out = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model and isinstance(model[1], dist.SyncBatchNorm)
    assert isinstance(model[2][0], dist.SyncBatchNorm)
    assert model[1].weight is w and model[1].running_mean is rm
    assert list(model.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
        "2.0.weight",
        "2.0.bias",
        "2.0.running_mean",
        "2.0.running_var",
        "2.0.num_batches_tracked",
    ]
    with pytest.raises(ValueError, match="channels"):
        model[1](lucid.ones(2, 3, 2, 2, 2))


def test_plan_buckets_groups_by_dtype_in_order_under_the_cap():
    f32 = [lucid.zeros(n).data for n in (10, 10, 30, 5)]  # 40, 40, 120, 20 bytes
    f64 = lucid.zeros(3, dtype="float64").data
    plan = plan_buckets([f32[0], f64, f32[1], f32[2], f32[3]], cap_bytes=100)
    assert plan == [[0, 2], [3], [4], [1]]


# ----------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("n", [0, 3, 10, 11])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_distributed_sampler_shards(n, replicas):
    for drop_last in (False, True):
        shards = [
            list(dist.DistributedSampler(n, replicas, r, seed=5, drop_last=drop_last))
            for r in range(replicas)
        ]
        lengths = {len(s) for s in shards}
        assert len(lengths) == 1, "every rank must step the same number of times"
        per = n // replicas if drop_last else -(-n // replicas)
        assert lengths == {per}
        flat = [i for s in shards for i in s]
        assert all(0 <= i < n for i in flat)
        if drop_last:
            assert len(set(flat)) == len(flat) == per * replicas  # disjoint
        else:
            assert set(flat) == set(range(n))  # covered; the padding repeats a few indices
            assert len(flat) - len(set(flat)) == per * replicas - n


def test_distributed_sampler_epochs_seeds_and_loader():
    s = dist.DistributedSampler(list(range(12)), num_replicas=2, rank=1, seed=4)
    e0 = list(s)
    assert list(s) == e0  # the same epoch again: the same order
    s.set_epoch(1)
    assert list(s) != e0  # a new epoch: a new order
    other = dist.DistributedSampler(12, num_replicas=2, rank=0, seed=4)
    other.set_epoch(1)
    assert not set(other) & set(s) and len(set(other) | set(s)) == 12
    assert list(dist.DistributedSampler(12, 2, 1, seed=5)) != e0  # the seed matters
    assert list(dist.DistributedSampler(5, 2, 1, shuffle=False)) == [1, 3, 0]
    data = np.arange(12, dtype=np.float32) * 10
    loader = DataLoader(TensorDataset(data), batch_size=4, sampler=s)
    assert len(loader) == 2
    got = np.concatenate([b[0].numpy() for b in loader])
    np.testing.assert_array_equal(got, data[list(s)])


def test_distributed_sampler_bad_arguments():
    with pytest.raises(ValueError, match="rank"):
        dist.DistributedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        dist.DistributedSampler(10, num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="length"):
        dist.DistributedSampler(object())
    with pytest.raises(ValueError, match="epoch"):
        dist.DistributedSampler(10, 1, 0).set_epoch(-1)


# ----------------------------------------------------------------------------- errors
def test_unavailable_backend_raises_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        dist.init(backend="gloo")
    monkeypatch.setattr(BD, "is_available", lambda backend="any": False)
    with pytest.raises(RuntimeError, match="not available.*mlx.launch"):
        dist.init(backend="ring", strict=True)


def test_strict_init_without_a_launcher_says_how_to_launch(monkeypatch):
    monkeypatch.delenv("MLX_RANK", raising=False)
    monkeypatch.delenv("MLX_HOSTFILE", raising=False)
    with pytest.raises(RuntimeError, match="failed in MLX.*mlx.launch -n 2"):
        dist.init(backend="ring", strict=True)


def test_launched_rank_left_alone_raises(monkeypatch, tmp_path):
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([["127.0.0.1:1"], ["127.0.0.1:2"]]))
    monkeypatch.setenv("MLX_RANK", "0")
    monkeypatch.setenv("MLX_HOSTFILE", str(hostfile))
    monkeypatch.setattr(BD, "_group", None)
    monkeypatch.setattr(BD.mx.distributed, "init", lambda strict, backend: _OneProcess())
    with pytest.raises(RuntimeError, match="one of 2 ranks"):
        dist.init(backend="mpi")


class _OneProcess:
    """Stands in for the group MLX returns when a backend falls back to one process."""

    def rank(self):
        return 0

    def size(self):
        return 1


def test_bad_arguments():
    t = lucid.tensor([1, 2])
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(t, op="prod")
    with pytest.raises(TypeError, match="floating"):
        dist.all_reduce(t, op="mean")
    with pytest.raises(ValueError, match="root"):
        dist.broadcast(t, root=1)
    with pytest.raises(TypeError, match="Module or an iterable"):
        dist.average_gradients(3)
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        dist.average_gradients(nn.Linear(1, 1), bucket_cap_mb=0)
    with pytest.raises(TypeError, match="wraps a Module"):
        dist.DataParallel(lambda x: x)


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker(sys.argv[2])
elif __name__ == "__main__" and sys.argv[1:2] == ["--launch-check"]:
    dist.init(backend="ring", strict=True)
    total = dist.all_reduce(lucid.tensor([dist.rank() + 1.0])).item()
    print(f"rank {dist.rank()} of {dist.world_size()}: sum {total}", flush=True)
