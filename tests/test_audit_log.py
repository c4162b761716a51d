"""The audit log: what audit_record writes, that the database keeps it as written, and that
the admin only reads it."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models.deletion import ProtectedError
from django.test import RequestFactory

from marketplace.audit import audit_record
from marketplace.models import AuditEvent, User

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_record_names_the_actor_action_brand_target_detail_and_address(brand, supervisor):
    request = RequestFactory().post("/supervisor/payouts/", REMOTE_ADDR="203.0.113.7")

    event = audit_record(
        actor=supervisor,
        action="payouts.batch_approve",
        brand=brand,
        target=brand,
        detail={"total": Decimal("12.50"), "from": date(2026, 3, 2)},
        request=request,
    )

    event.refresh_from_db()
    assert (event.actor, event.action, event.brand, event.ip) == (
        supervisor,
        "payouts.batch_approve",
        brand,
        "203.0.113.7",
    )
    assert (event.target_type, event.target_id) == ("marketplace.brand", str(brand.pk))
    assert event.detail == {"total": "12.50", "from": "2026-03-02"}
    assert event.created_at is not None


def test_a_target_can_be_named_by_type_and_id_and_the_system_can_act_without_a_request():
    event = audit_record(actor=None, action="payouts.batch_propose", target=("payouts.payoutbatch", 7))

    assert (event.actor, event.brand, event.ip) == (None, None, None)
    assert (event.target_type, event.target_id, event.detail) == ("payouts.payoutbatch", "7", {})


def test_a_request_without_a_usable_address_is_recorded_without_one(supervisor):
    request = RequestFactory().get("/", REMOTE_ADDR="")

    assert audit_record(actor=supervisor, action="test.look", request=request).ip is None


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE marketplace_auditevent SET action = 'edited'",
        "UPDATE marketplace_auditevent SET detail = '{}'::jsonb",
        "DELETE FROM marketplace_auditevent",
    ],
)
def test_the_database_refuses_to_change_or_delete_an_audit_row(supervisor, sql):
    audit_record(actor=supervisor, action="payouts.batch_approve", detail={"note": "as written"})

    with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)

    event = AuditEvent.objects.get()
    assert (event.action, event.detail) == ("payouts.batch_approve", {"note": "as written"})


def test_the_orm_cannot_edit_or_delete_an_audit_row_either(supervisor):
    event = audit_record(actor=supervisor, action="payouts.batch_approve")

    event.action = "edited"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()

    assert AuditEvent.objects.get().action == "payouts.batch_approve"


def test_a_user_named_in_the_log_cannot_be_deleted(supervisor):
    audit_record(actor=supervisor, action="payouts.batch_approve")

    with pytest.raises(ProtectedError):
        supervisor.delete()


def test_staff_read_the_log_in_the_admin_but_cannot_add_change_or_delete(client, supervisor, settings):
    settings.SUPERVISOR_MFA_REQUIRED = False
    event = audit_record(actor=supervisor, action="payouts.batch_approve")
    staff = UserFactory(email="ops@example.test", role=User.Role.STAFF, is_staff=True, is_superuser=True)
    client.force_login(staff)

    listing = client.get("/admin/marketplace/auditevent/")
    assert listing.status_code == 200 and "payouts.batch_approve" in listing.content.decode()
    assert client.get(f"/admin/marketplace/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/marketplace/auditevent/add/").status_code == 403
    assert client.post(f"/admin/marketplace/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.count() == 1


def test_a_supervisor_is_kept_out_of_the_log_in_the_admin(client, supervisor, settings):
    """The fixture's supervisor has staff status ticked; the admin still refuses them."""
    settings.SUPERVISOR_MFA_REQUIRED = False
    client.force_login(supervisor)

    response = client.get("/admin/marketplace/auditevent/")

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get(response["Location"]).status_code == 403
