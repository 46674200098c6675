"""Streaming bid files in constant memory with the hashing beside the cipher, for the AES-GCM envelopes (SHA-256) and
the SM4 ones (SM3) alike: ``encrypt_hashing`` reads the plaintext once, hashing each chunk in a second thread while
this one encrypts it; ``Pipeline`` hands decrypted chunks to two threads at once — one writes them to the file, one
hashes them (both release the GIL) — while the caller reads and decrypts the next chunk."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Queue
from typing import BinaryIO, Protocol, cast

CHUNK = 4 * 1024 * 1024


class _Encryptor(Protocol):
    def update_into(self, data: memoryview, buf: bytearray) -> int: ...


def read_full(stream: BinaryIO, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``stream`` (several reads if a pipe or socket gives less); fewer bytes only at the end."""
    view, done = memoryview(buffer), 0
    while done < len(buffer):
        count = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            break
        done += count
    return done


def encrypt_hashing(
    source: BinaryIO,
    sink: BinaryIO,
    encryptor: _Encryptor,
    digest: Callable[[memoryview], object],
    *,
    slack: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Encrypt ``source`` into ``sink`` chunk by chunk (``slack``: what the cipher may hand back beyond a chunk) and
    feed each plaintext chunk to ``digest`` in a second thread meanwhile; the plaintext's size. The caller finalises
    the cipher and the hash."""
    pending: Queue[memoryview | None] = Queue(maxsize=2)
    free: Queue[bytearray] = Queue()
    for _ in range(3):
        free.put(bytearray(CHUNK))
    errors: list[BaseException] = []

    def hasher() -> None:
        while (view := pending.get()) is not None:
            try:
                if not errors:
                    digest(view)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                errors.append(exc)
            free.put(view.obj)  # type: ignore[arg-type]

    worker = threading.Thread(target=hasher, daemon=True)
    worker.start()
    out = bytearray(CHUNK + slack)
    size = 0
    try:
        while True:
            buffer = free.get()
            count = read_full(source, buffer)
            if not count:
                free.put(buffer)
                break
            view = memoryview(buffer)[:count]
            pending.put(view)  # hashed in the other thread while this one encrypts the same bytes
            written = encryptor.update_into(view, out)
            sink.write(memoryview(out)[:written])
            size += count
            if progress:
                progress(size)
    finally:
        pending.put(None)
        worker.join()
    if errors:
        raise errors[0]
    return size


class Pipeline:
    """``digest`` is the hash's ``update``; the caller keeps the hash object and finalises it after ``finish``.
    Buffers are ``size`` bytes (a chunk plus what the cipher may hand back beyond it)."""

    def __init__(self, sink: BinaryIO, digest: Callable[[memoryview], object], *, size: int, buffers: int = 4) -> None:
        self._free: Queue[bytearray] = Queue()
        for _ in range(buffers):
            self._free.put(bytearray(size))
        self._lock = threading.Lock()
        self._users: dict[int, int] = {}
        self._queues: list[Queue[memoryview | None]] = [Queue(), Queue()]
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._run, args=(queue, work), daemon=True)
            for queue, work in zip(self._queues, (sink.write, digest), strict=True)
        ]
        for thread in self._threads:
            thread.start()
        self._done = False

    def _run(self, queue: Queue[memoryview | None], work: Callable[[memoryview], object]) -> None:
        while (view := queue.get()) is not None:
            try:
                if not self._errors:
                    work(view)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller at finish
                self._errors.append(exc)
            with self._lock:
                self._users[id(view.obj)] -= 1
                if self._users[id(view.obj)] == 0:
                    self._free.put(view.obj)  # type: ignore[arg-type]

    def free_buffer(self) -> bytearray:
        return self._free.get()

    def submit(self, view: memoryview) -> None:
        if not len(view):  # nothing to write or hash: the buffer goes straight back
            self._free.put(view.obj)  # type: ignore[arg-type]
            return
        with self._lock:
            self._users[id(view.obj)] = len(self._queues)
        for queue in self._queues:
            queue.put(view)

    def close(self) -> None:
        """Stop both threads once they have done what was submitted (idempotent)."""
        if not self._done:
            self._done = True
            for queue in self._queues:
                queue.put(None)
            for thread in self._threads:
                thread.join()

    def finish(self) -> None:
        """Close, and raise what the writer or the hasher raised."""
        self.close()
        if self._errors:
            raise self._errors[0]


class _Discard(io.RawIOBase):
    """A plaintext sink that keeps nothing: a dry run's decryption (the checks without the file)."""

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        return memoryview(data).nbytes


@contextmanager
def plaintext_sink(temporary: Path | None) -> Iterator[BinaryIO]:
    """Where a decryption writes: ``temporary`` (owner-only), or with ``None`` nowhere (the plaintext discarded)."""
    if temporary is None:
        yield cast(BinaryIO, _Discard())
        return
    with temporary.open("wb") as sink:
        os.chmod(temporary, 0o600)
        yield sink
