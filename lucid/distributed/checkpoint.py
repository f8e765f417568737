"""Checkpoints in a data-parallel job: rank 0 writes, every rank can read."""

from __future__ import annotations

from lucid.distributed import comm

__all__ = ["save_on_rank0"]


def save_on_rank0(obj, path) -> None:
    """Write ``obj`` to ``path`` with ``lucid.save`` on rank 0 only, then wait for every rank.

    After it returns, the file is complete and any rank can ``lucid.load`` it (across several
    machines, ``path`` must be on a shared file system, or only rank 0 reads it and
    ``broadcast_parameters`` shares the values). The parameters are identical on every rank in
    data-parallel training, so one copy suffices. If rank 0 fails to write, every rank raises
    RuntimeError (rank 0 re-raises its own error) instead of waiting forever.
    """
    from lucid.serialization import save

    error = None
    if comm.rank() == 0:
        try:
            save(obj, path)
        except Exception as exc:  # still reach the barrier, then report
            error = exc
    if not comm.all_ok(error is None):
        if error is not None:
            raise error
        raise RuntimeError(f"save_on_rank0: rank 0 failed to write {path!r} (see its error)")
