"""Resuming mid-epoch: a training run stopped after k steps, saved (model, optimizer, scheduler,
default generator, loader position) with lucid.save and continued by fresh objects -- in a new
process too -- gives the uninterrupted run's loss curve bit for bit, with worker threads on. And
DataLoader.state_dict/load_state_dict alone, for every kind of sampler."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.data import (
    DataLoader,
    Dataset,
    RandomSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
    sample_rng,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
EPOCHS = 3


class Noisy(Dataset):
    """22 samples of 6 features with per-sample noise from sample_rng(): the samples depend on
    the loader's base seed, so a resumed epoch must reuse the interrupted one's."""

    def __len__(self):
        return 22

    def __getitem__(self, i):
        rng = sample_rng()
        x = np.sin(np.arange(6, dtype=np.float32) * (i + 1)) + rng.normal(0, 0.3, 6)
        return x.astype(np.float32), i % 3


def _build():
    lucid.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = lucid.optim.Adam(model.parameters(), lr=1e-2)
    sched = lucid.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7)
    loader = DataLoader(Noisy(), batch_size=4, shuffle=True, num_workers=2)
    return model, opt, sched, loader


def _train(model, opt, sched, loader, start_epoch=0, stop_after=None, path=None):
    """Losses of the steps run; stops after ``stop_after`` steps, saving everything to
    ``path``. Dropout and the loader's shuffle both draw from the default generator."""
    losses = []
    for epoch in range(start_epoch, EPOCHS):
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if len(losses) == stop_after:
                lucid.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "rng": lucid.get_rng_state(),
                        "loader": loader.state_dict(),
                        "epoch": epoch,
                    },
                    path,
                )
                return losses
    return losses


def _resume(path) -> list:
    """Fresh objects (drawing their own initial weights and leaving the default generator
    elsewhere), then everything loaded from ``path``, then training to the end."""
    model, opt, sched, loader = _build()
    lucid.manual_seed(12345)
    lucid.rand(7)
    state = lucid.load(path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    loader.load_state_dict(state["loader"])
    lucid.set_rng_state(state["rng"])
    return _train(model, opt, sched, loader, start_epoch=state["epoch"])


def resume_in_this_process(path, out):
    """Entry point of the child process: resume from ``path``, write the losses to ``out``."""
    pathlib.Path(out).write_text(json.dumps(_resume(path)))


@pytest.mark.parametrize("stop_after", [3, 8, 6])  # epoch 0, mid epoch 1, an epoch's end
def test_resumed_training_repeats_the_uninterrupted_loss_curve(tmp_path, stop_after):
    full = _train(*_build())
    assert len(full) == EPOCHS * 6 and len(set(full)) == len(full)
    path = tmp_path / "ckpt.safetensors"
    first = _train(*_build(), stop_after=stop_after, path=path)
    assert first == full[:stop_after]
    assert _resume(path) == full[stop_after:]  # fresh objects, this process
    out = tmp_path / "losses.json"
    code = (
        "from tests.data.test_resume import resume_in_this_process as r; "
        f"r({str(path)!r}, {str(out)!r})"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=300)
    assert json.loads(out.read_text()) == full[stop_after:]  # a new process


def test_resuming_without_the_loader_state_differs(tmp_path):
    # the test above can fail: restoring only the generator does not give the same batches
    full = _train(*_build())
    path = tmp_path / "ckpt.safetensors"
    _train(*_build(), stop_after=8, path=path)
    model, opt, sched, loader = _build()
    state = lucid.load(path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    lucid.set_rng_state(state["rng"])
    assert _train(model, opt, sched, loader, start_epoch=state["epoch"]) != full[8:]


# --- the loader's state alone -------------------------------------------------------------------
def _items(batch):
    return tuple(np.asarray(v.numpy() if hasattr(v, "numpy") else v).tobytes() for v in batch)


LOADERS = {
    "shuffle": lambda: DataLoader(Noisy(), batch_size=3, shuffle=True),
    "shuffle workers": lambda: DataLoader(Noisy(), batch_size=3, shuffle=True, num_workers=2),
    "persistent workers": lambda: DataLoader(
        Noisy(), batch_size=3, shuffle=True, num_workers=2, persistent_workers=True
    ),
    "own generator": lambda: DataLoader(
        Noisy(), batch_size=3, shuffle=True, generator=lucid.Generator().manual_seed(4)
    ),
    "seed": lambda: DataLoader(Noisy(), batch_size=5, shuffle=True, seed=3, drop_last=True),
    "sequential": lambda: DataLoader(Noisy(), batch_size=4),
    "unbatched": lambda: DataLoader(Noisy(), batch_size=None, shuffle=True),
    "replacement": lambda: DataLoader(
        Noisy(), batch_size=4, sampler=RandomSampler(range(22), replacement=True, num_samples=17)
    ),
    "subset": lambda: DataLoader(
        Noisy(), batch_size=2, sampler=SubsetRandomSampler([1, 5, 7, 9, 11, 20, 21])
    ),
    "weighted": lambda: DataLoader(
        Noisy(), batch_size=3, sampler=WeightedRandomSampler(np.arange(22) + 1.0, 12)
    ),
    "batch sampler": lambda: DataLoader(Noisy(), batch_sampler=[[0, 1], [5], [7, 8, 9], [2]]),
}


def _collect(loader, epochs, stop=None):
    """Batches of ``epochs`` epochs (stopping after ``stop`` in all), and the saved states."""
    out = []
    for _ in range(epochs):
        for batch in loader:
            out.append(_items(batch))
            if len(out) == stop:
                return out, loader.state_dict(), lucid.get_rng_state()
    return out, None, None


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_state_resumes_the_epoch(name, tmp_path):
    make = LOADERS[name]
    lucid.manual_seed(1)
    full, _, _ = _collect(make(), 2)
    per_epoch = len(full) // 2
    stop = per_epoch + max(1, per_epoch // 2)  # inside the second epoch
    lucid.manual_seed(1)
    first, loader_state, rng = _collect(make(), 2, stop)
    lucid.save({"loader": loader_state}, tmp_path / "s.safetensors")
    loader_state = lucid.load(tmp_path / "s.safetensors")["loader"]
    assert loader_state["batches_yielded"] == stop - per_epoch
    loader = make()
    lucid.manual_seed(77)  # the fresh loader must not depend on where the generator is
    loader.load_state_dict(loader_state)
    assert loader.state_dict()["batches_yielded"] == stop - per_epoch  # pending, not yet used
    lucid.set_rng_state(rng)
    rest = [_items(b) for b in loader]
    assert first + rest == full
    after = [_items(b) for b in loader]  # the next epoch draws afresh
    assert len(after) == per_epoch and after != full[per_epoch:]


def test_state_outside_an_epoch_and_bad_states():
    loader = DataLoader(Noisy(), batch_size=4, shuffle=True)
    fresh = {"base_seed": None, "sampler_state": None, "batches_yielded": 0}
    assert loader.state_dict() == fresh
    list(loader)
    assert loader.state_dict() == fresh  # an epoch run to its end: the next one is fresh
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    assert state["batches_yielded"] == 1 and state["sampler_state"].dtype == lucid.uint8
    loader.load_state_dict(fresh)
    assert loader.state_dict() == fresh
    with pytest.raises(ValueError, match="keys"):
        loader.load_state_dict({"batches_yielded": 1})
    with pytest.raises(ValueError, match="non-negative"):
        loader.load_state_dict(dict(state, batches_yielded=-1))
    with pytest.raises(TypeError, match="uint8 Tensor"):
        loader.load_state_dict(dict(state, sampler_state=[1, 2]))
