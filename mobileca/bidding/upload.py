"""Sealing in the browser (R5.1, R5.3): an upload handler that encrypts the file as it arrives. The plaintext
never touches the disk; only the ciphertext is written, and the digest for the signature is taken on the way: the
SHA-256 with AES-256-GCM (``cmslib.enveloped``), or for an SM2 credential the SM3 with SM4 in a GB/T 35275 envelope
(``cmslib.gm``, issue 19) of the platform's writer settings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from mobileca.cmslib import enveloped, gm


@dataclass(frozen=True)
class GmWriter:
    """How an SM2 credential's upload is sealed: the SM4 mode ("gcm" or "cbc") and the GB/T 35275 flavour."""

    mode: str
    flavour: gm.Flavour


class SealedUpload(UploadedFile):
    """What the view gets instead of the file: the envelope header, the plaintext's digest and size, and the stored
    ciphertext's size and SHA-256 (``stored``: what the readiness checks compare with, issue 21)."""

    def __init__(self, name: str, sealed: enveloped.Sealed | gm.Sealed, stored: tuple[int, str]) -> None:
        super().__init__(file=None, name=name, size=sealed.size)
        self.sealed, self.stored = sealed, stored


class _HashedSink:
    """The ciphertext file, its size and SHA-256 taken as the sealer writes it (no second read of the file)."""

    def __init__(self, sink: Any) -> None:
        self.sink, self.digest, self.size = sink, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return int(self.sink.write(data))

    def close(self) -> None:
        self.sink.close()


class SealingUploadHandler(FileUploadHandler):
    """Seals the one file field ``bid_file`` for ``recipient`` into ``target``; other fields go to the default
    handlers (there are none that carry files). With ``gm`` the recipient is an SM2 encryption certificate and the
    file is sealed with ``cmslib.gm`` as ``gm`` says."""

    chunk_size = 4 * 1024 * 1024

    def __init__(
        self,
        *,
        recipient: x509.Certificate,
        target: Path,
        request: Any = None,
        max_bytes: int | None = None,
        gm_writer: GmWriter | None = None,
    ) -> None:
        super().__init__(request)
        self.recipient, self.target, self.max_bytes = recipient, target, max_bytes
        self.gm_writer = gm_writer
        self.sealer: enveloped.Sealer | gm.Sealer | None = None
        self.sink: Any = None
        self.received = 0
        self.too_large = False

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != "bid_file" or self.sealer is not None:
            return
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.sink = _HashedSink(self.target.open("xb"))
        if self.gm_writer is not None:
            self.sealer = gm.Sealer(self.sink, self.recipient, mode=self.gm_writer.mode, flavour=self.gm_writer.flavour)
        else:
            self.sealer = enveloped.Sealer(self.sink, self.recipient)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.field_name == "bid_file" and self.sealer is not None and self.sink is not None:
            self.received += len(raw_data)
            if self.max_bytes is not None and self.received > self.max_bytes:
                # past the platform's largest bid: keep nothing, read (and drop) the rest, answer with a message
                self.too_large = True
                self.upload_interrupted()
                self.sealer, self.sink = None, None
                raise StopUpload(connection_reset=False)
            self.sealer.update(raw_data)
            return None
        return raw_data

    def file_complete(self, file_size: int) -> UploadedFile | None:
        if self.field_name != "bid_file" or self.sealer is None or self.sink is None:
            return None
        sealed = self.sealer.finish()
        self.sink.close()
        stored = (self.sink.size, self.sink.digest.hexdigest())
        self.sink = None
        return SealedUpload(self.file_name or "bid", sealed, stored)

    def upload_interrupted(self) -> None:
        if self.sink is not None:
            self.sink.close()
        self.target.unlink(missing_ok=True)
