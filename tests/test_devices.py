"""``lucid.device``, the device strings ``Tensor.to``/``device=`` accept and where they run,
``lucid.cuda``, ``lucid.mps``, ``lucid.backends.mps`` and ``lucid.autocast``.

The routing for GPUs this machine lacks is tested with the backend's GPU detection
monkeypatched (``fake_gpu``): only the decisions are checked there, nothing runs on the GPU."""

import copy
import pickle
import warnings

import numpy as np
import pytest

import lucid
import lucid._backend as B
from lucid import nn
from lucid._backend import core as backend_core, runtime


@pytest.fixture
def fake_gpu(monkeypatch):
    """``fake_gpu(kind)``: the backend reports ``kind`` ("metal", "cuda" or None) as MLX's GPU."""

    def set_kind(kind):
        monkeypatch.setattr(backend_core, "gpu_kind", lambda: kind)
        monkeypatch.setattr(B, "gpu_kind", lambda: kind)
        monkeypatch.setattr(backend_core, "_warned_no_gpu", True)  # the fallback warning: given

    return set_kind


# --- lucid.device ------------------------------------------------------------------------------
def test_device_objects_have_type_index_and_compare_as_their_strings():
    cpu, cuda0 = lucid.device("cpu"), lucid.device("cuda", 0)
    assert cpu.type == "cpu" and cpu.index is None and str(cpu) == "cpu"
    assert cuda0.type == "cuda" and cuda0.index == 0 and str(cuda0) == "cuda:0"
    assert cuda0 == lucid.device("cuda:0") == "cuda:0" and cpu == "cpu"
    assert "cpu" == cpu  # noqa: SIM300  (the string on the left: str.__eq__ decides)
    assert cpu != "gpu" and lucid.device("cuda") != cuda0  # as PyTorch: no index != index 0
    assert lucid.device("mps").type == "mps" and lucid.device("gpu").type == "gpu"
    assert lucid.device("CPU") == "cpu" and lucid.device(" cuda:1 ").index == 1
    assert lucid.device(cuda0) is cuda0
    assert {cpu: 1, cuda0: 2}["cpu"] == 1 and {"cuda:0": 2}[cuda0] == 2  # hash of the string
    assert len({cpu, "cpu", lucid.device("cpu")}) == 1
    assert f"{cuda0}" == "cuda:0" and isinstance(cpu, lucid.device)
    for d in (cpu, cuda0):
        for back in (pickle.loads(pickle.dumps(d)), copy.copy(d), copy.deepcopy(d)):
            assert back == d and back.type == d.type and back.index == d.index
            assert isinstance(back, lucid.device)


def test_device_repr_and_equality_match_torch():
    torch = pytest.importorskip("torch")
    for args in (("cpu",), ("cuda",), ("cuda", 0), ("cuda:1",), ("mps",), ("cpu", 0)):
        ours, theirs = lucid.device(*args), torch.device(*args)
        assert repr(ours) == repr(theirs) and str(ours) == str(theirs)
        assert (ours.type, ours.index) == (theirs.type, theirs.index)
    for a, b in (("cpu", "cpu:0"), ("cuda", "cuda:0"), ("cuda:0", "cuda:0"), ("cpu", "mps")):
        assert (lucid.device(a) == lucid.device(b)) == (torch.device(a) == torch.device(b))


@pytest.mark.parametrize(
    "args,error,match",
    [
        (("tpu",), ValueError, "unknown device 'tpu'"),
        (("cuda:x",), ValueError, "index must be an integer"),
        (("cuda:-1",), ValueError, "index must be an integer"),
        (("cuda", -1), ValueError, "must be >= 0"),
        (("cuda:0", 1), ValueError, "already has an index"),
        (("cuda", 1.0), TypeError, "index must be an int"),
        (("cuda", True), TypeError, "index must be an int"),
        ((3,), TypeError, "a device is a string"),
        ((None,), TypeError, "a device is a string"),
    ],
)
def test_bad_devices_are_refused(args, error, match):
    with pytest.raises(error, match=match):
        lucid.device(*args)


