"""Proof of time for sealed bids (issue 17): at submission every bid's signature gets an RFC 3161 time-stamp token
from the platform's time-stamping authority, kept with the bid; at the opening the token is checked and its time
shown as 「递交时间（可信时间戳）」.

What is time-stamped is the signature value of the bid's one SignerInfo (the message imprint is its SHA-256), as
RFC 3161 Appendix A and CAdES's signature-time-stamp do: the token proves that this signature — and so the signed
digest of the plaintext — existed at genTime. A token whose genTime is not before the tender's deadline makes the
submission refused."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from django.db import DatabaseError
from django.utils.translation import gettext as _

from mobileca.ca import facade as ca
from mobileca.core.errors import ApplicationError

log = logging.getLogger(__name__)


class NoSignatureValue(ValueError):
    """The stored signature is not a SignedData with one signer."""


def signature_imprint(signature_der: bytes) -> bytes:
    """SHA-256 of the signature value of the SignedData's one SignerInfo: what the bid's token is over."""
    try:
        info = cms.ContentInfo.load(signature_der, strict=True)
        signers = list(info["content"]["signer_infos"])
        if info["content_type"].native != "signed_data" or len(signers) != 1:
            raise NoSignatureValue("not a SignedData with one signer")
        value = signers[0]["signature"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise NoSignatureValue(f"malformed signature: {exc}") from exc
    return hashlib.sha256(value).digest()


@dataclass(frozen=True)
class Stamped:
    token: bytes
    gen_time: datetime


def stamp(signature_der: bytes) -> Stamped | None:
    """A token over the bid's signature; ``None`` (logged) if the time-stamping authority cannot answer — the bid is
    then submitted without one, by the platform's clock alone, and shows that it has none."""
    try:
        imprint = signature_imprint(signature_der)
        token = ca.timestamp(digest=imprint)
        verdict = ca.timestamp_verify(token=token, digest=imprint)
    except (
        NoSignatureValue,
        ca.TimestampRefused,
        ca.TimestampInvalid,
        ca.KeyBackendError,
        ApplicationError,
        DatabaseError,
    ) as exc:
        log.error("no time-stamp token for a bid signature: %s", exc)
        return None
    return Stamped(token=token, gen_time=verdict.gen_time)


@dataclass(frozen=True)
class TokenCheck:
    valid: bool
    gen_time: datetime | None
    message: str  # why not, for the bidder (Chinese); "" when valid


def check(*, token: bytes, signature_der: bytes) -> TokenCheck:
    """At the opening: the token verifies (signature, our time-stamping unit, its chain to our root at genTime)
    and its imprint is the stored signature's."""
    try:
        imprint = signature_imprint(signature_der)
    except NoSignatureValue:
        return TokenCheck(False, None, _("时间戳无效：投标文件的签名格式无效"))
    try:
        verdict = ca.timestamp_verify(token=token, digest=imprint)
    except ca.TimestampMismatch:
        return TokenCheck(False, None, _("时间戳无效：时间戳不是针对该投标文件签名的"))
    except ca.TimestampInvalid as exc:
        log.warning("bid time-stamp token refused: %s", exc)
        return TokenCheck(False, None, _("时间戳无效：时间戳签名或时间戳服务证书校验失败"))
    return TokenCheck(True, verdict.gen_time, "")
