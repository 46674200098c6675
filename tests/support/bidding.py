"""Bidding test helpers: a tender and a sealed, submitted bid made through bidding's services, without the browser
upload, the bid page or the phone. The bid is sealed and signed as the tool does it (on the bidder's side, only
ciphertext reaches the platform), the signature made with the credential's own signing key as the signing service
would make it."""

from __future__ import annotations

import io
from datetime import timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from mobileca.accounts.models import User
from mobileca.bidding import services
from mobileca.bidding.models import Bid, BidStatus, Tender
from mobileca.ca import facade as ca
from mobileca.ca import sm2
from mobileca.cmslib import enveloped, gm, signed
from mobileca.core.clock import now
from mobileca.shield import facade as shield
from mobileca.shield.models import Credential


def tender_open_for_bids(
    *, project_no: str = "JDZ-2026-041", deadline: timedelta = timedelta(days=2), operator: User | None = None
) -> Tender:
    """A tender whose bid deadline is ``deadline`` from now and whose opening is an hour after it."""
    operator = operator or User.objects.create_user(username=f"agent-{project_no}", is_staff=True)
    bid_deadline = now() + deadline
    return services.tender_create(
        operator=operator,
        project_no=project_no,
        name="瓷都大道路灯采购",
        bid_deadline=bid_deadline,
        opening_at=bid_deadline + timedelta(hours=1),
    )


def _signature(service_no: str, data: bytes) -> bytes:
    """What the signing service returns for ``data`` once the claimant authorised it."""
    credential = Credential.objects.get(service_no=service_no)
    key = ca.unwrap_private_key(owner_id=f"credential:{service_no}:sign", blob=bytes(credential.sign_key_wrapped))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise UnsupportedAlgorithm(type(key).__name__)


def _der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def announced_bid(
    *, tender: Tender, service_no: str, content: bytes, file_name: str = "投标文件.pdf"
) -> tuple[Bid, bytes]:
    """A bid of the credential's enterprise sealed for its encryption certificate, signed and announced as the tool
    does, its ciphertext (returned too) written where the upload puts it, but not yet reported received."""
    certificates = shield.credential_certificates(service_no=service_no)
    recipient = x509.load_pem_x509_certificate(certificates.encrypt_pem.encode())
    ciphertext = io.BytesIO()
    sealed = enveloped.seal(io.BytesIO(content), ciphertext, recipient)
    signer = _der(certificates.sign_pem)
    attributes = signed.signed_attributes(content_digest=sealed.plaintext_sha256, signer_der=signer)
    signature = signed.detached_signed_data(
        attributes_der=attributes,
        signature=_signature(service_no, attributes),
        signer_der=signer,
        chain_der=[_der(pem) for pem in certificates.chain_pems],
    )
    bid = services.bid_announce_from_tool(
        account=shield.credential_account(service_no=service_no),
        tender=tender,
        service_no=service_no,
        file_name=file_name,
        size=sealed.size,
        header=sealed.header,
        signature=signature,
    )
    path = services.ciphertext_path(bid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ciphertext.getvalue())
    return bid, ciphertext.getvalue()


def sealed_bid(*, tender: Tender, service_no: str, content: bytes, file_name: str = "投标文件.pdf") -> Bid:
    """A bid of the credential's enterprise, sealed for its encryption certificate, signed, uploaded, submitted."""
    bid, ciphertext = announced_bid(tender=tender, service_no=service_no, content=content, file_name=file_name)
    bid = services.bid_ciphertext_received(bid=bid, received=len(ciphertext))
    assert bid.status == BidStatus.SUBMITTED, (bid.failure_code, bid.failure_message)
    return bid


# --- SM2 credentials (issue 19): GB/T 35275 bid files, sealed and signed as the tool does --------------------------


def sm2_announced_bid(
    *,
    tender: Tender,
    service_no: str,
    content: bytes,
    mode: str = "gcm",
    flavour: gm.Flavour = gm.RFC5652,
    file_name: str = "投标文件.pdf",
) -> tuple[Bid, bytes]:
    """An SM2 credential's bid sealed with ``cmslib.gm`` (SM4 in ``mode``) for its encryption certificate, signed
    (SM2 over e = SM3(Z ‖ attributes), with the credential's own key as the signing service would) and announced as
    the tool does; its ciphertext (returned too) written where the upload puts it, not yet reported received."""
    certificates = shield.credential_certificates(service_no=service_no)
    ciphertext = io.BytesIO()
    sealed = gm.seal(io.BytesIO(content), ciphertext, _der(certificates.encrypt_pem), mode=mode, flavour=flavour)
    signer = _der(certificates.sign_pem)
    attributes = gm.signed_attributes(content_digest=sealed.plaintext_sm3, flavour=flavour)
    credential = Credential.objects.get(service_no=service_no)
    key = ca.unwrap_private_key(owner_id=f"credential:{service_no}:sign", blob=bytes(credential.sign_key_wrapped))
    assert isinstance(key, sm2.Sm2PrivateKey)
    signature = gm.detached_signed_data(
        attributes_der=attributes,
        signature=key.sign_digest(gm.attributes_hash(attributes, signer)),
        signer_der=signer,
        chain_der=[_der(pem) for pem in certificates.chain_pems],
        flavour=flavour,
    )
    bid = services.bid_announce_from_tool(
        account=shield.credential_account(service_no=service_no),
        tender=tender,
        service_no=service_no,
        file_name=file_name,
        size=sealed.size,
        header=sealed.header,
        signature=signature,
    )
    path = services.ciphertext_path(bid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ciphertext.getvalue())
    return bid, ciphertext.getvalue()


def sm2_sealed_bid(
    *, tender: Tender, service_no: str, content: bytes, mode: str = "gcm", flavour: gm.Flavour = gm.RFC5652
) -> Bid:
    """An SM2 credential's GB/T 35275 bid, sealed, signed, uploaded, submitted."""
    bid, ciphertext = sm2_announced_bid(
        tender=tender, service_no=service_no, content=content, mode=mode, flavour=flavour
    )
    bid = services.bid_ciphertext_received(bid=bid, received=len(ciphertext))
    assert bid.status == BidStatus.SUBMITTED, (bid.failure_code, bid.failure_message)
    return bid
