"""CA keys as encrypted PKCS#8 files, and a master key sealed with a key derived from the passphrase (scrypt).

The embedded default. The passphrase comes from the environment (``MOBILECA_CA_PASSPHRASE``); in demo mode, when
unset, one is generated once into the key folder (mode 0600) so ``make run`` needs nothing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from mobileca.ca.backends import KeyBackendError, UnwrapError

MASTER_FILE = "master.key.sealed"
NONCE_BYTES = 12


class KeyFileBackend:
    name = "keyfile"

    def __init__(self, directory: Path, passphrase: bytes) -> None:
        if len(passphrase) < 12:
            raise KeyBackendError("the CA passphrase must have at least 12 characters")
        self.directory = directory
        self.passphrase = passphrase
        self._master: bytes | None = None
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}

    def _path(self, label: str) -> Path:
        if not label.replace("-", "").replace("_", "").isalnum():
            raise KeyBackendError(f"bad key label {label!r}")
        return self.directory / f"{label}.key.pem"

    def create_signing_key(self, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
        path = self._path(label)
        if path.exists():
            raise KeyBackendError(f"key {label!r} already exists")
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(curve)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self.passphrase),
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        self._keys[label] = key
        return key.public_key()

    def signing_key(self, label: str) -> ec.EllipticCurvePrivateKey:
        if label not in self._keys:
            try:
                key = serialization.load_pem_private_key(self._path(label).read_bytes(), password=self.passphrase)
            except (FileNotFoundError, ValueError, TypeError) as exc:
                raise KeyBackendError(f"cannot open CA key {label!r}: {exc}") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise KeyBackendError(f"CA key {label!r} is not an EC key")
            self._keys[label] = key
        return self._keys[label]

    # --- the master key --------------------------------------------------------------------------------------

    def _kek(self, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(self.passphrase)

    def ensure_master_key(self) -> None:
        path = self.directory / MASTER_FILE
        if path.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        salt, nonce, master = secrets.token_bytes(16), secrets.token_bytes(NONCE_BYTES), secrets.token_bytes(32)
        sealed = salt + nonce + AESGCM(self._kek(salt)).encrypt(nonce, master, b"mobileca master key")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(sealed)

    def _master_key(self) -> bytes:
        if self._master is None:
            try:
                sealed = (self.directory / MASTER_FILE).read_bytes()
                salt, nonce, body = sealed[:16], sealed[16 : 16 + NONCE_BYTES], sealed[16 + NONCE_BYTES :]
                self._master = AESGCM(self._kek(salt)).decrypt(nonce, body, b"mobileca master key")
            except (FileNotFoundError, InvalidTag) as exc:
                raise KeyBackendError("cannot open the master key (missing, or another passphrase)") from exc
        return self._master

    def wrap(self, owner_id: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self._master_key()).encrypt(nonce, plaintext, owner_id.encode())

    def unwrap(self, owner_id: str, blob: bytes) -> bytes:
        try:
            return AESGCM(self._master_key()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], owner_id.encode())
        except InvalidTag as exc:
            raise UnwrapError("wrapped key does not open for this owner") from exc
