"""Key back-ends: where the CA keys and the master key live. One interface, two implementations.

::

    KeyBackend
    ├── KeyFileBackend   encrypted PKCS#8 files + a passphrase-wrapped master key (embedded default)
    └── Pkcs11Backend    keys generated in and never leaving a PKCS#11 token (SoftHSM2 in tests, an HSM in production)

A CA key is handed to ``cryptography``'s certificate, CRL and OCSP builders as a private-key object whose ``sign()``
calls the back-end. The master key wraps user keys with AES-256-GCM, the owner id as associated data.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from mobileca.core.errors import RetryableGatewayError


class KeyBackend(Protocol):
    name: str

    def create_signing_key(self, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey: ...

    def signing_key(self, label: str) -> ec.EllipticCurvePrivateKey: ...

    def ensure_master_key(self) -> None: ...

    def wrap(self, owner_id: str, plaintext: bytes) -> bytes: ...

    def unwrap(self, owner_id: str, blob: bytes) -> bytes: ...


class KeyBackendError(RetryableGatewayError):
    """The back-end is misconfigured, unavailable or refused an operation (the cause is in the message, for the log).
    On the retryable branch of the error tree: the key store is outside the process, like a gateway."""


class UnwrapError(KeyBackendError):
    """A wrapped key does not open: wrong owner, tampered blob or another master key."""
