"""DataLoader workers: the same batches in the same order for any num_workers (per-sample RNG),
prefetching while the consumer works, worker errors raised with their traceback, timeouts,
worker_init_fn / get_worker_info, persistent workers, and threads that end when an iterator is
abandoned or the interpreter exits. Waits use events with generous limits: nothing is timed."""

import gc
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import lucid
from lucid.data import DataLoader, Dataset, get_worker_info, sample_rng
from lucid.data.workers import THREAD_PREFIX

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Augmented(Dataset):
    """Volumes with random flips and noise drawn from sample_rng(), plus plain fields."""

    def __len__(self):
        return 23

    def __getitem__(self, i):
        rng = sample_rng()
        x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4) + i
        if rng.random() < 0.5:
            x = np.flip(x, 1)
        x = x + rng.normal(size=x.shape).astype(np.float32)
        return {"x": x, "y": i, "w": rng.random(), "name": f"s{i}"}


def run(loader):
    return [(b["x"].numpy(), b["y"].tolist(), b["w"].numpy(), b["name"]) for b in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (x1, y1, w1, n1), (x2, y2, w2, n2) in zip(a, b):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(w1, w2)
        assert (y1, n1) == (y2, n2)


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


_EARLIER: set = set()  # worker threads alive when the current test began


@pytest.fixture(autouse=True)
def _earlier_worker_threads():
    """Each test checks the threads of its own loaders: those alive before it began (an
    earlier test's loader not yet collected) are set aside."""
    gc.collect()
    _EARLIER.clear()
    _EARLIER.update(worker_threads())
    yield


def wait_for_worker_threads_to_end():
    """This test's worker threads still alive after waiting for each (up to 60 s)."""
    gc.collect()  # loaders and iterators this test dropped inside a reference cycle
    mine = [t for t in worker_threads() if t not in _EARLIER]
    for t in mine:
        t.join(timeout=60)
    return [t for t in mine if t.is_alive()]


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_do_not_depend_on_num_workers(shuffle):
    runs = {}
    for n in (0, 1, 2, 3):
        loader = DataLoader(Augmented(), batch_size=4, shuffle=shuffle, seed=7, num_workers=n)
        runs[n] = (run(loader), run(loader))  # two epochs
    for n in (1, 2, 3):
        for epoch in (0, 1):
            assert_same_batches(runs[0][epoch], runs[n][epoch])
    first, second = runs[0]
    assert not np.array_equal(first[0][0], second[0][0])  # a new epoch, new augmentations
    ys = [y for _, batch_y, _, _ in first for y in batch_y]
    assert sorted(ys) == list(range(23)) and (ys == list(range(23))) != shuffle
    other = run(DataLoader(Augmented(), batch_size=4, shuffle=shuffle, seed=8, num_workers=2))
    assert not np.array_equal(other[0][0], first[0][0])


def test_sample_rng_outside_a_loader_follows_lucid_seed():
    lucid.random.seed(3)
    a = Augmented()[0]["x"]
    lucid.random.seed(3)
    np.testing.assert_array_equal(Augmented()[0]["x"], a)


class Gated(Dataset):
    """Records which indices were fetched; index ``gate_at`` waits for an event."""

    def __init__(self, n=12, gate_at=None):
        self.n, self.gate_at = n, gate_at
        self.fetched = set()
        self.release = threading.Event()
        self.progress = threading.Condition()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.gate_at:
            self.release.wait(timeout=60)
        with self.progress:
            self.fetched.add(i)
            self.progress.notify_all()
        return np.float32(i)


def test_workers_prefetch_while_the_consumer_holds_a_batch():
    ds = Gated()
    it = iter(DataLoader(ds, batch_size=2, num_workers=2, prefetch_factor=2))
    assert next(it).tolist() == [0.0, 1.0]
    with ds.progress:  # without asking for more, the next batches get fetched
        assert ds.progress.wait_for(lambda: {2, 3, 4, 5} <= ds.fetched, timeout=60)
    assert [b.tolist() for b in it] == [[2, 3], [4, 5], [6, 7], [8, 9], [10, 11]]


def test_tensors_are_made_in_the_iterating_thread(monkeypatch):
    import lucid.data.loader as loader_module

    makers = []
    real = loader_module.finish_batch
    monkeypatch.setattr(
        loader_module,
        "finish_batch",
        lambda tree: (makers.append(threading.current_thread()), real(tree))[1],
    )
    collated = []
    list(DataLoader(Augmented(), batch_size=5, num_workers=2))
    list(
        DataLoader(
            Augmented(),
            batch_size=5,
            num_workers=2,
            collate_fn=lambda s: collated.append(threading.current_thread()),
        )
    )
    assert set(makers) == set(collated) == {threading.current_thread()}
    assert len(makers) == len(collated) == 5


class Failing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise ValueError(f"sample {i} is corrupt")
        return np.float32(i)


@pytest.mark.parametrize("num_workers", [1, 2])
def test_worker_errors_surface_with_their_traceback(num_workers):
    loader = DataLoader(Failing(), batch_size=2, num_workers=num_workers)
    got = []
    with pytest.raises(
        ValueError,
        match=r"(?s)Caught ValueError in DataLoader worker \d.*"
        r"Traceback.*in __getitem__.*sample 5 is corrupt",
    ):
        for b in loader:
            got.append(b.tolist())
    assert got == [[0, 1], [2, 3]]  # the batches before the failing one, in order
    assert wait_for_worker_threads_to_end() == []


def test_worker_init_fn_and_worker_info():
    seen, infos = [], []

    class Spy(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            infos.append(get_worker_info())
            return np.float32(i)

    loader = DataLoader(Spy(), batch_size=2, num_workers=3, seed=100, worker_init_fn=seen.append)
    list(loader)
    assert sorted(seen) == [0, 1, 2] and get_worker_info() is None
    assert {(w.num_workers, w.seed - w.id) for w in infos} == {(3, loader._base_seed)}
    assert all(w.dataset is loader.dataset for w in infos)

    def broken(worker_id):
        raise RuntimeError(f"no GPU for worker {worker_id}")

    with pytest.raises(RuntimeError, match="(?s)DataLoader worker.*no GPU for worker"):
        list(DataLoader(Spy(), batch_size=2, num_workers=1, worker_init_fn=broken))


def test_timeout_raises():
    ds = Gated(n=4, gate_at=2)
    loader = DataLoader(ds, batch_size=2, num_workers=1, timeout=0.2)
    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        list(loader)
    ds.release.set()
    assert wait_for_worker_threads_to_end() == []


def test_persistent_workers_keep_their_threads():
    idents = []

    class Where(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            idents.append(threading.get_ident())
            return np.float32(i)

    assert wait_for_worker_threads_to_end() == []  # earlier loaders' threads are gone
    loader = DataLoader(Where(), batch_size=2, num_workers=2, persistent_workers=True)
    list(loader)
    threads = [t for t in worker_threads() if t not in _EARLIER]
    assert len(threads) == 2 and all(t.is_alive() for t in threads)  # alive between epochs
    list(loader)
    assert [t for t in worker_threads() if t not in _EARLIER] == threads
    assert set(idents) <= {t.ident for t in threads} and len(idents) == 12
    del loader
    gc.collect()
    assert wait_for_worker_threads_to_end() == []


def test_an_abandoned_iterator_ends_its_threads():
    it = iter(DataLoader(Gated(n=100), batch_size=2, num_workers=2))
    next(it)
    assert worker_threads()
    del it
    gc.collect()
    assert wait_for_worker_threads_to_end() == []


EXIT_SCRIPT = textwrap.dedent("""
    import numpy as np
    from lucid.data import DataLoader, Dataset

    class Slow(Dataset):
        def __len__(self):
            return 1000

        def __getitem__(self, i):
            return np.ones((16, 16, 16), np.float32) * i

    it = iter(DataLoader(Slow(), batch_size=4, num_workers=2))  # kept alive until exit
    next(it)
    for batch in DataLoader(Slow(), batch_size=4, num_workers=2):
        break  # abandoned by break
    print("done", flush=True)
""")


def test_interpreter_exits_cleanly_with_live_iterators():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done" and out.stderr == ""


def test_worker_arguments_are_checked_like_pytorch():
    ds = Augmented()
    with pytest.raises(ValueError, match="prefetch_factor needs num_workers > 0"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="num_workers"):
            DataLoader(ds, num_workers=bad)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, num_workers=1, prefetch_factor=0)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(ds, num_workers=1, timeout=-1)
    loader = DataLoader(ds, batch_size=4, num_workers=2, pin_memory=True)  # accepted, no-op
    assert loader.prefetch_factor == 2 and len(run(loader)) == 6


class TensorItems(Dataset):
    """Samples holding Lucid Tensors made (and computed on) in the worker thread."""

    table = lucid.tensor(np.arange(40, dtype=np.float32).reshape(20, 2))

    def __len__(self):
        return 20

    def __getitem__(self, i):
        return {
            "row": self.table[i] * 2 + 1,
            "half": lucid.tensor([i / 4], dtype="bfloat16"),
            "pair": (lucid.tensor(i), i % 2 == 0),
        }


@pytest.mark.parametrize("collate_fn", [None, lambda samples: samples])
def test_datasets_returning_tensors_work_with_workers(collate_fn):
    def flat(batch):
        if collate_fn is not None:  # a list of samples, Tensors rebuilt in this thread
            return [(s["row"].tolist(), s["half"].dtype, s["pair"][0].item()) for s in batch]
        return (
            batch["row"].tolist(),
            batch["half"].dtype,
            batch["half"].astype("float32").tolist(),
            batch["pair"][0].tolist(),
            batch["pair"][1].tolist(),
        )

    want = [flat(b) for b in DataLoader(TensorItems(), batch_size=6, collate_fn=collate_fn)]
    got = [
        flat(b)
        for b in DataLoader(TensorItems(), batch_size=6, collate_fn=collate_fn, num_workers=3)
    ]
    assert got == want and len(got) == 4
