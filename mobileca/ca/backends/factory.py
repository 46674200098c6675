"""The configured back-end (``MOBILECA_CA``), one instance per configuration and process."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from mobileca.ca.backends import KeyBackend, KeyBackendError


@sensitive_variables()
def backend() -> KeyBackend:
    conf = settings.MOBILECA_CA
    return _backend(
        conf["backend"],
        str(conf["key_dir"]),
        conf.get("passphrase") or "",
        conf["pkcs11_library"],
        conf["pkcs11_token"],
        conf.get("pkcs11_pin_secret") or "",
        bool(settings.MOBILECA_DEMO),
    )


@lru_cache(maxsize=8)
@sensitive_variables()
def _backend(kind: str, key_dir: str, passphrase: str, library: str, token: str, pin: str, demo: bool) -> KeyBackend:
    if kind == "keyfile":
        from mobileca.ca.backends.keyfile import KeyFileBackend

        return KeyFileBackend(Path(key_dir), (passphrase or _demo_passphrase(Path(key_dir), demo)).encode())
    if kind == "pkcs11":
        from mobileca.ca.backends.pkcs11 import Pkcs11Backend

        if not pin:
            raise KeyBackendError("MOBILECA_PKCS11_PIN is not set")
        return Pkcs11Backend(library, token, pin)
    raise KeyBackendError(f"unknown CA key back-end {kind!r} (keyfile or pkcs11)")


@sensitive_variables()
def _demo_passphrase(key_dir: Path, demo: bool) -> str:
    if not demo:
        raise KeyBackendError("MOBILECA_CA_PASSPHRASE is not set")
    path = key_dir / ".demo-passphrase"
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()
