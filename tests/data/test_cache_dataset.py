"""CacheDataset / PersistentDataset: the deterministic prefix of a transform chain runs once per
item (counted), the random rest on every read; samples equal those of the uncached pipeline
drawing from sample_rng(); cached values are never changed by the random part; the disk cache
is reused across instances and processes, keyed by item content and transform parameters,
recovers from damaged files and writes atomically; loader worker threads share both."""

import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import lucid
from lucid import transforms as T
from lucid.data import (
    CacheDataset,
    DataLoader,
    Dataset,
    PersistentDataset,
    cache,
    sample_rng,
)
from lucid.data.chain import TransformChain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Counted(T.Transform):
    """Deterministic: ``image * scale + 1``, counting its calls (threads too)."""

    def __init__(self, scale=2.0):
        super().__init__()
        self.scale, self.calls = scale, 0

    def image(self, image, params):
        """Counted affine map of the values."""
        with _LOCK:
            self.calls += 1
        return image * np.float32(self.scale) + np.float32(1)


_LOCK = threading.Lock()


class CountedNoise(T.Transform):
    """Random: adds one drawn offset, counting its calls."""

    is_random = True

    def __init__(self):
        super().__init__()
        self.calls = 0

    def draw(self, rng, spatial):
        """The offset."""
        return np.float32(rng.normal())

    def image(self, image, offset):
        """The shifted image."""
        with _LOCK:
            self.calls += 1
        return image + offset


class AddInPlace(T.Transform):
    """Random in name only: adds 1 to the array it is given, in place."""

    is_random = True

    def image(self, image, params):
        """The same array, plus one."""
        image += 1
        return image


def volumes(n=6, size=6, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, 1, size, size, size)).astype(np.float32)
    labels = (images[:, 0] > 0.5).astype(np.int64)
    return [(images[i], labels[i]) for i in range(n)]


class Uncached(Dataset):
    """The reference: the whole pipeline on every read, drawing from sample_rng()."""

    def __init__(self, data, pipeline):
        self.data, self.pipeline = data, pipeline

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.pipeline(*self.data[i], rng=sample_rng())


def pipeline(counted=None):
    return T.Compose(
        [
            T.PadToSize(8),
            counted or Counted(),
            T.NormalizeIntensity(),
            T.RandomFlip(),
            T.RandomAffine(degrees=10, p=0.5),
            T.RandomCrop(6),
            T.GaussianNoise(0.1),
        ]
    )


def epochs(dataset, n=2, workers=0, seed=0):
    loader = DataLoader(dataset, batch_size=4, shuffle=True, seed=seed, num_workers=workers)
    return [[(x.numpy(), y.numpy()) for x, y in loader] for _ in range(n)]


def assert_same(a, b):
    assert len(a) == len(b)
    for batches_a, batches_b in zip(a, b):
        assert len(batches_a) == len(batches_b)
        for (x1, y1), (x2, y2) in zip(batches_a, batches_b):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)


def cache_files(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))


# --- CacheDataset ----------------------------------------------------------------------------
def test_deterministic_steps_run_once_per_item_random_ones_every_read():
    data = volumes()
    counted, noise = Counted(), CountedNoise()
    ds = CacheDataset(data, [T.PadToSize(8), counted, noise, T.RandomFlip()])
    assert counted.calls == len(data) and noise.calls == 0
    assert [type(s).__name__ for s in ds.chain.prefix] == ["PadToSize", "Counted"]
    for _ in DataLoader(ds, batch_size=4, shuffle=True, seed=0):
        pass
    for _ in DataLoader(ds, batch_size=4, shuffle=True, seed=1, num_workers=2):
        pass
    assert counted.calls == len(data) and noise.calls == 2 * len(data)


@pytest.mark.parametrize("workers", [0, 2])
def test_samples_equal_the_uncached_pipelines(workers, tmp_path):
    data = volumes()
    expected = epochs(Uncached(data, pipeline()), workers=0)
    # the random part differs between epochs, so equal epochs are not a cache of the sample
    assert not np.array_equal(expected[0][0][0], expected[1][0][0])
    for ds in (
        CacheDataset(data, pipeline()),
        CacheDataset(data, pipeline(), cache_rate=0.5, num_workers=2),  # half cached
        PersistentDataset(data, pipeline(), tmp_path),  # writes
        PersistentDataset(data, pipeline(), tmp_path),  # reads
        PersistentDataset(data, pipeline(), None),
    ):
        assert_same(epochs(ds, workers=workers), expected)


