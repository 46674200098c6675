"""Bid files (R5.1–R5.3, R4.2, R4.5): tenders, sealing (in the browser: encrypted as the upload arrives; with the
tool: sealed on the bidder's machine, only ciphertext uploaded), the signature through the remote signer (PIN on
the phone), submission before the deadline, and opening with the claimant's authorisation.

The signing service is reached only through ``shield.facade`` (the platform is its client), the CA only through
``ca.facade`` (the channel check), the cards only through ``cards.selectors`` (a claimed card, never the row)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import transaction
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mobileca.audit.services import Actor, audit_record
from mobileca.bidding import readiness, storage, timestamps
from mobileca.bidding.models import (
    BID_TRANSITIONS,
    Bid,
    BidStatus,
    CryptoProfile,
    Tender,
    project_no_from_url_key,
    project_no_problem,
)
from mobileca.bidding.storage import ciphertext_path
from mobileca.bidding.upload import GmWriter
from mobileca.ca import facade as ca
from mobileca.cards.selectors import ClaimedCard, access_claimed_card_by_cert_id, claimed_card_by_service_no
from mobileca.cmslib import enveloped, gm, signed
from mobileca.core import inputs
from mobileca.core.clock import now
from mobileca.core.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from mobileca.core.states import ensure_transition
from mobileca.shield import facade as shield

if TYPE_CHECKING:  # annotations only: accounts hands its users and enterprises in through its selectors
    from mobileca.accounts.models import Enterprise, User


def _move(bid: Bid, target: BidStatus, *, also: Iterable[str] = ()) -> None:
    """The one writer of a bid's status (the caller holds the row lock): the move, saved with the fields in ``also``
    that the caller set for it."""
    ensure_transition(BID_TRANSITIONS, bid.status, target)
    bid.status = target
    bid.save(update_fields=["status", *also])


TENDER_NAME_MAX = 200  # Tender.name
FILE_NAME_MAX = 200  # Bid.file_name
BID_MAX_BYTES_DEFAULT = 4 * 1024**3


def bid_max_bytes() -> int:
    """The largest bid file the platform accepts (``MOBILECA_BID_MAX_BYTES``, 4 GiB by default)."""
    return int(getattr(settings, "MOBILECA_BID_MAX_BYTES", BID_MAX_BYTES_DEFAULT))


def check_bid_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= bid_max_bytes():
        raise InvalidInput(_("文件大小无效：须为 1 至 {limit} 字节").format(limit=bid_max_bytes()), code="bad_size")


# --- tenders (operators) ---------------------------------------------------------------------------------------


def tender_create(
    *, operator: User, project_no: str, name: str, bid_deadline: datetime, opening_at: datetime
) -> Tender:
    project_no, name = project_no.strip(), name.strip()
    if not project_no or not name:
        raise InvalidInput(_("请填写项目编号和项目名称"), code="tender_incomplete")
    problem = project_no_problem(project_no)
    if problem:
        raise InvalidInput(problem, code="invalid_project_no")
    try:
        inputs.text(name, max_length=TENDER_NAME_MAX)
    except inputs.BadInput as exc:
        raise InvalidInput(
            _("项目名称须为不超过 {n} 个字符的文字").format(n=TENDER_NAME_MAX), code="invalid_tender_name"
        ) from exc
    if not (inputs.in_date_range(bid_deadline) and inputs.in_date_range(opening_at)):
        raise InvalidInput(_("投标截止时间或开标时间无效"), code="bad_tender_time")
    if bid_deadline <= now():
        raise InvalidInput(_("投标截止时间须晚于现在"), code="deadline_past")
    if opening_at < bid_deadline:
        raise InvalidInput(_("开标时间不能早于投标截止时间"), code="opening_before_deadline")
    with transaction.atomic():
        if Tender.objects.filter(project_no=project_no).exists():
            raise Conflict(_("项目编号已存在"), code="tender_exists")
        tender = Tender.objects.create(
            project_no=project_no,
            name=name,
            bid_deadline=bid_deadline,
            opening_at=opening_at,
            created_by=operator,
            created_at=now(),
        )
        audit_record(
            action="tender.created",
            subject=f"tender:{project_no}",
            actor=Actor("operator", str(operator.pk)),
            data={"deadline": bid_deadline.isoformat(), "opening": opening_at.isoformat()},
        )
    return tender


def tender_get(key: str) -> Tender:
    """The tender a URL names: its project number, or the ``~…`` key of one from before the rule on project numbers
    (``Tender.url_key``)."""
    project_no = project_no_from_url_key(key)
    tender = Tender.objects.filter(project_no=project_no).first() if project_no is not None else None
    if tender is None:
        raise NotFound(_("未找到该项目"), code="tender_unknown")
    return tender


def _refuse_after_deadline(tender: Tender) -> None:
    if now() >= tender.bid_deadline:
        raise Conflict(_("已过投标截止时间，不再接收投标文件"), code="deadline_passed")


# --- the bidder's certificate ----------------------------------------------------------------------------------


def _usable_certificates(service_no: str) -> shield.CredentialCertificates:
    """The credential's certificates, each passing the channel check now (R4.5): ours, in policy, valid, not
    revoked, the right usage."""
    try:
        certificates = shield.credential_certificates(service_no=service_no)
    except ApplicationError as exc:
        raise PermissionDenied(_("该移动 CA 不能用于本平台投标"), code="credential_unusable") from exc
    for pem, usage in ((certificates.sign_pem, "sign"), (certificates.encrypt_pem, "encrypt")):
        verdict = ca.channel_check(x509.load_pem_x509_certificate(pem.encode()), usage=usage)
        if not verdict.accepted:
            raise PermissionDenied(
                _("证书未通过本平台的通道校验：{reason}").format(reason=verdict.message), code="channel_check_failed"
            )
    return certificates


SM2_PROFILE = "sm2"  # the key profile (ca.keys) whose bid files are GB/T 35275 (issue 19)


def gm_writer() -> GmWriter:
    """What the platform writes for an SM2 credential's bid (``MOBILECA_GM_CMS_CIPHER``, ``MOBILECA_GM_CMS_FLAVOUR``):
    SM4-GCM by default (the envelope stays on the platform), SM4-CBC for envelopes exported to GB/T 35275 peers."""
    cipher = getattr(settings, "MOBILECA_GM_CMS_CIPHER", "sm4-gcm")
    return GmWriter(
        mode="cbc" if cipher == "sm4-cbc" else "gcm",
        flavour=gm.FLAVOURS[getattr(settings, "MOBILECA_GM_CMS_FLAVOUR", gm.RFC5652.name)],
    )


@dataclass(frozen=True)
class Recipient:
    """What a browser upload is sealed for: the card, its encryption certificate, and for an SM2 credential how the
    GB/T 35275 envelope is written (``None``: the RFC 5083 AES-256-GCM envelope)."""

    card: ClaimedCard
    certificate: x509.Certificate
    gm_writer: GmWriter | None


def recipient_certificate(*, enterprise: Enterprise, tender: Tender, cert_id: str) -> Recipient:
    """Before a browser upload: the deadline, the card, and the encryption certificate the bid is sealed for."""
    _refuse_after_deadline(tender)
    card = access_claimed_card_by_cert_id(enterprise_id=enterprise.pk, cert_id=cert_id)
    certificates = _usable_certificates(card.service_no)
    return Recipient(
        card=card,
        certificate=x509.load_pem_x509_certificate(certificates.encrypt_pem.encode()),
        gm_writer=gm_writer() if certificates.key_profile == SM2_PROFILE else None,
    )


def new_ciphertext_name(tender: Tender) -> str:
    return f"bids/{tender.pk}/{secrets.token_hex(12)}.bin"


# --- sealing in the browser: the upload was encrypted as it arrived; now the claimant signs ---------------------


def bid_sealed_in_browser(
    *,
    enterprise: Enterprise,
    user: User,
    tender: Tender,
    card: ClaimedCard,
    file_name: str,
    sealed: enveloped.Sealed | gm.Sealed,
    ciphertext_name: str,
    address: str | None,
    stored: tuple[int, str] | None = None,
) -> Bid:
    """The ciphertext is stored; ask the claimant to sign the signed attributes on the phone (QR code). An SM2
    credential's bid (sealed with ``cmslib.gm``) is signed as GB/T 35275 SignedData: SM3 of the file in the signed
    attributes, the one hash to sign e = SM3(Z ‖ attributes); the phone and the bid page show the file's SM3."""
    certificates = _usable_certificates(card.service_no)
    signer = x509.load_pem_x509_certificate(certificates.sign_pem.encode()).public_bytes(serialization.Encoding.DER)
    file_sha256 = file_sm3 = b""  # the file's digest the phone shows, under the name of its algorithm
    if isinstance(sealed, gm.Sealed):
        flavour = gm_writer().flavour
        attributes = gm.signed_attributes(content_digest=sealed.plaintext_sm3, flavour=flavour)
        to_sign = base64.b64encode(gm.attributes_hash(attributes, signer)).decode()
        file_sm3 = sealed.plaintext_sm3
        profile, sha256_hex, sm3_hex, flavour_name = CryptoProfile.GM, "", sealed.plaintext_sm3.hex(), flavour.name
    else:
        attributes = signed.signed_attributes(content_digest=sealed.plaintext_sha256, signer_der=signer)
        to_sign = base64.b64encode(signed.attributes_hash(attributes)).decode()
        file_sha256 = sealed.plaintext_sha256
        profile, sha256_hex, sm3_hex, flavour_name = CryptoProfile.CMS, sealed.plaintext_sha256.hex(), "", ""
    pending = shield.authorization_request(
        service_no=card.service_no,
        operation="sign",
        hashes=[to_sign],
        purpose=_("投标文件签名：{project}").format(project=tender.project_no),
        file_name=file_name,
        address=address,
        file_size=sealed.size,
        signed_attributes=attributes,
        tender_no=tender.project_no,
        tender_name=tender.name,
        file_sha256=file_sha256,  # shown on the phone as on the bid page, bound to what is signed
        file_sm3=file_sm3,
    )
    encrypt = x509.load_pem_x509_certificate(certificates.encrypt_pem.encode())
    with transaction.atomic():
        bid = Bid.objects.create(
            tender=tender,
            enterprise=enterprise,
            card_cert_id=card.cert_id,
            service_no=card.service_no,
            file_name=file_name[:200],
            size=sealed.size,
            content_sha256=sha256_hex,
            crypto_profile=profile,
            content_sm3=sm3_hex,
            gm_flavour=flavour_name,
            header=sealed.header,
            signed_attributes=attributes,
            ciphertext_name=ciphertext_name,
            ciphertext_bytes=stored[0] if stored else None,  # issue 21: what the readiness checks compare with
            ciphertext_sha256=stored[1] if stored else "",
            recipient_serial=f"{encrypt.serial_number:x}",
            channel="browser",
            authorization_handle=pending.handle,
            authorization_url=pending.url,
            created_at=now(),
        )
        audit_record(
            action="bid.sealed",
            subject=f"bid:{bid.pk}",
            actor=Actor("user", str(user.pk)),
            enterprise_id=enterprise.pk,
            data={"tender": tender.project_no, "size": sealed.size, **_digest_record(bid)},
        )
    return bid


