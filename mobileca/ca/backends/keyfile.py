"""CA keys and the master key as files sealed with AES-256-GCM under keys derived from the passphrase (scrypt, a
salt per file).

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
from django.views.decorators.debug import sensitive_variables

from mobileca.ca.backends import KeyBackendError, UnwrapError

MASTER_FILE = "master.key.sealed"
NONCE_BYTES = 12


class KeyFileBackend:
    name = "keyfile"

    @sensitive_variables()
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
        return self.directory / f"{label}.key.sealed"

    @sensitive_variables()
    def create_signing_key(self, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
        path = self._path(label)
        if path.exists():
            raise KeyBackendError(f"key {label!r} already exists")
        self.directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(curve)
        # Sealed like the master key: AES-256-GCM under a scrypt key with a salt of its own (PKCS#8's PBKDF2 at
        # 2,048 rounds would make guessing the passphrase cheap), the label as associated data.
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        sealed = self._seal(der, label.encode())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(sealed)
        self._keys[label] = key
        return key.public_key()

    @sensitive_variables()
    def signing_key(self, label: str) -> ec.EllipticCurvePrivateKey:
        if label not in self._keys:
            try:
                der = self._open(self._path(label).read_bytes(), label.encode())
                key = serialization.load_der_private_key(der, password=None)
            except (FileNotFoundError, InvalidTag, ValueError, TypeError) as exc:
                raise KeyBackendError(f"cannot open CA key {label!r}: {exc}") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise KeyBackendError(f"CA key {label!r} is not an EC key")
            self._keys[label] = key
        return self._keys[label]

    # --- the master key --------------------------------------------------------------------------------------

    @sensitive_variables()
    def _kek(self, salt: bytes) -> bytes:
        return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(self.passphrase)

    @sensitive_variables()
    def _seal(self, plaintext: bytes, associated: bytes) -> bytes:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(NONCE_BYTES)
        return salt + nonce + AESGCM(self._kek(salt)).encrypt(nonce, plaintext, associated)

    @sensitive_variables()
    def _open(self, sealed: bytes, associated: bytes) -> bytes:
        salt, nonce, body = sealed[:16], sealed[16 : 16 + NONCE_BYTES], sealed[16 + NONCE_BYTES :]
        return AESGCM(self._kek(salt)).decrypt(nonce, body, associated)

    @sensitive_variables()
    def ensure_master_key(self) -> None:
        path = self.directory / MASTER_FILE
        if path.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        sealed = self._seal(secrets.token_bytes(32), b"mobileca master key")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(sealed)

    @sensitive_variables()
    def _master_key(self) -> bytes:
        if self._master is None:
            try:
                self._master = self._open((self.directory / MASTER_FILE).read_bytes(), b"mobileca master key")
            except (FileNotFoundError, InvalidTag) as exc:
                raise KeyBackendError("cannot open the master key (missing, or another passphrase)") from exc
        return self._master

    @sensitive_variables()
    def wrap(self, owner_id: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self._master_key()).encrypt(nonce, plaintext, owner_id.encode())

    @sensitive_variables()
    def unwrap(self, owner_id: str, blob: bytes) -> bytes:
        try:
            return AESGCM(self._master_key()).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], owner_id.encode())
        except InvalidTag as exc:
            raise UnwrapError("wrapped key does not open for this owner") from exc
