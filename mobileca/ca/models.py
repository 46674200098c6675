from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuthorityRole(models.TextChoices):
    ROOT = "root", _("根 CA")
    ISSUING = "issuing", _("签发 CA")
    # The national-algorithm hierarchy (issue 19) beside the ECDSA one: roles of their own, so that every lookup of
    # "the" root or issuing CA (issuance, OCSP, the time-stamping unit, the channel check) keeps meaning the ECDSA one.
    SM2_ROOT = "sm2_root", _("SM2 根 CA")
    SM2_ISSUING = "sm2_issuing", _("SM2 签发 CA")


class AuthorityProfile(models.TextChoices):
    """The key algorithm of an authority's hierarchy: ECDSA (P-384 root, P-256 issuing CA, SHA-2) or SM2 (SM2 keys,
    SM3 with the ID 1234567812345678, certificates built by ``ca.gm``)."""

    ECDSA = "ecdsa", _("ECDSA")
    SM2 = "sm2", _("SM2（国密）")


SM2_ROLES = {AuthorityRole.SM2_ROOT: AuthorityRole.ROOT, AuthorityRole.SM2_ISSUING: AuthorityRole.ISSUING}


class Authority(models.Model):
    """A CA of a hierarchy. Its private key is in the key back-end: named by ``key_label`` (ECDSA), or, for an SM2
    authority, sealed under the back-end's master key in ``wrapped_key`` (the key label as associated data); never
    in plaintext here."""

    role = models.CharField(max_length=16, choices=AuthorityRole.choices)
    key_profile = models.CharField(max_length=8, choices=AuthorityProfile.choices, default=AuthorityProfile.ECDSA)
    key_backend = models.CharField(max_length=16)
    key_label = models.CharField(max_length=64, unique=True)
    wrapped_key = models.BinaryField(null=True, blank=True)
    subject = models.CharField(max_length=300)
    serial_hex = models.CharField(max_length=42, unique=True)
    certificate_der = models.BinaryField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    crl_number = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["role"], condition=models.Q(is_active=True), name="ca_one_active_authority_per_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.role}:{self.subject}"


class Usage(models.TextChoices):
    SIGN = "sign", _("签名证书")
    ENCRYPT = "encrypt", _("加密证书")
    TIMESTAMP = "tsa", _("时间戳证书")


class CertStatus(models.TextChoices):
    GOOD = "good", _("有效")
    REVOKED = "revoked", _("已吊销")


# Revocation is final (RFC 5280 has no un-revoke; certificateHold is not used).
CERT_TRANSITIONS: dict[str, frozenset[str]] = {
    CertStatus.GOOD: frozenset({CertStatus.REVOKED}),
    CertStatus.REVOKED: frozenset(),
}


class IssuedCertificate(models.Model):
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="issued")
    serial_hex = models.CharField(max_length=42, unique=True)
    owner_id = models.CharField(max_length=64, db_index=True)
    usage = models.CharField(max_length=8, choices=Usage.choices)
    subject_cn = models.CharField(max_length=200)
    certificate_der = models.BinaryField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    status = models.CharField(max_length=8, choices=CertStatus.choices, default=CertStatus.GOOD)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["authority", "status"])]
        constraints = [
            # One valid signing and one valid encryption certificate per credential, ever (re-key revokes first).
            models.UniqueConstraint(
                fields=["owner_id", "usage"], condition=models.Q(status="good"), name="ca_one_valid_cert_per_usage"
            )
        ]

    def __str__(self) -> str:
        return self.serial_hex


class Crl(models.Model):
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="crls")
    number = models.PositiveIntegerField()
    this_update = models.DateTimeField()
    next_update = models.DateTimeField()
    der = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["authority", "number"], name="ca_crl_number_once")]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"CRL #{self.number}"


class OcspResponse(models.Model):
    """A pre-produced OCSP response (RFC 6960 §2.4, RFC 5019) of one certificate for one CertID hash algorithm:
    clients send SHA-1 or SHA-256 CertIDs and match the response's CertID against theirs, so each certificate has
    one of each. No nonce; re-signed on revocation and before ``next_update`` by the periodic job."""

    certificate = models.ForeignKey(IssuedCertificate, on_delete=models.CASCADE, related_name="ocsp_responses")
    authority = models.ForeignKey(Authority, on_delete=models.PROTECT, related_name="ocsp_responses")
    hash_algorithm = models.CharField(max_length=8)  # "sha1" or "sha256": the CertID's hash
    serial_hex = models.CharField(max_length=42)
    der = models.BinaryField()
    etag = models.CharField(max_length=64)  # hex SHA-256 of ``der``
    produced_at = models.DateTimeField()
    this_update = models.DateTimeField()
    next_update = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["certificate", "hash_algorithm"], name="ca_one_ocsp_response_per_hash")
        ]
        indexes = [models.Index(fields=["authority", "hash_algorithm", "serial_hex"])]

    def __str__(self) -> str:
        return f"OCSP {self.hash_algorithm} {self.serial_hex}"


class TimeStampUnit(models.Model):
    """The time-stamping authority's signing unit (RFC 3161): its key in the key back-end, named by ``key_label``
    (never here), and its certificate, an ``IssuedCertificate`` of usage ``tsa`` below the issuing CA (so its CRL
    and OCSP responses are those of every certificate of ours). One is active; older ones stay for verification."""

    certificate = models.OneToOneField(IssuedCertificate, on_delete=models.PROTECT, related_name="+")
    key_backend = models.CharField(max_length=16)
    key_label = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="ca_one_active_time_stamp_unit"
            )
        ]

    def __str__(self) -> str:
        return self.key_label


class TimeStampSerial(models.Model):
    """The sequence behind time-stamp token serial numbers: unique whatever the concurrency, in every process of
    every host. On PostgreSQL only its identity sequence is used (``nextval``, no row written); on SQLite a row is
    inserted (AUTOINCREMENT never reuses a value) and the older ones deleted."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return str(self.pk)