def bid_follow_signature(bid: Bid, *, address: str | None = None) -> Bid:
    """The bid page polls: once the claimant approved on the phone, sign and submit (if still before the
    deadline). Refusals and expiry leave the bid unsigned with the reason."""
    if bid.status != BidStatus.SIGNING or bid.channel != "browser":
        return bid
    try:
        sad = shield.authorization_sad(handle=bid.authorization_handle)
    except ApplicationError as exc:
        if exc.code == "sad_delivered":
            return bid  # another request (a second tab, the page's next poll) took it and is signing
        return _refuse(bid, exc.code, exc.message)
    if not sad:
        return bid
    certificates = shield.credential_certificates(service_no=bid.service_no)
    signer = x509.load_pem_x509_certificate(certificates.sign_pem.encode()).public_bytes(serialization.Encoding.DER)
    chain = [
        x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
        for pem in certificates.chain_pems
    ]
    attributes = bytes(bid.signed_attributes)
    if bid.is_gm:
        to_sign = base64.b64encode(gm.attributes_hash(attributes, signer)).decode()
    else:
        to_sign = base64.b64encode(signed.attributes_hash(attributes)).decode()
    signature = shield.sign_hashes(service_no=bid.service_no, sad=sad, hashes=[to_sign], address=address)[0]
    if bid.is_gm:
        der = gm.detached_signed_data(
            attributes_der=attributes,
            signature=signature,
            signer_der=signer,
            chain_der=chain,
            flavour=gm.FLAVOURS.get(bid.gm_flavour, gm.RFC5652),
        )
    else:
        der = signed.detached_signed_data(
            attributes_der=attributes, signature=signature, signer_der=signer, chain_der=chain
        )
    return _submit(bid, signature=der)


