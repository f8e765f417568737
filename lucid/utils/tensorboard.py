"""TensorBoard logging with ``torch.utils.tensorboard.SummaryWriter``'s API, without PyTorch.

>>> from lucid.utils.tensorboard import SummaryWriter  # doctest: +SKIP
>>> with SummaryWriter("runs/exp1") as w:  # doctest: +SKIP
...     w.add_scalar("loss", 0.5, global_step=1)

Values may be Python numbers, numpy arrays or lucid Tensors. The event files are TFRecord
files of TensorBoard ``Event`` protos (``lucid/utils/_event_file.py``); the protos are
TensorBoard's own generated classes, so the ``tensorboard`` package is needed to write
(``pip install lucid[tensorboard]``), and ``tensorboard --logdir runs`` shows them.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import weakref
from datetime import datetime
from typing import Any

import numpy as np

from lucid.utils import _summaries
from lucid.utils._event_file import EventFile

__all__ = ["SummaryWriter"]


def _flush_loop(files: dict, stop: threading.Event, every: float) -> None:
    """The writer's flusher thread: flush every open event file each ``every`` seconds. It holds
    the files, never the writer, so an unreferenced writer is still collected (and closed)."""
    while not stop.wait(every):
        for f in list(files.values()):
            f.flush()


def _shutdown(files: dict, stop: threading.Event) -> None:
    stop.set()
    for f in list(files.values()):
        f.close()


class SummaryWriter:
    """Writes scalars, images, histograms, text and hyperparameters to TensorBoard event files
    in ``log_dir``, as ``torch.utils.tensorboard.SummaryWriter`` does.

    ``log_dir`` defaults to ``runs/<date>_<host><comment>``. ``purge_step`` makes TensorBoard
    drop the events of earlier files at that step and after (a resumed run that crashed after
    its last checkpoint). Events are queued and written when ``max_queue`` are waiting, every
    ``flush_secs`` seconds (a daemon thread), on ``flush()``/``close()``, and when the writer
    is garbage collected or the interpreter exits. ``filename_suffix`` ends every event file's
    name. Use it as a context manager to close it.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: float = 120,
        filename_suffix: str = "",
    ):
        self._P = _summaries.protos()  # fails here, with the extra to install, not at first add
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        if not (isinstance(max_queue, int) and max_queue >= 1):
            raise ValueError(f"SummaryWriter: max_queue must be an int >= 1, got {max_queue!r}")
        if not flush_secs > 0:
            raise ValueError(f"SummaryWriter: flush_secs must be > 0, got {flush_secs!r}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._files: dict[str, EventFile] = {}  # by directory: log_dir and add_scalars' subdirs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finalizer = weakref.finalize(self, _shutdown, self._files, self._stop)
        self._file(self.log_dir)
        if purge_step is not None:
            # a SessionLog START at `purge_step`: TensorBoard discards the steps >= it that
            # earlier files of this run wrote
            E = self._P.event
            start = E.SessionLog(status=E.SessionLog.START)
            self._write(self.log_dir, E.Event(step=int(purge_step), session_log=start))

    # --- files ---------------------------------------------------------------------------------
    def get_logdir(self) -> str:
        """The directory the event files are written to."""
        return self.log_dir

    def _file(self, directory: str) -> EventFile:
        """The open event file of ``directory``, created (with its file-version header) on first
        use and again after ``close()``, as PyTorch's writer re-opens."""
        f = self._files.get(directory)
        if f is None or f.closed:
            f = EventFile(directory, self.filename_suffix, self.max_queue)
            header = self._P.event.Event(wall_time=time.time(), file_version="brain.Event:2")
            f.add(header.SerializeToString())
            f.flush()  # the file is valid (and visible to TensorBoard) at once
            self._files[directory] = f
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=_flush_loop,
                args=(self._files, self._stop, float(self.flush_secs)),
                name="lucid-tensorboard-flush",
                daemon=True,
            )
            self._thread.start()
        return f

    def _write(self, directory: str, event: Any) -> None:
        self._file(directory).add(event.SerializeToString())

    def _add_summary(self, summary, global_step=None, walltime=None, directory=None) -> None:
        step = 0 if global_step is None else np.asarray(global_step)
        if np.ndim(step) != 0 or np.asarray(step).dtype.kind not in "iu":
            raise TypeError(f"global_step must be an integer, got {global_step!r}")
        wall = time.time() if walltime is None else float(walltime)
        event = self._P.event.Event(wall_time=wall, step=int(step), summary=summary)
        self._write(self.log_dir if directory is None else directory, event)

    # --- the PyTorch API -----------------------------------------------------------------------
    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Log one number (a one-element Tensor or array too) under ``tag`` at ``global_step``."""
        s = _summaries.scalar(self._P, tag, scalar_value, new_style, double_precision)
        self._add_summary(s, global_step, walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Log several numbers as curves of one chart: each goes to its own run directory
        ``log_dir/<main_tag>_<key>`` under the tag ``main_tag``, as in PyTorch."""
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(
                f"add_scalars: tag_scalar_dict must be a dict, got {type(tag_scalar_dict).__name__}"
            )
        wall = time.time() if walltime is None else walltime
        # every value checked before any is written: a bad one leaves no partial step
        summaries = {k: _summaries.scalar(self._P, main_tag, v) for k, v in tag_scalar_dict.items()}
        for key, s in summaries.items():
            sub = os.path.join(self.log_dir, f"{main_tag}_{key}".replace("/", "_"))
            self._add_summary(s, global_step, wall, directory=sub)

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        """Log an image: uint8 pixels, or floats in [0, 1]; 1, 3 or 4 channels; ``dataformats``
        a permutation of "CHW" (default) or "HW". Stored as PNG."""
        self._add_summary(
            _summaries.image(self._P, tag, img_tensor, dataformats), global_step, walltime
        )

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "NCHW",
    ) -> None:
        """Log a batch of images ("NCHW" by default, or e.g. "NHWC") as one grid image, 8 per
        row."""
        s = _summaries.images(self._P, tag, img_tensor, dataformats)
        self._add_summary(s, global_step, walltime)

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: int | None = None,
        close: bool = True,
        walltime: float | None = None,
    ) -> None:
        """Log a matplotlib figure (or a list of same-sized figures, as a grid) as an RGB
        image; ``close`` closes pyplot figures afterwards. Needs matplotlib."""
        figures = list(figure) if isinstance(figure, (list, tuple)) else [figure]
        if not figures:
            raise ValueError("add_figure: no figure given")
        pixels = [_render(f) for f in figures]
        if close and "matplotlib.pyplot" in sys.modules:  # only figures pyplot manages
            for f in figures:
                sys.modules["matplotlib.pyplot"].close(f)
        if len(pixels) == 1:
            s = _summaries.image_from_hwc(self._P, tag, pixels[0], f"add_figure({tag!r})")
        else:
            if len({p.shape for p in pixels}) != 1:
                shapes = sorted({p.shape for p in pixels})
                raise ValueError(f"add_figure: the figures differ in size: {shapes}")
            s = _summaries.images(self._P, tag, np.stack(pixels), "NHWC")
        self._add_summary(s, global_step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: Any = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        """Log the distribution of ``values`` (any shape): ``bins`` is "tensorflow" (exponential
        buckets, the default) or anything ``numpy.histogram`` takes ("auto", a count, edges);
        ``max_bins`` merges neighbouring buckets down to at most that many."""
        s = _summaries.histogram(self._P, tag, values, bins, max_bins)
        self._add_summary(s, global_step, walltime)

    def add_text(
        self,
        tag: str,
        text_string: str,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Log a (markdown) string, shown in TensorBoard's Text tab as ``tag/text_summary``."""
        self._add_summary(_summaries.text(self._P, tag, text_string), global_step, walltime)

    def add_hparams(
        self,
        hparam_dict: dict,
        metric_dict: dict,
        hparam_domain_discrete: dict | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """Log a run's hyperparameters (bool, number or str values) and its final metrics for
        TensorBoard's HParams tab. As in PyTorch they go to a run directory of their own,
        ``log_dir/<run_name>`` (default: the current time), where each metric is also written
        as a scalar."""
        summaries = _summaries.hparams(self._P, hparam_dict, metric_dict, hparam_domain_discrete)
        # the metrics checked before anything is written
        summaries += [_summaries.scalar(self._P, k, v) for k, v in metric_dict.items()]
        sub = os.path.join(self.log_dir, run_name or str(time.time()))
        for s in summaries:
            self._add_summary(s, global_step, directory=sub)
        self._files[sub].flush()

    def flush(self) -> None:
        """Write every queued event to disk."""
        for f in list(self._files.values()):
            f.flush()

    def close(self) -> None:
        """Flush and close the event files and stop the flusher thread. A later ``add_*``
        opens a new event file, as in PyTorch."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for f in list(self._files.values()):
            f.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _render(figure: Any) -> np.ndarray:
    """A matplotlib figure's pixels as uint8 (H, W, 3), drawn with Agg; its canvas is restored
    afterwards so an interactive figure stays interactive."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError as e:
        raise ImportError(
            "add_figure needs matplotlib: pip install lucid[examples] (or pip install matplotlib)"
        ) from e
    old = figure.canvas
    canvas = FigureCanvasAgg(figure)
    try:
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        return np.array(rgba[..., :3])  # copied: the buffer belongs to the canvas
    finally:
        figure.set_canvas(old)
