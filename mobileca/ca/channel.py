"""The channel check (R4.5): only certificates bought and claimed through this platform are accepted.

A certificate passes only if it chains to our issuing CA (``cryptography``'s X.509 path validation against our
root), carries the platform's certificate policy, holds a key of a profile we issue, is within its validity now,
is the one we recorded for that usage, and is not revoked. Every refusal
has a code and a message a user can act on; the cryptographic detail goes to the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError
from django.utils.translation import gettext as _

from mobileca.ca.keys import UnknownKeyProfile, profile_of_public_key
from mobileca.ca.models import AuthorityRole, CertStatus, IssuedCertificate
from mobileca.ca.profiles import policy_oid
from mobileca.ca.services import authority, certificate_of
from mobileca.core.clock import now

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


def channel_check(certificate: x509.Certificate | bytes, *, usage: str = "sign") -> ChannelVerdict:
    """``usage``: "sign" for a signer's certificate, "encrypt" for a recipient's."""
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
    root, issuing = certificate_of(authority(AuthorityRole.ROOT)), certificate_of(authority(AuthorityRole.ISSUING))
    try:
        # Validated at a moment inside the certificate's own validity: this answers "is it ours?"; expiry is next.
        verifier = (
            PolicyBuilder()
            .store(Store([root]))
            .time(certificate.not_valid_before_utc)
            .max_chain_depth(2)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        verifier.verify(certificate, [issuing])
    except VerificationError as exc:
        log.info("channel check refused %s: %s", serial_hex, exc)
        return _refuse("not_ours", not_ours, serial_hex)
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return _refuse("no_policy", not_ours, serial_hex)
    if policy_oid() not in {policy.policy_identifier for policy in policies}:
        return _refuse("no_policy", not_ours, serial_hex)
    try:
        profile = profile_of_public_key(certificate.public_key())
    except UnknownKeyProfile:
        return _refuse("key_profile", not_ours, serial_hex)
    moment = now()
    if moment < certificate.not_valid_before_utc:
        return _refuse("not_yet_valid", _("此证书尚未生效"), serial_hex)
    if moment > certificate.not_valid_after_utc:
        return _refuse("expired", _("此证书已过期，请在「CA 续费申领」中续费后使用"), serial_hex)
    issuing_id = authority(AuthorityRole.ISSUING).pk
    record = IssuedCertificate.objects.filter(authority_id=issuing_id, serial_hex=serial_hex).first()
    if record is None or bytes(record.certificate_der) != certificate.public_bytes(Encoding.DER):
        return _refuse("unknown", not_ours, serial_hex)
    if record.usage != usage:
        wrong = _("这是加密证书，不能用于签名") if usage == "sign" else _("这是签名证书，不能用于加密")
        return _refuse("wrong_usage", wrong, serial_hex)
    if record.status == CertStatus.REVOKED:
        return _refuse("revoked", _("此证书已被吊销（续费后旧证书自动吊销），请使用当前有效的证书"), serial_hex)
    return ChannelVerdict(True, "ok", "", serial_hex, record.owner_id, profile.name)
