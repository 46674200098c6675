"""The channel check (R4.5): only certificates bought and claimed through this platform are accepted.

A certificate passes only if it chains to our issuing CA (``cryptography``'s X.509 path validation against our
root), carries the platform's certificate policy, holds a key of a profile we issue, is within its validity now,
is the one we recorded for that usage, and is not revoked. Every refusal
has a code and a message a user can act on; the cryptographic detail goes to the log.

A certificate signed SM3withSM2 (issue 19) is judged against the SM2 hierarchy instead: ``cryptography`` cannot
verify SM2, so its path is validated by ``gm.validate_chain`` (pyOpenSSL's ``X509Store`` on ``cryptography``'s
OpenSSL, ID 1234567812345678) to the SM2 root through one of the SM2 issuing CAs the platform has run, the active
one or a retired one (a rotation leaves the certificates it issued valid), and its key is read with
``keys.public_key_of_certificate``. The other checks, codes and messages are the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError
from django.utils.translation import gettext as _

from mobileca.ca import gm, sm2
from mobileca.ca.keys import UnknownKeyProfile, profile_of_public_key, public_key_of_certificate
from mobileca.ca.models import Authority, AuthorityRole, CertStatus, IssuedCertificate
from mobileca.ca.profiles import policy_oid
from mobileca.ca.services import authority, certificate_of
from mobileca.core.clock import now

KEY_COMPROMISE = x509.ReasonFlags.key_compromise.name  # as ca.services records a revocation's reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelVerdict:
    accepted: bool
    code: str
    message: str
    serial_hex: str = ""
    owner_id: str = ""
    key_profile: str = ""  # the name of the certificate key's profile (ca.keys), when accepted


def _refuse(code: str, message: str, serial_hex: str = "") -> ChannelVerdict:
    return ChannelVerdict(False, code, message, serial_hex)


def channel_check(
    certificate: x509.Certificate | bytes, *, usage: str = "sign", at: datetime | None = None
) -> ChannelVerdict:
    """``usage``: "sign" for a signer's certificate, "encrypt" for a recipient's. ``at``: the moment the signature
    was made (a bid's submission), judged instead of now — valid then, and not revoked by then (a renewal's
    superseding later leaves it valid; a key compromise never does)."""
    if isinstance(certificate, bytes):
        try:
            certificate = (
                x509.load_pem_x509_certificate(certificate)
                if certificate.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate(certificate)
            )
        except ValueError:
            return _refuse("malformed", _("无法识别的证书文件"))
    serial_hex = f"{certificate.serial_number:x}"
    not_ours = _("此证书不是通过本平台购买和申领的移动 CA，无法在本平台使用；请通过「CA 新购」购买并申领。")
    if certificate.signature_algorithm_oid.dotted_string == gm.SM2_SM3_SIGNATURE_OID:
        issuing_id = _sm2_issuer(certificate, serial_hex)
        if issuing_id is None:
            return _refuse("not_ours", not_ours, serial_hex)
        return _judge(certificate, serial_hex, issuing_id, usage, not_ours, at)
    issuing_id = _ecdsa_issuer(certificate, serial_hex)
    if issuing_id is None:
        return _refuse("not_ours", not_ours, serial_hex)
    return _judge(certificate, serial_hex, issuing_id, usage, not_ours, at)


def _ecdsa_issuer(certificate: x509.Certificate, serial_hex: str) -> int | None:
    """The ECDSA issuing CA (active or retired: a rotation leaves the credentials it certified valid) through which
    a certificate chains to the root (``cryptography``'s path validation), at a moment inside the certificate's
    validity (this answers "is it ours?"; expiry is judged next); None if it chains through none of them."""
    root = certificate_of(authority(AuthorityRole.ROOT))
    issuer_name = certificate.issuer.public_bytes()
    candidates = {
        bytes(record.certificate_der): record.pk
        for record in Authority.objects.filter(role=AuthorityRole.ISSUING).order_by("-is_active", "-pk")
    }
    intermediates = [
        parsed
        for parsed in (x509.load_der_x509_certificate(der) for der in candidates)
        if parsed.subject.public_bytes() == issuer_name
    ]
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(certificate.not_valid_before_utc)
        .max_chain_depth(2)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(certificate, intermediates).chain
    except VerificationError as exc:
        log.info("channel check refused %s: %s", serial_hex, exc)
        return None
    if len(chain) != 3:  # leaf, one issuing CA, the root: pathLen 0 under the root
        return None
    return candidates.get(chain[1].public_bytes(Encoding.DER))


def _sm2_issuer(certificate: x509.Certificate, serial_hex: str) -> int | None:
    """The SM2 issuing CA (active or retired) through which an SM2-signed certificate chains to the SM2 root, at a
    moment inside the certificate's validity; None if it chains through none of them."""
    root_record = Authority.objects.filter(role=AuthorityRole.SM2_ROOT, is_active=True).first()
    if root_record is None:  # no SM2 hierarchy here: no SM2 certificate is ours
        return None
    leaf, root = certificate.public_bytes(Encoding.DER), bytes(root_record.certificate_der)
    issuer_name = certificate.issuer.public_bytes()
    for candidate in Authority.objects.filter(role=AuthorityRole.SM2_ISSUING).order_by("-is_active", "-pk"):
        issuing = bytes(candidate.certificate_der)
        if x509.load_der_x509_certificate(issuing).subject.public_bytes() != issuer_name:
            continue
        try:
            gm.validate_chain(leaf, [issuing], [root], at=certificate.not_valid_before_utc)
        except gm.GmVerifyError as exc:
            log.info("channel check: %s does not chain through SM2 CA %s: %s", serial_hex, candidate.serial_hex, exc)
            continue
        return candidate.pk
    log.info("channel check refused %s: no SM2 issuing CA of ours issued it", serial_hex)
    return None


def _public_key(certificate: x509.Certificate) -> object:
    """The certificate's key, of whatever profile (``keys.public_key_of_certificate``); None if it is unreadable."""
    try:
        return public_key_of_certificate(certificate.public_bytes(Encoding.DER))
    except (ValueError, sm2.Sm2Error):
        return None


def _judge(
    certificate: x509.Certificate,
    serial_hex: str,
    issuing_id: int,
    usage: str,
    not_ours: str,
    at: datetime | None = None,
) -> ChannelVerdict:
    """The checks after the path: policy, key profile, validity now (or ``at``), the recorded row (of
    ``issuing_id``), usage and revocation (by then; a key compromise whenever)."""
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return _refuse("no_policy", not_ours, serial_hex)
    if policy_oid() not in {policy.policy_identifier for policy in policies}:
        return _refuse("no_policy", not_ours, serial_hex)
    try:
        profile = profile_of_public_key(_public_key(certificate))
    except UnknownKeyProfile:
        return _refuse("key_profile", not_ours, serial_hex)
    moment = at or now()
    if moment < certificate.not_valid_before_utc:
        return _refuse("not_yet_valid", _("此证书尚未生效"), serial_hex)
    if moment > certificate.not_valid_after_utc:
        return _refuse("expired", _("此证书已过期，请在「CA 续费申领」中续费后使用"), serial_hex)
    record = IssuedCertificate.objects.filter(authority_id=issuing_id, serial_hex=serial_hex).first()
    if record is None or bytes(record.certificate_der) != certificate.public_bytes(Encoding.DER):
        return _refuse("unknown", not_ours, serial_hex)
    if record.usage != usage:
        wrong = _("这是加密证书，不能用于签名") if usage == "sign" else _("这是签名证书，不能用于加密")
        return _refuse("wrong_usage", wrong, serial_hex)
    revoked_by_then = record.revoked_at is None or record.revoked_at <= moment
    if record.status == CertStatus.REVOKED and (revoked_by_then or record.revocation_reason == KEY_COMPROMISE):
        return _refuse("revoked", _("此证书已被吊销（续费后旧证书自动吊销），请使用当前有效的证书"), serial_hex)
    return ChannelVerdict(True, "ok", "", serial_hex, record.owner_id, profile.name)