def _digest_record(bid: Bid) -> dict[str, str]:
    """The file's digest for the audit trail, under its algorithm's name."""
    return {"sm3": bid.content_sm3} if bid.is_gm else {"sha256": bid.content_sha256}


def _refuse(bid: Bid, code: str, message: str) -> Bid:
    """The bid waiting for its signature is not accepted (the claimant refused, the authorisation expired, ...)."""
    return _end_in_failure(bid, waiting=BidStatus.SIGNING, target=BidStatus.REFUSED, code=code, message=message)


def _end_in_failure(bid: Bid, *, waiting: BidStatus, target: BidStatus, code: str, message: str) -> Bid:
    """Lock the bid and, if it is still ``waiting``, move it to ``target`` with the reason; otherwise it was decided
    meanwhile and stays as it is."""
    with transaction.atomic():
        bid = Bid.objects.select_for_update().get(pk=bid.pk)
        if bid.status == waiting:
            _record_failure(bid, target=target, code=code, message=message)
    return bid


_FAILURE_EVENTS = {BidStatus.REFUSED: "bid.refused", BidStatus.FAILED: "bid.opening_failed"}


def _record_failure(bid: Bid, *, target: BidStatus, code: str, message: str, also: Iterable[str] = ()) -> None:
    """Under the bid's lock: the move to a failed state, its reason (and the fields in ``also`` the caller set) and
    its audit event."""
    bid.failure_code, bid.failure_message = code, message[:300]
    _move(bid, target, also=["failure_code", "failure_message", *also])
    audit_record(
        action=_FAILURE_EVENTS[target],
        subject=f"bid:{bid.pk}",
        actor=Actor("system", "bidding"),
        enterprise_id=bid.enterprise_id,
        data={"code": code},
    )


