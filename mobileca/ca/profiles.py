"""Certificate profiles: root CA, issuing CA, and the dual certificates of a credential (RFC 5280).

* Root: ECDSA P-384, self-signed, CA without path limit, keyCertSign + cRLSign.
* Issuing: ECDSA P-256, CA with pathLen 0, keyCertSign + cRLSign + digitalSignature (it signs OCSP responses),
  CRL distribution point and caIssuers of the root.
* Credential (one per claimed card): a signing certificate (digitalSignature, nonRepudiation) and an encryption
  certificate (keyAgreement or keyEncipherment, as the key's profile says: ECDH or RSA key transport), both with
  the subject ``C=CN, O=<enterprise>, organizationIdentifier=NTRCN-<unified social credit code>, CN=<enterprise>,
  givenName=<claimant>``, the platform's certificate policy (the channel check of R4.5), CRL distribution point
  and AIA (OCSP, caIssuers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from django.conf import settings

from mobileca.ca.keys import UserPublicKey, profile_of_public_key

BACKDATE = timedelta(minutes=5)  # tolerate clocks a little behind ours


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


def entity_name(subject: Subject) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.enterprise_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{subject.uscc}"),
            x509.NameAttribute(NameOID.COMMON_NAME, subject.enterprise_name),
            x509.NameAttribute(NameOID.GIVEN_NAME, subject.claimant_name),
        ]
    )


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
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name("issuing"))
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + timedelta(days=365 * years), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(root), critical=False)
        .add_extension(_crl_distribution("root.crl"), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(pki_url("root.crt"))
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(policy_oid(), None)]), critical=False)
        .sign(root_key, hashes.SHA384())
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _crl_distribution(file_name: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier(pki_url(file_name))], None, None, None)]
    )


def entity_usage(usage: str, public_key: UserPublicKey) -> x509.KeyUsage:
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
    public_key: UserPublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(entity_name(subject))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, issuer.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(entity_usage(usage, public_key), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
        .add_extension(_crl_distribution("issuing.crl"), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(pki_url("ocsp"))
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(pki_url("issuing.crt"))
                    ),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.CertificatePolicies([x509.PolicyInformation(policy_oid(), None)]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
