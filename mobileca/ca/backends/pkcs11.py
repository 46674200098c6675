"""CA keys and the master key inside a PKCS#11 token (SoftHSM2 in tests and CI, an HSM in production).

Keys are generated on the token, marked sensitive and non-extractable; signing sends the SHA-256 (or SHA-384) digest
computed in software with ``CKM_ECDSA`` (what SoftHSM2 supports), and the raw ``r || s`` comes back as DER for
``cryptography``. One session per token and process, guarded by a lock; if the token drops it (an HSM restart),
the operation reopens it once and runs again.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import pkcs11
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from django.views.decorators.debug import sensitive_variables
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

from mobileca.ca.backends import KeyBackendError, UnwrapError

MASTER_LABEL = "mobileca-master"
T = TypeVar("T")
_libraries: dict[str, Any] = {}
_library_lock = threading.RLock()


_sessions: dict[tuple[str, str], Any] = {}


def _library(path: str) -> Any:
    with _library_lock:  # a PKCS#11 library is initialised once per process
        if path not in _libraries:
            _libraries[path] = pkcs11.lib(path)
        return _libraries[path]


_SESSION_LOST = (
    pkcs11.exceptions.SessionClosed,
    pkcs11.exceptions.SessionHandleInvalid,
    pkcs11.exceptions.DeviceRemoved,
    pkcs11.exceptions.TokenNotPresent,
    pkcs11.exceptions.DeviceError,
)


def _forget_session(path: str, token_label: str) -> None:
    with _library_lock:
        _sessions.pop((path, token_label), None)


@sensitive_variables()
def _session(path: str, token_label: str, pin: str) -> Any:
    """One logged-in session per token and process: PKCS#11 logins belong to the application, not the session."""
    with _library_lock:
        key = (path, token_label)
        if key not in _sessions:
            token = _library(path).get_token(token_label=token_label)
            _sessions[key] = token.open(user_pin=pin, rw=True)
        return _sessions[key]


_token_lock = threading.RLock()  # the shared session is used by one thread at a time


class Pkcs11Backend:
    name = "pkcs11"

    @sensitive_variables()
    def __init__(self, library_path: str, token_label: str, user_pin: str) -> None:
        self.library_path, self.token_label, self.user_pin = library_path, token_label, user_pin
        self._session: Any = None
        self._lock = _token_lock
        self._keys: dict[str, TokenSigningKey] = {}
        self._master_handle: Any = None

    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                try:
                    self._session = _session(self.library_path, self.token_label, self.user_pin)
                except pkcs11.PKCS11Error as exc:
                    raise KeyBackendError(f"cannot open PKCS#11 token {self.token_label!r}: {exc!r}") from exc
            return self._session

    def reconnect(self) -> None:
        """Forget the session and the key handles (an HSM restart, a dropped session); the next use reopens."""
        with self._lock:
            _forget_session(self.library_path, self.token_label)
            self._session = None
            for key in self._keys.values():
                key._private = None
            self._master_handle = None

    def private_handle(self, label: str) -> Any:
        with self._lock:
            try:
                return self.session().get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)
            except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
                raise KeyBackendError(f"CA key {label!r} not found once on the token") from exc

    def create_signing_key(self, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
        with self._lock:
            session = self.session()
            if list(session.get_objects({Attribute.LABEL: label, Attribute.CLASS: ObjectClass.PRIVATE_KEY})):
                raise KeyBackendError(f"key {label!r} already exists on the token")
            parameters = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve.name)}, local=True
            )
            public, _private = parameters.generate_keypair(
                store=True,
                label=label,
                mechanism=Mechanism.EC_KEY_PAIR_GEN,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True},
            )
            return _public_key(public)

    def signing_key(self, label: str) -> ec.EllipticCurvePrivateKey:
        with self._lock:
            if label not in self._keys:
                session = self.session()
                try:
                    private = session.get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)
                    public = session.get_key(label=label, object_class=ObjectClass.PUBLIC_KEY)
                except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned) as exc:
                    raise KeyBackendError(f"CA key {label!r} not found once on the token") from exc
                self._keys[label] = TokenSigningKey(self, label, private, _public_key(public))
            return self._keys[label]

    def ensure_master_key(self) -> None:
        with self._lock:
            session = self.session()
            if list(session.get_objects({Attribute.LABEL: MASTER_LABEL, Attribute.CLASS: ObjectClass.SECRET_KEY})):
                return
            session.generate_key(
                KeyType.AES,
                256,
                store=True,
                label=MASTER_LABEL,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )

    def _master(self) -> Any:
        if self._master_handle is None:
            try:
                self._master_handle = self.session().get_key(label=MASTER_LABEL, object_class=ObjectClass.SECRET_KEY)
            except pkcs11.NoSuchKey as exc:
                raise KeyBackendError("no master key on the token") from exc
        return self._master_handle

    def retrying(self, operation: Callable[[], T]) -> T:
        """Run a token operation; if the session was lost, reopen once and run it again."""
        with self._lock:
            try:
                return operation()
            except _SESSION_LOST:
                self.reconnect()
                try:
                    return operation()
                except pkcs11.PKCS11Error as exc:
                    raise KeyBackendError(f"PKCS#11 token unavailable: {exc!r}") from exc
            except KeyBackendError:
                raise
            except pkcs11.PKCS11Error as exc:
                raise KeyBackendError(f"PKCS#11 operation failed: {exc!r}") from exc

    @sensitive_variables()
    def wrap(self, owner_id: str, plaintext: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        sealed = self.retrying(
            lambda: self._master().encrypt(
                plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, owner_id.encode(), 128)
            )
        )
        return nonce + bytes(sealed)

    @sensitive_variables()
    def unwrap(self, owner_id: str, blob: bytes) -> bytes:
        def open_blob() -> bytes:
            return bytes(
                self._master().decrypt(
                    blob[12:], mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(blob[:12], owner_id.encode(), 128)
                )
            )

        try:
            return self.retrying(open_blob)
        except KeyBackendError as exc:
            raise UnwrapError("wrapped key does not open for this owner") from exc


def _public_key(public: Any) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(bytes(encode_ec_public_key(public)))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyBackendError("token public key is not an EC key")
    return key


class TokenSigningKey(ec.EllipticCurvePrivateKey):
    """A CA key on the token, usable by ``cryptography``'s builders: ``sign()`` hashes here, signs there."""

    def __init__(self, backend: Pkcs11Backend, label: str, private: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._backend, self._label, self._private, self._public = backend, label, private, public

    def sign(
        self, data: bytes | bytearray | memoryview, signature_algorithm: ec.EllipticCurveSignatureAlgorithm
    ) -> bytes:
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, Prehashed):
            digest = bytes(data)
        else:
            hasher = hashes.Hash(algorithm)
            hasher.update(data)
            digest = hasher.finalize()

        def sign_on_token() -> bytes:
            if self._private is None:  # reopened since: find the key again
                self._private = self._backend.private_handle(self._label)
            return bytes(self._private.sign(digest, mechanism=Mechanism.ECDSA))

        raw = self._backend.retrying(sign_on_token)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        _refuse()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _refuse()

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        _refuse()

    def __copy__(self) -> TokenSigningKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> TokenSigningKey:
        return self


def _refuse() -> NoReturn:
    raise KeyBackendError("a token key never leaves the token and is only used to sign")
