"""Issue 14: an enterprise whose name is longer than a certificate name may be (RFC 5280: 64 characters in O and CN;
the ``cryptography`` library holds commonName to 64 UTF-8 bytes, 21 Chinese characters) could never be activated:
ValueError, a 500 at the PIN step. Its certificates now carry the name shortened by one rule in O and CN, and in
full in the subject's description; pkilint and openssl accept them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from mobileca.accounts.models import Enterprise
from mobileca.ca.profiles import DESCRIPTION, UB_NAME, Subject, enterprise_name_of, entity_name, short_name
from mobileca.ca.services import ca_init
from mobileca.cards.models import Card
from mobileca.shield import facade as shield
from tests.factories import EnterpriseFactory
from tests.support.shield import activated_credential, card, registered  # noqa: F401 (fixtures)

# 100 characters, as the registry writes such names: region, trade name, line of business, form
LONG_NAME = ("景德镇市" + "昌江区瓷都大道陶瓷文化创意产业园" * 5 + "建设工程项目管理咨询")[:94] + "有限责任公司"
MEDIUM_NAME = "景德镇市昌江区瓷都大道陶瓷文化创意产业园建设工程有限责任公司"  # 31 characters, 93 UTF-8 bytes
SHORT_NAME = "江西省精彩纵横采购咨询有限公司"  # 15 characters, 45 bytes


def test_the_names_used_here_are_what_they_say() -> None:
    assert len(LONG_NAME) == 100 and LONG_NAME.endswith("有限责任公司")
    assert len(MEDIUM_NAME) <= UB_NAME < len(MEDIUM_NAME.encode())
    assert len(SHORT_NAME.encode()) <= UB_NAME


@pytest.fixture
def enterprise(db: None) -> Enterprise:  # the bidder's enterprise (tests/conftest.py) with the long name
    return EnterpriseFactory(name=LONG_NAME)


def _lint(path: Path) -> list[str]:
    result = subprocess.run(  # noqa: S603
        [".venv/bin/lint_pkix_cert", "lint", "-s", "WARNING", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 or result.stdout.strip(), result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607


def test_an_enterprise_with_a_100_character_name_is_activated_and_its_certificates_lint_clean(
    registered: Card, settings: Any, tmp_path: Path
) -> None:
    """Issue 14: activation (the PIN step, claim_activate) for an enterprise named in 100 Chinese characters."""
    settings.MOBILECA_PUBLIC_URL = "http://pki.mobileca.test"  # pkilint wants a domain name in the CRL/AIA URLs
    ca_init()
    credential = activated_credential(registered)
    certificates = shield.credential_certificates(service_no=credential.service_no)
    chain = tmp_path / "chain.pem"
    chain.write_text("".join(certificates.chain_pems))
    for usage, pem in (("sign", certificates.sign_pem), ("encrypt", certificates.encrypt_pem)):
        path = tmp_path / f"{usage}.pem"
        path.write_text(pem)
        assert _lint(path) == [], usage
        verified = _openssl("verify", "-partial_chain", "-CAfile", str(chain), str(path))
        assert verified.returncode == 0, verified.stderr
        certificate = x509.load_pem_x509_certificate(pem.encode())
        subject = certificate.subject
        organisation = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
        common = subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert organisation == common == short_name(LONG_NAME) == "景德镇市昌江区瓷都大道陶瓷文…有限责任公司"
        assert subject.get_attributes_for_oid(DESCRIPTION)[0].value == LONG_NAME
        assert enterprise_name_of(certificate) == LONG_NAME  # the full name is recoverable
        uscc = subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value
        assert uscc == f"NTRCN-{registered.enterprise.uscc}"
        printed = _openssl("x509", "-noout", "-subject", "-nameopt", "utf8", "-in", str(path)).stdout
        assert f"description={LONG_NAME}" in printed


@pytest.mark.parametrize(
    "name, shown",
    [
        (SHORT_NAME, SHORT_NAME),
        ("甲" * 21, "甲" * 21),
        ("甲" * 22, "甲" * 14 + "…" + "甲" * 6),
        (MEDIUM_NAME, "景德镇市昌江区瓷都大道陶瓷文…有限责任公司"),
        (
            "Jingdezhen Porcelain Capital Avenue Lighting Engineering Co., Ltd.",
            "Jingdezhen Porcelain Capital Avenue Lighting Engineerin…, Ltd.",
        ),
        ("𠀀" * 30, "𠀀" * 9 + "…" + "𠀀" * 6),  # four bytes each (CJK extension B)
    ],
)
def test_a_name_within_64_bytes_is_written_whole_and_a_longer_one_shortened_by_the_rule(name: str, shown: str) -> None:
    subject = entity_name(Subject(enterprise_name=name, uscc="91360200MA35A1B20J", claimant_name="王建国"))
    organisation = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert organisation == subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == shown
    assert len(str(organisation).encode()) <= UB_NAME
    described = subject.get_attributes_for_oid(DESCRIPTION)
    assert [item.value for item in described] == ([] if shown == name else [name])
