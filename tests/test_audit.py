"""The audit log: append-only and hash-chained; the verify command finds any change (issue 2, §8)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from mobileca.audit.models import AuditEvent
from mobileca.audit.services import Actor, audit_chain_verify, audit_record
from mobileca.payments.services import remittance_confirm
from tests.support.platform import actor_of

ACTOR = Actor("system", "test")


def _three_events() -> list[AuditEvent]:
    with transaction.atomic():
        return [audit_record(action=f"test.{n}", subject=f"thing:{n}", actor=ACTOR, data={"n": n}) for n in range(3)]


@pytest.mark.django_db
def test_events_are_chained_each_to_the_previous_hash() -> None:
    events = _three_events()
    assert [event.seq for event in events] == [1, 2, 3]
    assert events[0].prev_hash == "0" * 64
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert audit_chain_verify().ok and audit_chain_verify().checked == 3


@pytest.mark.django_db
def test_verify_command_reports_intact_chain(capsys) -> None:
    _three_events()
    call_command("audit_verify")
    assert "audit chain intact: 3 events" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_changed_event_breaks_the_chain_at_that_event() -> None:
    _three_events()
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL refuses the change itself; see the trigger test")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = %s WHERE seq = 2", ['{"n": 99}'])
    report = audit_chain_verify()
    assert (report.ok, report.broken_at) == (False, 2)
    with pytest.raises(CommandError, match="broken at event #2"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_removed_last_event_is_detected() -> None:
    _three_events()
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL refuses the deletion itself; see the trigger test")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
    report = audit_chain_verify()
    assert (report.ok, report.checked, report.broken_at) == (False, 2, 3)
    assert report.reason == "the chain head does not match the last event (events removed)"


@pytest.mark.django_db
def test_events_cannot_be_updated_or_deleted_through_the_model() -> None:
    event = _three_events()[0]
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()
    assert AuditEvent.objects.count() == 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_update_and_delete_of_audit_events() -> None:
    _three_events()
    for statement in [
        "UPDATE audit_auditevent SET action = 'x' WHERE seq = 1",
        "DELETE FROM audit_auditevent WHERE seq = 1",
    ]:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert audit_chain_verify().ok


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused() -> None:
    with pytest.raises(RuntimeError):
        audit_record(action="x", subject="y", actor=ACTOR)
    assert AuditEvent.objects.count() == 0


def test_every_transition_of_a_purchase_is_recorded_with_its_enterprise(finance, offline_order) -> None:
    order, payment = offline_order
    remittance_confirm(payment_id=payment.pk, actor=actor_of(finance), operator=finance)
    events = list(AuditEvent.objects.values_list("action", "enterprise_id", "actor"))
    assert [action for action, _, _ in events] == [
        "order.created",
        "payment.started",
        "payment.paid",
        "order.paid",
        "card.created",
    ]
    assert {enterprise for _, enterprise, _ in events} == {order.enterprise_id}
    assert events[2][2] == f"operator:{finance.pk}"
    assert audit_chain_verify().ok