def test_random_steps_never_change_the_cache_or_the_data(tmp_path):
    data = [np.zeros((1, 2, 2, 2), np.float32)]
    ds = CacheDataset(data, [Counted(), AddInPlace()])
    for _ in range(3):  # 0 * 2 + 1, then + 1 in place, on a fresh copy each time
        np.testing.assert_array_equal(ds[0], np.full((1, 2, 2, 2), 2, np.float32))
    out = ds[0]
    out += 100  # what a caller does with a sample does not reach the cache either
    np.testing.assert_array_equal(ds[0], np.full((1, 2, 2, 2), 2, np.float32))
    for batch in DataLoader(ds, batch_size=None):
        np.testing.assert_array_equal(batch.numpy(), np.full((1, 2, 2, 2), 2, np.float32))
    assert ds.copy_cache

    def same(x):
        return x

    same.is_random = False
    for ds in (
        CacheDataset(data, [same, AddInPlace()]),  # the cache holds the data's own array
        CacheDataset(data, [same, AddInPlace()], cache_rate=0),
        PersistentDataset(data, [same, AddInPlace()], tmp_path),  # computed, then read
        PersistentDataset(data, [same, AddInPlace()], None),
        PersistentDataset(data, [AddInPlace()], tmp_path),
    ):
        for _ in range(2):
            np.testing.assert_array_equal(ds[0], np.ones((1, 2, 2, 2), np.float32))
        np.testing.assert_array_equal(data[0], np.zeros((1, 2, 2, 2), np.float32))
    shared = CacheDataset(data, [Counted()], copy_cache=False)
    assert shared[0] is shared[0]  # the cached array itself, as asked


def test_cache_rate_and_cache_num_cache_a_prefix_of_items():
    data = [np.full((1, 2, 2, 2), i, np.float32) for i in range(10)]
    counted = Counted()
    ds = CacheDataset(data, [counted], cache_rate=0.35)
    assert ds.cache_num == 3 and counted.calls == 3  # MONAI's int(10 * 0.35)
    for _ in range(2):
        got = [ds[i] for i in range(10)]
    assert counted.calls == 3 + 2 * 7
    for i, x in enumerate(got):
        np.testing.assert_array_equal(x, data[i] * 2 + 1)
    assert CacheDataset(data, [Counted()], cache_num=4).cache_num == 4
    assert CacheDataset(data, [Counted()], cache_num=4, cache_rate=0.2).cache_num == 2
    assert CacheDataset(data, None, cache_rate=0).cache_num == 0
    assert CacheDataset([], [Counted()]).cache_num == 0


def test_threads_fill_the_cache_and_raise_a_failure():
    data = [np.full((1, 2, 2, 2), i, np.float32) for i in range(7)]
    counted, threads = Counted(), set()

    def where(x):
        threads.add(threading.current_thread().name)
        return x

    where.is_random = False
    ds = CacheDataset(data, [where, counted], num_workers=3)
    assert counted.calls == 7 and ds.num_workers == 3
    assert threads == {"lucid-cache-0", "lucid-cache-1", "lucid-cache-2"}
    for i in range(7):
        np.testing.assert_array_equal(ds[i], data[i] * 2 + 1)
    assert [x.tolist() for x in ds[-2:]] == [ds[5].tolist(), ds[6].tolist()]  # a Subset

    def fail_on_five(x):
        if x.flat[0] == 5:
            raise ValueError("item five")
        return x

    fail_on_five.is_random = False
    with pytest.raises(ValueError, match="item five"):
        CacheDataset(data, fail_on_five, num_workers=3)
    assert not [t for t in threading.enumerate() if t.name.startswith("lucid-cache")]


def test_dict_and_tuple_items():
    data = volumes(3)
    chain = [T.CenterCrop(4), T.ScaleIntensity(), T.RandomRotate90(p=1.0)]
    ref = T.Compose(chain)
    dicts = [{"image": x, "label": y, "id": f"case{i}"} for i, (x, y) in enumerate(data)]
    tuples = [(x, i) for i, (x, _) in enumerate(data)]  # (image, class index)
    for i, (x, y) in enumerate(data):
        lucid.manual_seed(i)
        want_x, want_y = ref(x, y, rng=sample_rng())
        lucid.manual_seed(i)
        got = CacheDataset(dicts, chain)[i]
        assert got["id"] == f"case{i}"
        np.testing.assert_array_equal(got["image"], want_x)
        np.testing.assert_array_equal(got["label"], want_y)
        lucid.manual_seed(i)
        want = ref(x, rng=sample_rng())
        lucid.manual_seed(i)
        got_x, got_i = CacheDataset(tuples, chain)[i]
        np.testing.assert_array_equal(got_x, want)
        assert got_i == i
    with pytest.raises(KeyError, match=r"item\['image'\].*\['label', 'x'\]"):
        CacheDataset([{"x": data[0][0], "label": data[0][1]}], chain)