def test_tensor_device_is_a_device_equal_to_its_string():
    t = lucid.ones(2)
    assert isinstance(t.device, lucid.device) and t.device == "cpu" == lucid.device("cpu")
    assert t.device.type == "cpu" and t.device.index is None
    assert repr(t.device) == "device(type='cpu')"
    assert t.to(t.device) is t and t.to(lucid.device("cpu")) is t and t.to("cpu:0") is t
    assert lucid.zeros(2, device=lucid.device("cpu")).device == "cpu"
    assert lucid.tensor([1.0], device=t.device).device == t.device
    assert lucid.ones_like(t).device == t.device and t.new_zeros(3).device == "cpu"
    model = nn.Linear(2, 2).to(lucid.device("cpu"))
    assert model.weight.device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        t.to("tpu")
    with pytest.raises(RuntimeError, match="'cpu:1' does not exist"):
        t.to("cpu:1")


# --- which device a request runs on ------------------------------------------------------------
# (request, {gpu kind here: the Lucid device it runs on, or the RuntimeError's message})
ROUTES = [
    ("cpu", {None: "cpu", "metal": "cpu", "cuda": "cpu"}),
    ("cpu:0", {None: "cpu", "metal": "cpu", "cuda": "cpu"}),
    ("gpu", {None: "cpu", "metal": "gpu", "cuda": "gpu"}),
    ("gpu:0", {None: "cpu", "metal": "gpu", "cuda": "gpu"}),
    ("cuda", {None: "MLX has no GPU here", "metal": "GPU here is Metal", "cuda": "gpu"}),
    ("cuda:0", {None: "MLX has no GPU here", "metal": "GPU here is Metal", "cuda": "gpu"}),
    ("cuda:1", {None: "no GPU here", "metal": "is Metal", "cuda": "one GPU, index 0"}),
    ("mps", {None: "MLX has no GPU here", "metal": "gpu", "cuda": "GPU here is CUDA"}),
    ("mps:0", {None: "MLX has no GPU here", "metal": "gpu", "cuda": "GPU here is CUDA"}),
    ("metal", {None: "MLX has no GPU here", "metal": "gpu", "cuda": "GPU here is CUDA"}),
    ("gpu:1", {None: "one GPU, index 0", "metal": "one GPU", "cuda": "one GPU"}),
]


@pytest.mark.parametrize("kind", [None, "metal", "cuda"])
@pytest.mark.parametrize("request_,expected", ROUTES, ids=[r for r, _ in ROUTES])
def test_device_routing(fake_gpu, kind, request_, expected):
    fake_gpu(kind)
    want = expected[kind]
    for spec in (request_, lucid.device(request_)):
        if want in ("cpu", "gpu"):
            assert B.resolve_device(spec) == want
        else:
            with pytest.raises(RuntimeError, match=want):
                B.resolve_device(spec)


def test_an_unavailable_gpu_kind_is_an_error_everywhere_a_device_is_taken():
    if lucid.device_info()["gpu"] == "cuda":
        pytest.skip("CUDA is available here")
    t, model = lucid.ones(2), nn.Linear(2, 2)
    for call in (
        lambda: t.to("cuda"),
        lambda: t.to(lucid.device("cuda", 0)),
        lambda: lucid.zeros(2, device="cuda"),
        lambda: lucid.tensor([1.0], device="cuda:0"),
        lambda: lucid.randn(2, device="cuda"),
        lambda: model.to("cuda"),
    ):
        with pytest.raises(RuntimeError, match="'cuda(:0)?' is not available"):
            call()
    assert model.weight.device == "cpu"


def test_the_gpu_fallback_still_warns_once(monkeypatch, fake_gpu):
    fake_gpu(None)
    monkeypatch.setattr(backend_core, "_warned_no_gpu", False)
    with pytest.warns(RuntimeWarning, match="no GPU"):
        assert lucid.ones(1).to("gpu").device == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lucid.ones(1).to(lucid.device("gpu")).device == "cpu"


# --- lucid.cuda, lucid.mps, lucid.backends.mps -------------------------------------------------
@pytest.fixture
def fake_memory(monkeypatch):
    monkeypatch.setattr(lucid.memory, "active", lambda: 1000)
    monkeypatch.setattr(lucid.memory, "peak", lambda: 3000)
    monkeypatch.setattr(lucid.memory, "cache", lambda: 500)
    calls = []
    monkeypatch.setattr(lucid.memory, "reset_peak", lambda: calls.append("reset_peak"))
    monkeypatch.setattr(lucid.memory, "clear_cache", lambda: calls.append("clear_cache"))
    monkeypatch.setattr(runtime, "synchronize", lambda device: calls.append(("sync", device)))
    return calls


