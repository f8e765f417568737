"""``lucid.device``: a device name as an object, as ``torch.device``.

A ``device`` is a string (``"cpu"``, ``"gpu"``, ``"cuda:0"``, ...) with PyTorch's ``type``,
``index`` and repr: so ``t.device == "cpu"``, ``t.device.type == "cpu"`` and
``t.device == lucid.device("cpu")`` all hold, and a device works wherever a device string does.
Which requests run where is decided in ``lucid._backend.resolve_device``.
"""

from __future__ import annotations

from lucid import _backend as B

__all__ = ["device"]


class device(str):
    """A device: ``device("cpu")``, ``device("gpu")``, ``device("cuda", 0)``, ``device("cuda:0")``,
    ``device("mps")`` or ``device(other_device)``.

    It is the string it stands for (``str(device("cuda", 0)) == "cuda:0"``), so it compares
    equal to that string and hashes as it does; ``type`` is the part before the colon and
    ``index`` the number after it, or None. Making a device checks only its spelling: whether
    it exists here is checked when a tensor is put on it (see docs/devices.md).
    """

    __slots__ = ("_type", "_index")
    _type: str
    _index: int | None

    def __new__(cls, type: str | device, index: int | None = None) -> device:  # noqa: A002
        if isinstance(type, device) and index is None:
            return type
        kind, idx = B.parse_device(type, index)
        self = super().__new__(cls, kind if idx is None else f"{kind}:{idx}")
        self._type, self._index = kind, idx
        return self

    @property
    def type(self) -> str:
        """The device type: ``"cpu"``, ``"gpu"``, ``"cuda"``, ``"mps"`` or ``"metal"``."""
        return self._type

    # PyTorch's attribute, in place of str.index (a device is not searched as a string)
    @property
    def index(self) -> int | None:  # type: ignore[override]
        """The device index (``0`` in ``"cuda:0"``), or None when none was given."""
        return self._index

    def __repr__(self) -> str:
        if self._index is None:
            return f"device(type={self._type!r})"
        return f"device(type={self._type!r}, index={self._index})"

    def __reduce__(self):
        return (device, (self._type, self._index))

    # str's own __eq__/__hash__ (the string's): a device equals its string and hashes as it
    __eq__ = str.__eq__
    __ne__ = str.__ne__
    __hash__ = str.__hash__


CPU = device("cpu")
GPU = device("gpu")


def of(name: str) -> device:
    """The ``device`` of a tensor's device name (``"cpu"`` or ``"gpu"``), without parsing."""
    return CPU if name == "cpu" else GPU
