from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.apps import apps as django_apps
from django.test import Client

from mobileca.accounts.models import Enterprise, User
from mobileca.core.clock import clock
from mobileca.core.ids import CertIdAllocator
from mobileca.orders.models import Order
from mobileca.payments.models import Payment
from tests.factories import EnterpriseFactory, FinanceFactory, UserFactory
from tests.support.platform import login, make_offline_order
from tests.transport import DjangoTestTransport

pytest_plugins = ["tests.ca_fixtures"]


SEED_MIGRATIONS = [
    "mobileca.orders.migrations.0002_seed_products_regions",
    "mobileca.payments.migrations.0002_finance_group",
    "mobileca.sandboxes.identity.migrations.0001_initial",
    "mobileca.sandboxes.registry.migrations.0001_initial",
    "mobileca.sandboxes.bank.migrations.0001_initial",
    "mobileca.sandboxes.bank.migrations.0002_sub_accounts",
    "mobileca.sandboxes.identity.migrations.0002_more_people",
    "mobileca.orders.migrations.0005_physical_ca_product",
    "mobileca.physical.migrations.0002_reviewer_group",
    "mobileca.accounts.migrations.0003_operator_groups",
]


@pytest.fixture(autouse=True)
def _seed_after_flush(request: pytest.FixtureRequest) -> None:
    """Transactional tests start from a flushed database: put back what the data migrations seed."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" not in request.fixturenames and not (marker and marker.kwargs.get("transaction")):
        return
    request.getfixturevalue("transactional_db")
    for module in SEED_MIGRATIONS:
        importlib.import_module(module).seed(django_apps, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))


@pytest.fixture(autouse=True)
def _private_media(settings: object, tmp_path: Path) -> None:
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _fresh_cert_id_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests move the clock backwards and forwards; production's allocator only ever sees time go forward.
    monkeypatch.setattr("mobileca.cards.services.cert_ids", CertIdAllocator())


@pytest.fixture(autouse=True)
def gateway_transport(monkeypatch: pytest.MonkeyPatch) -> DjangoTestTransport:
    """Platform ↔ sandbox HTTP goes through Django's test client (browser tests use the live server instead)."""
    transport = DjangoTestTransport()
    monkeypatch.setattr("mobileca.payments.online.http_client", lambda: httpx.Client(transport=transport))
    monkeypatch.setattr("mobileca.sandboxes.common.http_client", lambda: httpx.Client(transport=transport))
    monkeypatch.setattr("mobileca.shield.providers.http_client", lambda: httpx.Client(transport=transport))
    return transport


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def enterprise(db: None) -> Enterprise:
    return EnterpriseFactory()


@pytest.fixture
def bidder(enterprise: Enterprise) -> User:
    return UserFactory(enterprise=enterprise)


@pytest.fixture
def other_bidder(db: None) -> User:
    return UserFactory()


@pytest.fixture
def finance(db: None) -> User:
    return FinanceFactory()


@pytest.fixture
def bidder_client(client: Client, bidder: User) -> Client:
    return login(client, bidder)


@pytest.fixture
def finance_client(finance: User) -> Client:
    return login(Client(), finance)


@pytest.fixture
def offline_order(bidder: User) -> tuple[Order, Payment]:
    return make_offline_order(bidder)
