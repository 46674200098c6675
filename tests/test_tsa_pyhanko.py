"""pyHanko, a PAdES implementation nobody here wrote, against the platform's TSA over real HTTP (issue 17): it
time-stamps with ``HTTPTimeStamper(<live>/tsa)``, signs a PDF at PAdES B-LTA with a certificate our CA issued (its
OCSP and CRL URLs on the live server, fetched by pyHanko) and validates the signature, its signature time-stamp and
the document time-stamp as valid and trusted under our root."""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers, timestamps
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleCertificateStore, SimpleTrustManager

from mobileca.ca.backends.factory import backend
from mobileca.ca.models import Authority, AuthorityRole
from mobileca.ca.services import ca_init, certificate_of, credential_issue
from mobileca.ca.tsa import tsa_ensure
from tests.support.ca import SUBJECT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_ca(live_server: Any, settings: Any, tmp_path: Any) -> str:
    """The CA (and its TSA) made with the live server's address in every certificate's OCSP, CRL and caIssuers."""
    settings.MOBILECA_PUBLIC_URL = live_server.url
    settings.MOBILECA_CA = {**settings.MOBILECA_CA, "key_dir": tmp_path / "ca", "passphrase": "test passphrase 1234"}
    ca_init(key_backend=backend())
    tsa_ensure(key_backend=backend())
    return str(live_server.url)


def _asn1(certificate: Any) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _blank_pdf() -> io.BytesIO:
    writer = PdfFileWriter()
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    out.seek(0)
    return out


def _roots() -> tuple[asn1_x509.Certificate, asn1_x509.Certificate]:
    root = _asn1(certificate_of(Authority.objects.get(role=AuthorityRole.ROOT)))
    issuing = _asn1(certificate_of(Authority.objects.get(role=AuthorityRole.ISSUING)))
    return root, issuing


def test_pyhanko_time_stamps_with_our_tsa_over_http_and_finds_the_token_valid_and_trusted(live_ca: str) -> None:
    root, _issuing = _roots()
    digest = hashlib.sha256(b"a contract").digest()
    stamper = timestamps.HTTPTimeStamper(f"{live_ca}/tsa")
    token = asyncio.run(stamper.async_timestamp(digest, "sha256"))  # pyHanko sends a nonce and checks it
    status = asyncio.run(
        validate_tst_signed_data(
            token["content"],
            ValidationContext(trust_roots=[root], allow_fetching=True),
            expected_tst_imprint=lambda algorithm: digest,
        )
    )
    assert status["intact"] and status["valid"] and status["trust_problem_indic"] is None, status
    wrong = asyncio.run(
        validate_tst_signed_data(
            token["content"],
            ValidationContext(trust_roots=[root], allow_fetching=True),
            expected_tst_imprint=lambda algorithm: hashlib.sha256(b"another").digest(),
        )
    )
    assert not wrong["intact"]


def test_pyhanko_signs_at_pades_b_lta_with_our_tsa_and_validates_it_trusted(live_ca: str) -> None:
    root, issuing = _roots()
    key = ec.generate_private_key(ec.SECP256R1())
    pair = credential_issue(
        owner_id="pdf-signer",
        subject=SUBJECT,
        sign_public_key=key.public_key(),
        encrypt_public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
    )
    signer = signers.SimpleSigner(
        signing_cert=_asn1(certificate_of(pair.sign)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
        cert_registry=SimpleCertificateStore.from_certs([issuing, root]),
    )
    context = ValidationContext(trust_roots=[root], allow_fetching=True)
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1",
        subfilter=SigSeedSubFilter.PADES,
        use_pades_lta=True,
        embed_validation_info=True,
        validation_context=context,
    )
    stamper = timestamps.HTTPTimeStamper(f"{live_ca}/tsa")
    signed = signers.sign_pdf(IncrementalPdfFileWriter(_blank_pdf()), meta, signer=signer, timestamper=stamper)

    reader = PdfFileReader(signed)
    signature, document_timestamp = reader.embedded_signatures
    status = validate_pdf_signature(
        signature,
        signer_validation_context=ValidationContext(trust_roots=[root], allow_fetching=True),
        ts_validation_context=ValidationContext(trust_roots=[root], allow_fetching=True),
    )
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid and status.timestamp_validity.trusted
    document = validate_pdf_timestamp(
        document_timestamp, validation_context=ValidationContext(trust_roots=[root], allow_fetching=True)
    )
    assert document.intact and document.valid and document.trusted, document.pretty_print_details()

    # and as ETSI EN 319 102-1 §5.6.3 long-term validation (PAdES B-LTA): revocation information required, taken
    # from the document's DSS, the document time-stamp chain as evidence record
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[root]),
        revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO),
    )
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.NO_HISTORICAL_FETCH
            ),
        )
    )
    lta = asyncio.run(ades_lta_validation(PdfFileReader(signed).embedded_signatures[0], spec))
    assert lta.ades_subindic == AdESPassed.OK, lta.ades_subindic
    assert lta.signature_timestamp_status is not None
    assert lta.signature_timestamp_status.ades_subindic == AdESPassed.OK
    assert lta.oldest_evidence_record_timestamp is not None