def test_transforms_with_their_own_call_get_the_whole_item():
    class AddKey(T.Transform):  # a dict transform: no rng parameter
        def __call__(self, item):
            return {**item, "seen": True}

    class Shift(T.Transform):  # a random dict transform drawing from the rng it is given
        is_random = True

        def __call__(self, item, rng=None):
            return {**item, "image": item["image"] + rng.integers(1, 100)}

    data = [{"image": np.zeros(2)}]
    ds = CacheDataset(data, [AddKey(), Shift()])
    assert [type(t).__name__ for t in ds.chain.prefix] == ["AddKey"]
    lucid.manual_seed(0)
    got = ds[0]
    lucid.manual_seed(0)
    assert got["seen"] and got["image"][0] == sample_rng().integers(1, 100)


# --- what counts as random ---------------------------------------------------------------------
ALL_TRANSFORMS = [
    T.RandomFlip(),
    T.CenterCrop(4),
    T.RandomCrop(4),
    T.PadToSize(8),
    T.RandomRotate90(),
    T.Affine(rotation=0.1),
    T.RandomAffine(),
    T.Resize(4),
    T.NormalizeIntensity(),
    T.ScaleIntensity(),
    T.ShiftIntensity(1.0),
    T.RandomGamma(),
    T.GaussianNoise(),
]


def test_is_random_says_which_transforms_draw():
    classes = {
        getattr(T, n)
        for n in T.__all__
        if isinstance(getattr(T, n), type)
        and issubclass(getattr(T, n), T.Transform)
        # the dictionary transforms take samples: tests/test_transforms_meta.py sweeps them
        and not issubclass(getattr(T, n), T.MapTransform)
    }
    assert classes - {T.Transform, T.Compose} == {type(t) for t in ALL_TRANSFORMS}
    image = np.random.default_rng(0).standard_normal((1, 6, 6, 6)).astype(np.float32)
    for t in ALL_TRANSFORMS:
        rng = np.random.default_rng(0)
        t(image, rng=rng)
        drew = rng.bit_generator.state != np.random.default_rng(0).bit_generator.state
        assert t.is_random == drew, type(t).__name__
    assert not T.Compose([T.CenterCrop(4)]).is_random
    assert T.Compose([T.CenterCrop(4), T.RandomFlip()]).is_random
    assert T.Compose([lambda x, rng=None: x]).is_random  # unknown: may draw


def test_a_deterministic_step_that_draws_is_refused():
    class Sneaky(T.Transform):  # draws, but keeps Transform's is_random = False
        def draw(self, rng, spatial):
            return rng.random()

        def image(self, image, params):
            return image + params

    with pytest.raises(TypeError, match="Sneaky.*drew random numbers.*is_random = True"):
        CacheDataset([np.zeros((1, 2, 2, 2))], [T.CenterCrop(2), Sneaky()])


def test_plain_functions_count_as_random_unless_marked():
    def double(x):
        return x * 2

    crop = T.CenterCrop(2)
    with pytest.warns(RuntimeWarning, match="no is_random attribute.*is_random = False"):
        chain = TransformChain([double, crop], "CacheDataset")
    assert chain.prefix == [] and chain.suffix == [double, crop]
    double.is_random = False
    assert TransformChain([double, crop], "CacheDataset").prefix == [double, crop]


def test_bad_arguments():
    data = [np.zeros((1, 2, 2, 2))]
    for rate in (-0.1, 1.5, "1", True):
        with pytest.raises(ValueError, match="cache_rate must be in"):
            CacheDataset(data, cache_rate=rate)
    with pytest.raises(ValueError, match="num_workers"):
        CacheDataset(data, num_workers=-1)
    with pytest.raises(ValueError, match="cache_num must be >= 0"):
        CacheDataset(data, cache_num=-1)
    with pytest.raises(TypeError, match="transform must be a callable"):
        CacheDataset(data, transform=3)
    with pytest.raises(TypeError, match="data must be a sequence"):
        PersistentDataset(iter(data))
    with pytest.raises(IndexError, match="index 1 is out of range for a CacheDataset of size 1"):
        CacheDataset(data)[1]