def test_cuda_where_mlx_runs_on_cuda(fake_gpu, fake_memory):
    fake_gpu("cuda")
    cuda = lucid.cuda
    assert cuda.is_available() and cuda.device_count() == 1 and cuda.current_device() == 0
    for device in (None, 0, "cuda", "cuda:0", lucid.device("cuda", 0)):
        assert cuda.memory_allocated(device) == 1000
        assert cuda.max_memory_allocated(device) == 3000
        assert cuda.memory_reserved(device) == 1500
    cuda.reset_peak_memory_stats()
    cuda.empty_cache()
    cuda.synchronize()
    cuda.synchronize("cuda:0")
    assert fake_memory == ["reset_peak", "clear_cache", ("sync", "gpu"), ("sync", "gpu")]
    assert not lucid.mps.is_available() and lucid.mps.device_count() == 0


def test_cuda_where_there_is_none(fake_gpu, fake_memory):
    for kind in (None, "metal"):
        fake_gpu(kind)
        cuda = lucid.cuda
        assert not cuda.is_available() and cuda.device_count() == 0
        assert cuda.memory_allocated() == cuda.max_memory_allocated() == 0
        assert cuda.memory_reserved(0) == 0
        cuda.empty_cache()  # nothing to do, as in a PyTorch without CUDA
        cuda.reset_peak_memory_stats()
        for fn in (cuda.current_device, cuda.synchronize):
            with pytest.raises(RuntimeError, match="CUDA is not available"):
                fn()
    assert fake_memory == []


def test_cuda_refuses_bad_device_arguments(fake_gpu):
    fake_gpu("cuda")
    with pytest.raises(ValueError, match="expected a CUDA device, got 'cpu'"):
        lucid.cuda.memory_allocated("cpu")
    with pytest.raises(ValueError, match="invalid CUDA device index 1"):
        lucid.cuda.memory_allocated(1)
    with pytest.raises(ValueError, match="invalid CUDA device index 2"):
        lucid.cuda.synchronize("cuda:2")
    with pytest.raises(TypeError, match="device must be None, an int"):
        lucid.cuda.memory_reserved(1.5)


def test_mps_where_mlx_runs_on_metal(fake_gpu, fake_memory):
    fake_gpu("metal")
    mps = lucid.mps
    assert mps.is_available() and mps.device_count() == 1
    assert lucid.backends.mps.is_available() and lucid.backends.mps.is_built()
    assert mps.current_allocated_memory() == 1000 and mps.driver_allocated_memory() == 1500
    mps.empty_cache()
    mps.synchronize()
    assert fake_memory == ["clear_cache", ("sync", "gpu")]
    assert not lucid.cuda.is_available()


def test_mps_where_there_is_none(fake_gpu, fake_memory):
    for kind in (None, "cuda"):
        fake_gpu(kind)
        mps = lucid.mps
        assert not mps.is_available() and mps.device_count() == 0
        assert not lucid.backends.mps.is_available()
        for fn in (
            mps.synchronize,
            mps.empty_cache,
            mps.current_allocated_memory,
            mps.driver_allocated_memory,
        ):
            with pytest.raises(RuntimeError, match="MPS is not available"):
                fn()
    assert fake_memory == []


def test_the_real_queries_on_this_machine():
    kind = lucid.device_info()["gpu"]
    assert lucid.cuda.is_available() == (kind == "cuda")
    assert lucid.mps.is_available() == lucid.backends.mps.is_available() == (kind == "metal")
    assert lucid.backends.mps.is_built() in (True, False)
    if kind != "cuda":
        assert lucid.cuda.memory_allocated() == 0 and lucid.cuda.device_count() == 0
    else:
        _ = lucid.ones(256, 256).numpy()
        assert lucid.cuda.memory_allocated() > 0
        lucid.cuda.synchronize()


def test_the_queries_match_a_torch_without_that_gpu():
    torch = pytest.importorskip("torch")
    if lucid.cuda.is_available() or torch.cuda.is_available():
        pytest.skip("compares the answers where neither has CUDA")
    for name in ("device_count", "memory_allocated", "max_memory_allocated", "memory_reserved"):
        assert getattr(lucid.cuda, name)() == getattr(torch.cuda, name)()
    assert lucid.cuda.empty_cache() is torch.cuda.empty_cache() is None
    if not (lucid.mps.is_available() or torch.backends.mps.is_available()):
        assert lucid.mps.device_count() == torch.mps.device_count() == 0
        for name in ("synchronize", "current_allocated_memory"):
            with pytest.raises(RuntimeError):
                getattr(torch.mps, name)()
            with pytest.raises(RuntimeError):
                getattr(lucid.mps, name)()


