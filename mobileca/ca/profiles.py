"""Certificate profiles: root CA, issuing CA, and the dual certificates of a credential (RFC 5280).

* Root: ECDSA P-384, self-signed, CA without path limit, keyCertSign + cRLSign.
* Issuing: ECDSA P-256, CA with pathLen 0, keyCertSign + cRLSign + digitalSignature (it signs OCSP responses),
  CRL distribution point and caIssuers of the root.
* Credential (one per claimed card): a signing certificate (digitalSignature, nonRepudiation) and an encryption
  certificate (keyAgreement or keyEncipherment, as the key's profile says: ECDH or RSA key transport), both with
  the subject ``C=CN, O=<enterprise>, organizationIdentifier=NTRCN-<unified social credit code>, CN=<enterprise>,
  givenName=<claimant>``, the platform's certificate policy (the channel check of R4.5), CRL distribution point
  and AIA (OCSP, caIssuers).
* Time-stamping unit (``tsa_certificate``): ECDSA P-256 below the issuing CA, extended key usage id-kp-timeStamping
  (critical, alone), digitalSignature + nonRepudiation, CRL distribution point and AIA, no platform policy.

Long enterprise names (issue 14). RFC 5280 (Appendix A) bounds organizationName and commonName to 64 characters
(ub-organization-name, ub-common-name); the ``cryptography`` library, which issues our certificates and reads them
back (the channel check, the bid opening), holds commonName to 64 UTF-8 *bytes*, 21 Chinese characters, and warns on
reading a longer one. Registered enterprise names are often longer (景德镇市…有限责任公司). So a name of at most 64
bytes is written in O and CN as it is, as before; a longer one is written in both *shortened* by one rule,
``short_name``: its last 6 characters (the form: 有限责任公司, 股份有限公司), after as many of its first characters
(the region and the trade name) as fit, joined by ``…`` (U+2026, so that no reader takes it for the whole name),
64 bytes in all; and the full name is carried in the subject's ``description`` attribute (X.520 2.5.4.13, a
DirectoryString of up to ub-description = 1,024 characters), which only such certificates have. The enterprise is
identified, as in every certificate, by its unified social credit code in organizationIdentifier;
``enterprise_name_of`` reads the full name back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from django.conf import settings

from mobileca.ca.keys import X509PublicKey, profile_of_public_key

BACKDATE = timedelta(minutes=5)  # tolerate clocks a little behind ours
UB_NAME = 64  # RFC 5280 ub-organization-name and ub-common-name (characters); cryptography: commonName in bytes
UB_DESCRIPTION = 1024  # X.520 ub-description
DESCRIPTION = x509.ObjectIdentifier("2.5.4.13")  # X.520 description
_TAIL = 6  # characters kept from the end of a shortened name: the form of the enterprise
_ELLIPSIS = "…"


@dataclass(frozen=True)
class Subject:
    enterprise_name: str
    uscc: str
    claimant_name: str


def pki_url(path: str) -> str:
    return f"{settings.MOBILECA_PUBLIC_URL}/pki/{path}"


def policy_oid() -> x509.ObjectIdentifier:
    return x509.ObjectIdentifier(str(settings.MOBILECA_CA["policy_oid"]))


def ca_name(role: str) -> x509.Name:
    name = settings.MOBILECA_CA["name"]
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.MOBILECA_SELLER["name"]),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {'Root' if role == 'root' else 'Issuing'} CA"),
        ]
    )


def short_name(name: str) -> str:
    """The enterprise's name within 64 UTF-8 bytes (and so within RFC 5280's 64 characters): itself if it fits;
    otherwise as many of its first characters as fit, ``…`` and its last 6 (see the module's docstring)."""
    if len(name.encode()) <= UB_NAME:
        return name
    tail = name[-_TAIL:]
    budget = UB_NAME - len((_ELLIPSIS + tail).encode())
    head, used = [], 0
    for character in name[:-_TAIL]:
        used += len(character.encode())
        if used > budget:
            break
        head.append(character)
    return "".join(head) + _ELLIPSIS + tail


def entity_name(subject: Subject) -> x509.Name:
    name = subject.enterprise_name
    if not 0 < len(name) <= UB_DESCRIPTION:
        raise ValueError(f"an enterprise name has 1 to {UB_DESCRIPTION} characters")
    shown = short_name(name)
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, shown),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{subject.uscc}"),
    ]
    if shown != name:
        attributes.append(x509.NameAttribute(DESCRIPTION, name))
    attributes += [
        x509.NameAttribute(NameOID.COMMON_NAME, shown),
        x509.NameAttribute(NameOID.GIVEN_NAME, subject.claimant_name),
    ]
    return x509.Name(attributes)