# --- PersistentDataset ---------------------------------------------------------------------------
def test_disk_cache_is_reused_by_new_instances(tmp_path):
    data = volumes()
    first = Counted()
    ds = PersistentDataset(data, pipeline(first), tmp_path)
    assert cache_files(tmp_path) == []  # filled when read, as MONAI's
    run1 = epochs(ds)
    assert first.calls == len(data) and len(cache_files(tmp_path)) == len(data)
    second = Counted()
    run2 = epochs(PersistentDataset(data, pipeline(second), tmp_path))
    assert second.calls == 0
    assert_same(run1, run2)
    named = sorted(os.path.basename(ds.cache_path(i)) for i in range(len(data)))
    assert named == cache_files(tmp_path)


def test_a_changed_deterministic_transform_makes_new_entries(tmp_path):
    data = volumes(3)

    def read(scale, crop):
        counted = Counted(scale)
        ds = PersistentDataset(data, [counted, T.RandomCrop(crop)], tmp_path)
        ds[0]
        return counted.calls, ds.cache_path(0)

    calls, path = read(2.0, 6)
    assert calls == 1  # written
    assert read(2.0, 6) == (0, path)  # read back
    calls, changed = read(3.0, 6)
    assert calls == 1 and changed != path  # a new parameter: a new entry, computed
    assert read(2.0, 5) == (0, path)  # the random crop's size is not part of the key
    assert len(cache_files(tmp_path)) == 2

    def offset(x):
        return x + 1

    offset.is_random = False

    def offset2(x):
        return x + 2

    offset2.is_random = False
    offset2.__qualname__ = offset.__qualname__  # same name, other code
    paths = {PersistentDataset(data, f, tmp_path).cache_path(0) for f in (offset, offset2)}
    assert len(paths) == 2


def test_the_key_hashes_item_content_and_is_the_same_in_another_process(tmp_path):
    data = [np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2), "scan.nii.gz", {"a": 1.5}]
    chain = [T.CenterCrop(2), T.NormalizeIntensity(nonzero=True)]
    ds = PersistentDataset(data, chain, tmp_path)
    paths = [ds.cache_path(i) for i in range(3)]
    assert len(set(paths)) == 3
    same = PersistentDataset([d.copy() if hasattr(d, "copy") else d for d in data], chain, tmp_path)
    assert [same.cache_path(i) for i in range(3)] == paths
    other = PersistentDataset([data[0] + 1, "scan2.nii.gz", {"a": 1.25}], chain, tmp_path)
    assert not {other.cache_path(i) for i in range(3)} & set(paths)
    as_float64 = PersistentDataset([data[0].astype(np.float64)], chain, tmp_path)
    assert as_float64.cache_path(0) != paths[0]
    code = (
        "import numpy as np; from lucid import transforms as T; "
        "from lucid.data import PersistentDataset as P; "
        "data = [np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2), 'scan.nii.gz', {'a': 1.5}]; "
        f"ds = P(data, [T.CenterCrop(2), T.NormalizeIntensity(nonzero=True)], {str(tmp_path)!r}); "
        "print([ds.cache_path(i) for i in range(3)])"
    )
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr(paths)


def test_values_types_and_dtypes_come_back_exactly(tmp_path):
    def load(x):
        return {
            "image": x.astype(np.float16),
            "mask": x > 0,
            "spacing": (1.0, np.float32(0.5), 2),
            "id": np.int64(7),
            "name": "case-7",
            "extra": [None, True, {3: "three"}],
            "nan": float("nan"),
        }

    load.is_random = False
    data = [np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2) - 3]
    want = load(data[0])
    PersistentDataset(data, load, tmp_path)[0]  # written
    got = PersistentDataset(data, load, tmp_path)[0]  # read back

    def same(a, b):
        assert type(a) is type(b), (a, b)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        elif isinstance(a, dict):
            assert list(a) == list(b)
            for k in a:
                same(a[k], b[k])
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
        elif isinstance(a, float) and np.isnan(a):
            assert np.isnan(b)
        else:
            assert a == b and (not isinstance(a, np.generic) or a.dtype == b.dtype)

    same(want, got)


