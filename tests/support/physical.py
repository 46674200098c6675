"""The physical CA's test helpers: a 「CA 办理申请」 form and the reviewer (审核) who decides it."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mobileca.accounts.models import User
from tests.support.platform import login, operator

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


def application_form(bidder: User, **overrides: object) -> dict[str, object]:
    """A complete 「CA 办理申请」 for the bidder's enterprise, with ``overrides`` replacing fields."""
    assert bidder.enterprise is not None
    form: dict[str, object] = {
        "enterprise_name": bidder.enterprise.name,
        "uscc": bidder.enterprise.uscc,
        "legal_representative": "王建国",
        "contact_name": "李经办",
        "contact_phone": "13907980009",
        "address": "江西省景德镇市珠山区瓷都大道 1 号",
        "key_count": "2",
        "licence": SimpleUploadedFile("licence.pdf", PDF),
    }
    form.update(overrides)
    return form


@pytest.fixture
def reviewer_user(db: None) -> User:
    return operator("reviewer", group="审核")


@pytest.fixture
def reviewer(reviewer_user: User) -> Client:
    return login(Client(), reviewer_user)