def _submit(bid: Bid, *, signature: bytes, stored: tuple[int, str] | None = None) -> Bid:
    """Submitted when complete and in time; a previous live bid of the enterprise for the tender is withdrawn.

    The signature is time-stamped first (issue 17), outside the locks: a token whose genTime is not before the
    deadline refuses the submission like the platform's clock does; the token is kept with the bid either way."""
    stamped = timestamps.stamp(signature)
    # issue 21: the stored ciphertext's size and SHA-256, what the readiness checks compare with — taken as it was
    # written (the browser's upload, the tool's PUT); read here only for a ciphertext stored another way
    sealed = stored or ((bid.ciphertext_bytes, bid.ciphertext_sha256) if bid.ciphertext_sha256 else None)
    if sealed is None and ciphertext_path(bid).is_file():
        sealed = readiness.file_digest(ciphertext_path(bid))
    with transaction.atomic():
        bid = Bid.objects.select_for_update().select_related("tender").get(pk=bid.pk)
        if bid.status != BidStatus.SIGNING:
            return bid
        Tender.objects.select_for_update().get(pk=bid.tender_id)  # submissions to one tender one at a time
        if stamped is not None:
            bid.timestamp_token, bid.timestamped_at = stamped.token, stamped.gen_time
        time_fields = ["timestamp_token", "timestamped_at"] if stamped is not None else []
        if now() >= bid.tender.bid_deadline:
            bid.signature = signature
            _record_failure(
                bid,
                target=BidStatus.REFUSED,
                code="deadline_passed",
                message=_("已过投标截止时间，不再接收投标文件"),
                also=["signature", *time_fields],
            )
            return bid
        if stamped is not None and stamped.gen_time >= bid.tender.bid_deadline:
            bid.signature = signature
            _record_failure(
                bid,
                target=BidStatus.REFUSED,
                code="deadline_passed",
                message=_("可信时间戳显示的递交时间 {when} 已过投标截止时间，不再接收投标文件").format(
                    when=localtime(stamped.gen_time).strftime("%Y-%m-%d %H:%M:%S")
                ),
                also=["signature", *time_fields],
            )
            return bid
        for previous in Bid.objects.select_for_update().filter(
            tender_id=bid.tender_id, enterprise_id=bid.enterprise_id, status=BidStatus.SUBMITTED
        ):
            _move(previous, BidStatus.WITHDRAWN)
        bid.signature, bid.submitted_at = signature, now()
        if sealed is not None:
            bid.ciphertext_bytes, bid.ciphertext_sha256 = sealed
        _move(
            bid,
            BidStatus.SUBMITTED,
            also=["signature", "submitted_at", "ciphertext_bytes", "ciphertext_sha256", *time_fields],
        )
        transaction.on_commit(lambda: _readiness_after_sealing(bid.pk), robust=True)
        audit_record(
            action="bid.submitted",
            subject=f"bid:{bid.pk}",
            actor=Actor("system", "bidding"),
            enterprise_id=bid.enterprise_id,
            data={
                "tender": bid.tender.project_no,
                **_digest_record(bid),
                "channel": bid.channel,
                "timestamp": stamped.gen_time.isoformat() if stamped is not None else None,
            },
        )
    return bid