# --- lucid.autocast ----------------------------------------------------------------------------
def test_autocast_at_top_level_is_amp_autocast():
    assert lucid.autocast is lucid.amp.autocast
    conv = nn.Conv1d(2, 3, 3)
    x = lucid.randn(1, 2, 8)
    with lucid.autocast(device_type="cpu", dtype=lucid.float16):
        assert conv(x).dtype == lucid.float16 and lucid.amp.is_autocast_enabled("cpu")
    with lucid.autocast("cpu", enabled=False):
        assert conv(x).dtype == lucid.float32


@pytest.mark.parametrize("device_type", ["cuda", "mps"])
def test_autocast_on_a_gpu_kind_that_is_there(fake_gpu, device_type):
    fake_gpu("cuda" if device_type == "cuda" else "metal")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        region = lucid.autocast(device_type)
    assert region.enabled and region.device_type == "gpu" and region.dtype_name == "float16"
    assert lucid.autocast(device_type, dtype=lucid.bfloat16).dtype_name == "bfloat16"
    with region:
        assert lucid.amp.is_autocast_enabled(device_type)
        assert lucid.amp.is_autocast_enabled("gpu") and not lucid.amp.is_autocast_enabled("cpu")
    assert not lucid.amp.is_autocast_enabled(device_type)
    scaler = lucid.amp.GradScaler(device_type)
    assert scaler.is_enabled() and scaler.device == "gpu"


@pytest.mark.parametrize("kind", [None, "metal", "cuda"])
def test_autocast_on_a_gpu_kind_that_is_not_there_is_off_with_a_warning(fake_gpu, kind):
    fake_gpu(kind)
    for device_type in {"cuda", "mps"} - {{"metal": "mps", "cuda": "cuda"}.get(kind)}:
        with pytest.warns(UserWarning, match=f"'{device_type}' is not available"):
            region = lucid.autocast(device_type=device_type)
        assert not region.enabled
        with region:
            assert not lucid.amp.is_autocast_enabled(device_type)
            conv = nn.Conv1d(2, 3, 3)
            assert conv(lucid.randn(1, 2, 8)).dtype == lucid.float32
        with pytest.warns(UserWarning, match="scaling is disabled"):
            scaler = lucid.amp.GradScaler(device_type)
        assert not scaler.is_enabled()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # already off: nothing to say
            assert not lucid.autocast(device_type, enabled=False).enabled


def test_autocast_matches_torch_where_cuda_is_absent():
    torch = pytest.importorskip("torch")
    if lucid.cuda.is_available() or torch.cuda.is_available():
        pytest.skip("compares the answers where neither has CUDA")
    with pytest.warns(UserWarning):
        ours = lucid.autocast(device_type="cuda")
    with pytest.warns(UserWarning):
        theirs = torch.autocast(device_type="cuda")
    with ours, theirs:
        assert lucid.amp.is_autocast_enabled("cuda") == torch.is_autocast_enabled("cuda") is False


def test_autocast_rejects_unknown_device_types():
    with pytest.raises(ValueError, match="device_type must be 'cpu', 'gpu', 'cuda' or 'mps'"):
        lucid.autocast("tpu")
    with pytest.raises(ValueError, match="device_type"):
        lucid.autocast("cuda:0")
    with pytest.raises(TypeError, match="device_type must be a string"):
        lucid.autocast(0)


def test_float64_values_survive_the_device_object():
    t = lucid.tensor(np.arange(3.0))
    assert t.to(t.device).dtype == lucid.float64


@pytest.mark.parametrize("kind,match", [(None, "MLX has no GPU here"), ("metal", "GPU here is")])
def test_tensor_cuda_is_an_error_without_cuda(fake_gpu, kind, match):
    fake_gpu(kind)
    t = lucid.ones(2)
    for call in (lambda: t.cuda(), lambda: t.cuda(0), lambda: t.cuda("cuda:0")):
        with pytest.raises(RuntimeError, match=match):
            call()


def test_cudnn_switches_are_kept_and_report_availability(fake_gpu):
    cudnn = lucid.backends.cudnn
    before = (cudnn.benchmark, cudnn.deterministic)
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        assert lucid.backends.cudnn.benchmark and lucid.backends.cudnn.deterministic
    finally:
        cudnn.benchmark, cudnn.deterministic = before
    for kind, available in ((None, False), ("metal", False), ("cuda", True)):
        fake_gpu(kind)
        assert cudnn.is_available() is available