def enterprise_name_of(certificate: x509.Certificate) -> str:
    """The full enterprise name a certificate of ours names: the ``description`` when the name was shortened,
    otherwise organizationName (commonName for a certificate without one)."""
    for oid in (DESCRIPTION, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        values = certificate.subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return ""


def _ca_usage(*, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def root_certificate(
    *, key: CertificateIssuerPrivateKeyTypes, public_key: ec.EllipticCurvePublicKey, now: datetime, years: int = 20
) -> x509.Certificate:
    name = ca_name("root")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(digital_signature=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA384())
    )


def issuing_certificate(
    *,
    root_key: CertificateIssuerPrivateKeyTypes,
    root: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    years: int = 10,
) -> x509.Certificate:
    return _issued(
        issuer_key=root_key,
        issuer=root,
        subject=ca_name("issuing"),
        public_key=public_key,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=365 * years),
        constraints=x509.BasicConstraints(ca=True, path_length=0),
        key_usage=_ca_usage(digital_signature=True),
        issuer_file="root",
        ocsp=False,
        algorithm=hashes.SHA384(),
    )


def _issued(
    *,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Certificate,
    subject: x509.Name,
    public_key: X509PublicKey,
    not_before: datetime,
    not_after: datetime,
    constraints: x509.BasicConstraints,
    key_usage: x509.KeyUsage,
    issuer_file: str,
    ocsp: bool,
    algorithm: hashes.SHA256 | hashes.SHA384,
    platform_policy: bool = True,
    extended_usage: x509.ExtendedKeyUsage | None = None,
) -> x509.Certificate:
    """A certificate below ``issuer``, with what every one of ours carries: key identifiers, the issuer's CRL
    (``<issuer_file>.crl``) and certificate (``<issuer_file>.crt``), the OCSP responder if ``ocsp``, the platform's
    policy unless ``platform_policy`` is false, a critical extended key usage if given. Never valid past its
    issuer."""
    locations = [(AuthorityInformationAccessOID.OCSP, "ocsp")] if ocsp else []
    locations.append((AuthorityInformationAccessOID.CA_ISSUERS, f"{issuer_file}.crt"))
    access = [x509.AccessDescription(how, x509.UniformResourceIdentifier(pki_url(path))) for how, path in locations]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, issuer.not_valid_after_utc))
        .add_extension(constraints, critical=True)
        .add_extension(key_usage, critical=True)
    )
    if extended_usage is not None:
        builder = builder.add_extension(extended_usage, critical=True)
    builder = (
        builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
        .add_extension(_crl_distribution(f"{issuer_file}.crl"), critical=False)
        .add_extension(x509.AuthorityInformationAccess(access), critical=False)
    )
    if platform_policy:
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(policy_oid(), None)]), critical=False
        )
    return builder.sign(issuer_key, algorithm)


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _crl_distribution(file_name: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(pki_url(file_name))], None, None, None)]
    )


def entity_usage(usage: str, public_key: X509PublicKey) -> x509.KeyUsage:
    """Signing: digitalSignature + nonRepudiation; encryption: what the key's profile protects a content key with."""
    sign = usage == "sign"
    agreement = profile_of_public_key(public_key).key_agreement
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=sign,
        key_encipherment=not sign and not agreement,
        data_encipherment=False,
        key_agreement=not sign and agreement,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def entity_certificate(
    *,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Certificate,
    subject: Subject,
    usage: str,
    public_key: X509PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    return _issued(
        issuer_key=issuer_key,
        issuer=issuer,
        subject=entity_name(subject),
        public_key=public_key,
        not_before=not_before,
        not_after=not_after,
        constraints=x509.BasicConstraints(ca=False, path_length=None),
        key_usage=entity_usage(usage, public_key),
        # The issuing CA's own CRL and certificate, by its serial: after a rotation, a retired CA's certificates still
        # point at the retired CA's CRL and certificate, not at the new CA's (/pki/issuing.* names the active one).
        issuer_file=f"ca/{issuer.serial_number:x}",
        ocsp=True,
        algorithm=hashes.SHA256(),
    )


def tsa_name() -> x509.Name:
    """The time-stamping unit's subject (and the ``tsa`` name its tokens carry): ``C=CN, O=<seller>,
    CN=<MOBILECA_CA_NAME> TSA``."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.MOBILECA_SELLER["name"]),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{settings.MOBILECA_CA['name']} TSA"),
        ]
    )


TSA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def tsa_certificate(
    *,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime,
    years: int = 5,
) -> x509.Certificate:
    """The time-stamping unit's certificate (RFC 3161 §2.3): issued by the issuing CA, extended key usage
    id-kp-timeStamping only and critical, key usage digitalSignature + nonRepudiation only, the issuing CA's CRL and
    OCSP responder (so that validators of long-term signatures can check it like any certificate of ours). It
    carries no platform certificate policy: a TSA certificate can never pass the channel check as a bidder's."""
    return _issued(
        issuer_key=issuer_key,
        issuer=issuer,
        subject=tsa_name(),
        public_key=public_key,
        not_before=now - BACKDATE,
        not_after=now + timedelta(days=365 * years),
        constraints=x509.BasicConstraints(ca=False, path_length=None),
        key_usage=TSA_USAGE,
        issuer_file=f"ca/{issuer.serial_number:x}",
        ocsp=True,
        algorithm=hashes.SHA256(),
        platform_policy=False,
        extended_usage=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
    )