def test_unstorable_outputs_and_unhashable_items_are_refused(tmp_path):
    def to_set(x):
        return {"ids": {1, 2}}

    to_set.is_random = False
    with pytest.raises(TypeError, match=r"item 0: .*builtins.set at \['ids'\]"):
        PersistentDataset([np.zeros(2)], to_set, tmp_path)[0]
    with pytest.raises(TypeError, match=r"cannot hash the item 0 at \['x'\]: a builtins.object"):
        PersistentDataset([{"x": object()}], [T.CenterCrop(1)], tmp_path)[0]
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other entry"])
def test_a_damaged_file_is_recomputed(tmp_path, damage):
    data = volumes(2)
    counted = Counted()
    ds = PersistentDataset(data, [counted, T.RandomFlip()], tmp_path)
    lucid.manual_seed(0)
    want = ds[0]
    ds[1]
    path, other = ds.cache_path(0), ds.cache_path(1)
    blob = pathlib.Path(path).read_bytes()
    if damage == "truncate":
        blob = blob[: len(blob) - 100]
    elif damage == "flip":  # one bit of an array's data: only the checksum sees it
        blob = blob[:-300] + bytes([blob[-300] ^ 4]) + blob[-299:]
    elif damage == "garbage":
        blob = b"\x00" * 50
    elif damage == "empty":
        blob = b""
    else:
        blob = pathlib.Path(other).read_bytes()
    with open(path, "wb") as f:
        f.write(blob)
    counted.calls = 0
    lucid.manual_seed(0)
    with pytest.warns(RuntimeWarning, match="cache file .* is damaged"):
        got = ds[0]
    assert counted.calls == 1
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    ds[0]  # rewritten: read with no warning, no computation
    assert counted.calls == 1


def test_writes_are_atomic(tmp_path, monkeypatch):
    data = volumes(1)
    ds = PersistentDataset(data, [Counted(), T.RandomFlip()], tmp_path)
    final = ds.cache_path(0)
    seen = []
    write = cache._write_bytes

    def watching(f, buffer):  # while bytes go out, only a temporary name exists
        seen.append(os.listdir(tmp_path))
        write(f, buffer)

    monkeypatch.setattr(cache, "_write_bytes", watching)
    ds[0]
    name = os.path.basename(final)
    assert seen and all(len(names) == 1 and names[0] != name for names in seen)
    assert os.listdir(tmp_path) == [name]  # renamed: no temporary file left

    os.remove(final)

    def failing(f, buffer):  # a full disk halfway through
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_write_bytes", failing)
    lucid.manual_seed(0)
    with pytest.warns(RuntimeWarning, match="cannot write the cache file.*No space left"):
        got = ds[0]
    lucid.manual_seed(0)
    np.testing.assert_array_equal(got[0], CacheDataset(data, [Counted(), T.RandomFlip()])[0][0])
    assert os.listdir(tmp_path) == []  # no partial file under either name


def test_loader_workers_fill_and_share_the_disk_cache(tmp_path):
    data = volumes(8)
    counted = Counted()
    ds = PersistentDataset(data, pipeline(counted), tmp_path)
    with_workers = epochs(ds, n=3, workers=2)
    assert counted.calls == len(data) and len(cache_files(tmp_path)) == len(data)
    assert not [f for f in os.listdir(tmp_path) if not f.endswith(".safetensors")]
    assert_same(with_workers, epochs(Uncached(data, pipeline()), n=3))


def test_workers_writing_the_same_entry_at_once(tmp_path):
    data = volumes(1) * 8  # one item, eight times: both workers compute and write it
    ds = PersistentDataset(data, [Counted(), T.RandomFlip(p=0.0)], tmp_path)
    want = np.asarray(data[0][0]) * 2 + 1
    for _ in range(2):
        for x, _y in DataLoader(ds, batch_size=1, num_workers=2):
            np.testing.assert_array_equal(x.numpy()[0], want)
    assert os.listdir(tmp_path) == [os.path.basename(ds.cache_path(0))]


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    host, tmp = cache._HOST, cache._TMP
    dead = tmp_path / f".abc.safetensors.{host}.99999999.0badf00d{tmp}"  # no such process
    alive = tmp_path / f".abc.safetensors.{host}.{os.getpid()}.0badf00d{tmp}"  # mid-write
    other = tmp_path / "notes.txt"
    for f in (dead, alive, other):
        f.write_bytes(b"x")
    PersistentDataset([], None, tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, other.name])


SCALE = 2.0  # read by the transform below as a module global


def test_a_changed_global_value_a_transform_reads_makes_new_entries(tmp_path, monkeypatch):
    def scaled(x):
        return x * SCALE

    scaled.is_random = False
    data = [image for image, _ in volumes(2)]
    first = PersistentDataset(data, [scaled], tmp_path)
    np.testing.assert_allclose(first[0], data[0] * 2.0)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 3.0)
    second = PersistentDataset(data, [scaled], tmp_path)
    assert second.cache_path(0) != first.cache_path(0)
    np.testing.assert_allclose(second[0], data[0] * 3.0)  # computed again, not the old entry
