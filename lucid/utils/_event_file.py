"""TensorBoard event files: serialized ``Event`` protos in TFRecord framing, written in order.

A record is ``length`` (uint64, little-endian), the masked CRC-32C of those 8 bytes (uint32),
the data, and the masked CRC-32C of the data. TensorBoard's readers check both checksums, so a
torn last record (a killed process) is detected and skipped rather than misread.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import threading
import time


def _crc32c_table() -> list[int]:
    """The byte-wise lookup table of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (the checksum TFRecord uses; zlib's crc32 is a different polynomial)."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked checksum: CRC-32C rotated right by 15 bits plus a constant (so a CRC
    stored inside checksummed data does not checksum to a fixed pattern)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, the data, masked CRC of the data."""
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


_uid = itertools.count()  # two writers in one second and one process still get two files


class EventFile:
    """One ``events.out.tfevents.*`` file in ``log_dir``: serialized events are queued and
    written (and flushed to the OS) when ``max_queue`` are waiting or on ``flush()``.
    Thread-safe: a flusher thread may call ``flush`` while the training thread adds."""

    def __init__(self, log_dir: str, filename_suffix: str = "", max_queue: int = 10):
        os.makedirs(log_dir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_uid):06d}{filename_suffix}"  # padded: readers sort by name
        )
        self.log_dir = log_dir
        self.path = os.path.join(log_dir, name)
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close(), possibly at exit)
        self._queue: list[bytes] = []
        self._max_queue = max(1, int(max_queue))
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._file.closed

    def add(self, event_bytes: bytes) -> None:
        """Queue one serialized ``Event``; write the queue once ``max_queue`` are waiting."""
        with self._lock:
            if self._file.closed:
                raise ValueError(f"event file {self.path} is closed")
            self._queue.append(frame(event_bytes))
            if len(self._queue) >= self._max_queue:
                self._write()

    def _write(self) -> None:
        """Write the queue and hand it to the operating system (TensorBoard sees it)."""
        if self._queue:
            self._file.write(b"".join(self._queue))
            self._queue.clear()
            self._file.flush()

    def flush(self) -> None:
        """Write the queued events and flush the file to the operating system."""
        with self._lock:
            if not self._file.closed:
                self._write()

    def close(self) -> None:
        """Flush and close; closing twice is harmless."""
        with self._lock:
            if not self._file.closed:
                self._write()
                self._file.close()