def _readiness_after_sealing(bid_id: int) -> None:
    """The first readiness check, by the job worker (issue 21)."""
    from mobileca.bidding.tasks import readiness_check_sealed

    readiness_check_sealed(bid_id)


# --- sealing with the tool: header and signature first, then the ciphertext stream -----------------------------


def bid_announce_from_tool(
    *, account: str, tender: Tender, service_no: str, file_name: str, size: int, header: bytes, signature: bytes
) -> Bid:
    """The tool sealed and signed on the bidder's machine. Check what can be checked without the plaintext: the
    credential is the caller's and passes the channel check, the envelope is for its current encryption
    certificate, the signature is by its signing certificate; the file is verified in full at opening."""
    check_bid_size(size)
    _refuse_after_deadline(tender)
    if not account or shield.credential_account(service_no=service_no) != account:
        raise NotFound(_("未找到该证书"), code="credential_unknown")
    card = claimed_card_by_service_no(service_no=service_no)
    certificates = _usable_certificates(service_no)
    encrypt = x509.load_pem_x509_certificate(certificates.encrypt_pem.encode())
    sign = x509.load_pem_x509_certificate(certificates.sign_pem.encode())
    is_gm = certificates.key_profile == SM2_PROFILE  # GB/T 35275 files (cmslib.gm) for an SM2 credential
    try:
        if is_gm:
            addressed = gm.addressed_to(header, encrypt.public_bytes(serialization.Encoding.DER))
        else:
            addressed = enveloped.addressed_to(header, encrypt)
        if not addressed:
            raise InvalidInput(_("投标文件不是加密给该证书当前的加密证书的"), code="wrong_recipient")
        # the signature itself, over its attributes, against the digest it states (the file is checked at opening)
        if is_gm:
            digest = gm.signed_digest(signature)
            signer = gm.verify_detached(signature, digest)
        else:
            digest = signed.signed_digest(signature)
            signer = signed.verify_detached(signature, digest)
        if signer != sign.public_bytes(serialization.Encoding.DER):
            raise InvalidInput(_("签名证书不是该移动 CA 的签名证书"), code="wrong_signer")
    except (enveloped.EnvelopeError, signed.SignatureInvalid) as exc:
        raise InvalidInput(_("投标文件格式无效：{reason}").format(reason=exc), code="bad_bid_file") from exc
    bid = Bid.objects.create(
        tender=tender,
        enterprise_id=card.enterprise_id,
        card_cert_id=card.cert_id,
        service_no=service_no,
        file_name=file_name[:200],
        size=size,
        content_sha256="" if is_gm else digest.hex(),
        crypto_profile=CryptoProfile.GM if is_gm else CryptoProfile.CMS,
        content_sm3=digest.hex() if is_gm else "",
        header=header,
        signature=signature,
        ciphertext_name=new_ciphertext_name(tender),
        recipient_serial=f"{encrypt.serial_number:x}",
        channel="tool",
        created_at=now(),
    )
    return bid


