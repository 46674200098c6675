"""Proof of time for sealed bids (issue 17): at submission every bid's signature gets an RFC 3161 time-stamp token
from the platform's time-stamping authority, kept with the bid; at the opening the token is checked and its time
shown as 「递交时间（可信时间戳）」.

What is time-stamped is the signature value of the bid's one SignerInfo (the message imprint is its SHA-256), as
RFC 3161 Appendix A and CAdES's signature-time-stamp do: the token proves that this signature — and so the signed
digest of the plaintext — existed at genTime. A token whose genTime is not before the tender's deadline makes the
submission refused.

A GB/T 35275 bid (SM2 credentials, issue 19) is time-stamped the same way: the imprint is the SHA-256 of its SM2
signature value, whichever content-type OID (RFC 5652 or GB/T 35275) its SignedData carries."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, core
from django.db import DatabaseError
from django.utils.translation import gettext as _

from mobileca.ca import facade as ca
from mobileca.core.errors import ApplicationError

log = logging.getLogger(__name__)


class NoSignatureValue(ValueError):
    """The stored signature is not a SignedData with one signer."""


# SignedData content types: RFC 5652 and GB/T 35275 (cmslib.gm)
_SIGNED_DATA = frozenset({"1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"})


class _ContentInfo(core.Sequence):
    """ContentInfo with its content type kept as a bare OID, so the GB/T 35275 one needs no registration."""

    _fields = [
        ("content_type", core.ObjectIdentifier),
        ("content", core.Any, {"explicit": 0, "optional": True}),
    ]


def signature_imprint(signature_der: bytes) -> bytes:
    """SHA-256 of the signature value of the SignedData's one SignerInfo: what the bid's token is over."""
    try:
        info = _ContentInfo.load(signature_der, strict=True)
        if info["content_type"].dotted not in _SIGNED_DATA or isinstance(info["content"], core.Void):
            raise NoSignatureValue("not a SignedData")
        content = cms.SignedData.load(info["content"].parse(cms.SignedData).untag().dump(), strict=True)
        signers = list(content["signer_infos"])
        if len(signers) != 1:
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