def ciphertext_size(bid: Bid) -> int:
    """How long the bid's ciphertext is: the plaintext's length with GCM, rounded up to the next whole SM4 block
    (PKCS #7 padding, 1 to 16 bytes) with SM4-CBC."""
    if bid.is_gm and gm.parse_header(bytes(bid.header)).mode == "cbc":
        return (bid.size // gm.BLOCK + 1) * gm.BLOCK
    return bid.size


def bid_ciphertext_received(*, bid: Bid, received: int, sha256: str = "") -> Bid:
    """The ciphertext stream ended: it must be exactly as long as the plaintext the tool announced makes it.
    ``sha256``: the stream's, taken as it was written."""
    if received != ciphertext_size(bid):
        ciphertext_path(bid).unlink(missing_ok=True)
        return _refuse(bid, "size_mismatch", _("上传的密文长度与声明不符"))
    return _submit(bid, signature=bytes(bid.signature), stored=(received, sha256) if sha256 else None)


# --- opening (R5.2) --------------------------------------------------------------------------------------------


def envelope_authorization(bid: Bid, *, purpose: str, address: str | None) -> shield.PendingAuthorization:
    """Ask the bid's claimant to authorise, on the phone with the PIN, the decryption of exactly this envelope (the
    opening, or a decryption test): the phone shows the file, its size and tender."""
    return shield.authorization_request(
        service_no=bid.service_no,
        operation="decrypt",
        hashes=[base64.b64encode(hashlib.sha256(bytes(bid.header)).digest()).decode()],
        purpose=purpose,
        file_name=bid.file_name,
        address=address,
        file_size=bid.size,
        tender_no=bid.tender.project_no,
        tender_name=bid.tender.name,
        envelope=bytes(bid.header),
    )


class Undecryptable(Exception):
    """The bid's ciphertext did not decrypt into verified content: ``code`` is ``signature_invalid`` (SM4-CBC's
    content unverifiable), ``tampered`` (the tag) or ``bad_bid_file`` (incomplete or malformed)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Decrypted:
    digest: bytes  # of the plaintext, by the bid's profile
    signature_valid: bool
    signer: str
    message: str  # why the signature is not valid ("" when it is)
    stamp: timestamps.TokenCheck | None


def decrypt_and_verify(bid: Bid, key: bytes, target: Path | None) -> Decrypted:
    """The ciphertext decrypted streaming into ``target`` (which appears only if the content authenticates; None:
    the plaintext discarded as it is decrypted), then the signature over it and the signer's certificate as of when
    the bid was signed (the verified time stamp, else the submission). ``Undecryptable`` when it does not decrypt."""
    try:
        if bid.is_gm:
            digest = _open_gm(bid, key, target)
        else:
            with ciphertext_path(bid).open("rb") as source:
                _size, digest = enveloped.open_to_file(bytes(bid.header), key, source, target)
    except _Unverifiable:
        raise Undecryptable("signature_invalid") from None
    except enveloped.Tampered:
        raise Undecryptable("tampered") from None
    except (enveloped.EnvelopeError, FileNotFoundError):
        raise Undecryptable("bad_bid_file") from None
    token = bytes(bid.timestamp_token)
    stamp = timestamps.check(token=token, signature_der=bytes(bid.signature)) if token else None
    signed_at = stamp.gen_time if stamp is not None and stamp.valid else bid.submitted_at
    valid, signer, message = bid_signature_check(
        signature=bytes(bid.signature), content_digest=digest, gm_profile=bid.is_gm, signed_at=signed_at
    )
    return Decrypted(digest, valid, signer, message, stamp)


def bid_open_request(*, bid: Bid, address: str | None) -> Bid:
    """At the opening time: ask the bid's claimant to authorise the decryption of exactly this envelope."""
    if now() < bid.tender.opening_at:
        raise Conflict(_("未到开标时间"), code="not_yet_open")
    if bid.status not in (BidStatus.SUBMITTED, BidStatus.FAILED, BidStatus.OPENING):
        raise Conflict(_("该投标文件不能解密"), code="bid_not_openable")
    pending = envelope_authorization(
        bid, purpose=_("开标解密：{project}").format(project=bid.tender.project_no), address=address
    )
    with transaction.atomic():
        bid = Bid.objects.select_for_update().get(pk=bid.pk)
        bid.authorization_handle, bid.authorization_url = pending.handle, pending.url
        bid.failure_code = bid.failure_message = ""
        _move(
            bid,
            BidStatus.OPENING,
            also=["authorization_handle", "authorization_url", "failure_code", "failure_message"],
        )
    return bid


_OPENING_FAILURES = {
    "signature_invalid": gettext_lazy("无法解密：签名无效，无法确认文件是否被篡改（SM4-CBC），未保留任何明文"),
    "tampered": gettext_lazy("无法解密：文件已被篡改（密文认证失败），未保留任何明文"),
    "bad_bid_file": gettext_lazy("无法解密：投标文件不完整或格式无效"),
}


def bid_follow_opening(bid: Bid, *, address: str | None = None) -> Bid:
    """Once the claimant approved: the content key from the signing service, decryption to a file kept only if the
    tag verifies, then the signature over the plaintext and the signer's certificate."""
    if bid.status != BidStatus.OPENING:
        return bid
    try:
        sad = shield.authorization_sad(handle=bid.authorization_handle)
        if not sad:
            return bid
        opened_with = shield.content_key_opened(
            service_no=bid.service_no, sad=sad, envelope=bytes(bid.header), address=address
        )
        key = opened_with.key
    except ApplicationError as exc:
        if exc.code == "sad_delivered":
            return bid  # another request took the authorisation and is opening the bid
        if exc.code == "not_a_recipient":
            text = _("无法解密：该文件不是加密给此证书的，续费前保留的加密密钥也不能打开（已销毁或不属于此证书）")
            return _failed(bid, exc.code, text)
        return _failed(bid, exc.code, exc.message)
    target = storage.root() / f"bids/{bid.tender_id}/opened/{bid.pk}-{secrets.token_hex(4)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        opened = decrypt_and_verify(bid, key, target)
    except Undecryptable as exc:
        return _failed(bid, exc.code, str(_OPENING_FAILURES[exc.code]))
    stamp_check, valid, subject, message = opened.stamp, opened.signature_valid, opened.signer, opened.message
    with transaction.atomic():
        bid = Bid.objects.select_for_update().get(pk=bid.pk)
        if bid.status != BidStatus.OPENING:
            target.unlink(missing_ok=True)  # decided meanwhile: keep no plaintext nothing points to
            return bid
        bid.opened_at, bid.signature_valid, bid.signer_subject = now(), valid, subject[:400]
        bid.failure_message, bid.plaintext_name = message[:300], str(target.relative_to(storage.root()))
        bid.opened_with_serial = opened_with.archived_serial  # issue 21: a key kept from before a renewal opened it
        if stamp_check is not None:
            bid.timestamp_valid, bid.timestamp_message = stamp_check.valid, stamp_check.message[:300]
        _move(
            bid,
            BidStatus.OPENED,
            also=[
                "opened_at",
                "signature_valid",
                "signer_subject",
                "failure_message",
                "plaintext_name",
                "opened_with_serial",
                "timestamp_valid",
                "timestamp_message",
            ],
        )
        audit_record(
            action="bid.opened",
            subject=f"bid:{bid.pk}",
            actor=Actor("system", "bidding"),
            enterprise_id=bid.enterprise_id,
            data={
                "signature_valid": valid,
                ("sm3" if bid.is_gm else "sha256"): opened.digest.hex(),
                "timestamp_valid": stamp_check.valid if stamp_check is not None else None,
                "key": "archived" if opened_with.archived_serial else "current",
                "key_serial": opened_with.archived_serial,
            },
        )
    return bid


class _Unverifiable(Exception):
    """An SM4-CBC bid whose signature does not verify: nothing states the SM3 its content must have."""


def _open_gm(bid: Bid, key: bytes, target: Path | None) -> bytes:
    """Decrypt a GB/T 35275 bid into ``target`` (``None``: discarded, the 「解密测试」) and return its SM3. SM4-GCM
    authenticates itself; SM4-CBC has no integrity of its own, so it is opened only against the SM3 that its verified
    signature states, and the plaintext is kept only if it matches (``cmslib.gm.open_with_key``)."""
    header, signature = bytes(bid.header), bytes(bid.signature)
    expected: bytes | None = None
    if gm.parse_header(header).mode == "cbc":
        try:
            expected = gm.signed_digest(signature)
            gm.verify_detached(signature, expected)
        except gm.SignatureInvalid as exc:
            raise _Unverifiable(str(exc)) from exc
    with ciphertext_path(bid).open("rb") as source:
        _size, digest = gm.open_with_key(header, key, source, target, expected_sm3=expected)
    return digest


def bid_signature_check(
    *, signature: bytes, content_digest: bytes, gm_profile: bool = False, signed_at: datetime | None = None
) -> tuple[bool, str, str]:
    """At the opening: the detached signature over the decrypted content (verified as the signer certificate's key
    profile says; GB/T 35275 with ``gm_profile``), then that certificate's channel check (R4.5) as of ``signed_at``
    (the bid's time stamp or submission: a renewal since, which revoked the old certificate as superseded, leaves
    the signature valid; issue 21). Returns (valid, signer's name, why not)."""
    verify = gm.verify_detached if gm_profile else signed.verify_detached
    try:
        signer = x509.load_der_x509_certificate(verify(signature, content_digest))
    except signed.SignatureInvalid as exc:
        return False, "", _("签名无效：{reason}").format(reason=exc)
    verdict = ca.channel_check(signer, usage="sign", at=signed_at)
    if not verdict.accepted:
        return False, _signer_name(signer), _("签名证书未通过通道校验：{reason}").format(reason=verdict.message)
    return True, _signer_name(signer), ""


# X.520 description: the enterprise's full name, in certificates whose O and CN carry it shortened to RFC 5280's
# 64 characters (see ca.profiles)
_DESCRIPTION = x509.ObjectIdentifier("2.5.4.13")


def _signer_name(certificate: x509.Certificate) -> str:
    """「王建国（景德镇瓷都建设工程有限公司）」: the claimant and the enterprise the signing certificate names."""

    def first(oid: x509.ObjectIdentifier) -> str:
        values = certificate.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else ""

    person = first(NameOID.GIVEN_NAME)
    organisation = first(_DESCRIPTION) or first(NameOID.ORGANIZATION_NAME) or first(NameOID.COMMON_NAME)
    return f"{person}（{organisation}）" if person else organisation


def _failed(bid: Bid, code: str, message: str) -> Bid:
    """The opening did not produce the plaintext (refused on the phone, tampered, not a recipient, ...)."""
    return _end_in_failure(bid, waiting=BidStatus.OPENING, target=BidStatus.FAILED, code=code, message=message)


# --- R4.2: what a renewal would make unreadable -----------------------------------------------------------------


def pending_bids_of(credential: Any) -> list[shield.PendingBid]:
    """The credential's sealed bids not yet opened (for the renewal warning)."""
    service_no = getattr(credential, "service_no", "")
    rows = (
        Bid.objects.select_related("tender")
        .filter(service_no=service_no, status__in=[BidStatus.SUBMITTED, BidStatus.OPENING, BidStatus.FAILED])
        .exclude(failure_code="not_a_recipient")
    )
    return [
        shield.PendingBid(bid.tender.project_no, bid.tender.name, bid.tender.opening_at, bid.file_name) for bid in rows
    ]
