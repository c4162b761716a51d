"""No stored row keeps a card number or IBAN: what a brand hands over and what a customer
writes is masked on the way in, and the data migration masks what was stored before."""

import importlib
import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks import services
from tasks.models import Customer, Message, Offer, Ticket

from .conftest import TICKET_BODY
from .factories import AgentFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("tasks.migrations.0002_mask_stored_payment_data")

# Valid numbers (Luhn / IBAN check digits), each typed the way it appears below.
CARDS = ["4111111111111111", "5500000000000004", "378282246310005", "4012888888881881"]
IBANS = ["SE3550000000054910000003", "DE89370400440532013000", "GB82WEST12345698765432"]


def leaks(value: str) -> list[str]:
    """The card numbers and IBANs of which more than the last four characters are in `value`."""
    compact = re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return [secret for secret in CARDS + IBANS if secret[-9:-4] in compact or secret[4:-4] in compact]


def stored_texts() -> list[str]:
    texts = []
    for ticket in Ticket.objects.all():
        texts += [ticket.subject, ticket.summary, ticket.rating_comment]
        texts += [turn["text"] for turn in ticket.transcript]
    for customer in Customer.objects.all():
        texts += [customer.name, customer.external_id]
    texts += list(Message.objects.values_list("text", flat=True))
    return texts


def test_leak_check_sees_a_raw_number_in_any_format():
    assert leaks("pay to de89-3704-0044-0532-0130-00") == ["DE89370400440532013000"]
    assert leaks("4111 1111 1111 1111") == ["4111111111111111"]
    assert leaks("••••••••••••1111 and SE35••••••••••••••••0003") == []


def test_handover_chat_and_rating_store_no_card_number_or_iban(brand, handover):
    agent = AgentFactory(brands=[brand], available=True)
    ticket = handover(
        customer={"external_id": "se35 5000 0000 0549 1000 0003", "name": "Maja 4111.1111.1111.1111"},
        subject="Card 5500/0000/0000/0004 declined",
        summary="Wants a refund to DE89-3704-0044-0532-0130-00",
        transcript=[
            {"role": "customer", "text": "my card is 378282246310005 exp 12/27 cvv 1234"},
            {"role": "bot", "text": "Please do not share 4012  8888  8888  1881 here."},
            {"role": "customer", "text": "then use gb82 west 1234 5698 7654 32"},
        ],
    )
    services.offer_accept(agent=agent, offer_id=Offer.objects.get(ticket=ticket).pk)
    services.message_send_customer(ticket=ticket, text="It is 4111 1111 1111 1111 12/27 123")
    services.message_send_agent(agent=agent, ticket_id=ticket.pk, text="Noted SE35-5000-0000-0549-1000-0003")
    services.ticket_resolve(agent=agent, ticket_id=ticket.pk)
    services.ticket_rate(ticket=ticket, score=5, comment="refund went to se3550000000054910000003, thanks")

    texts = stored_texts()
    assert len(texts) == 10  # 3 ticket fields, 3 transcript turns, 2 customer fields, 2 messages
    assert [(text, leaks(text)) for text in texts if leaks(text)] == []
    customer = Customer.objects.get()
    assert (customer.name, customer.external_id) == ("Maja ••••••••••••1111", "SE35••••••••••••••••0003")
    assert Message.objects.get(sender="customer").text == "It is ••••••••••••1111 ••/•• •••"


def test_the_same_masked_customer_id_is_found_again_on_the_next_handover(brand, handover):
    first = handover(customer={"external_id": "4111 1111 1111 1111", "name": "Maja"})
    second = handover(customer={"external_id": "4111 1111 1111 1111", "name": "Maja S"})
    assert first.customer_id == second.customer_id
    assert Customer.objects.get().external_id == "••••••••••••1111"


# --- The data migration --------------------------------------------------------------------


def run_migration():
    migration.mask_stored_payment_data(apps, None)


def store_raw(model, pk, **values):
    """Write as an old version of the code would have: straight to the row, no masking."""
    model.objects.filter(pk=pk).update(**values)


def test_migration_masks_what_was_stored_raw_in_tickets_customers_and_messages(brand, handover):
    ticket = handover()
    message = Message.objects.create(ticket=ticket, sender=Message.Sender.CUSTOMER, text="hello")
    store_raw(
        Ticket,
        ticket.pk,
        subject="Card 4111.1111.1111.1111 declined",
        summary="refund to DE89 3704 0044 0532 0130 00 please",
        rating_comment="use se35 5000 0000 0549 1000 0003 next time",
        transcript=[
            {"role": "customer", "text": "5500 0000 0000 0004 exp 12/27 cvv 123", "at": None},
            {"role": "bot", "text": "No numbers here."},
        ],
    )
    store_raw(Customer, ticket.customer_id, name="Maja 378282246310005", external_id="4012888888881881")
    store_raw(Message, message.pk, text="my iban is gb82-west-1234-5698-7654-32")
    assert len([text for text in stored_texts() if leaks(text)]) == 7

    run_migration()

    assert [(text, leaks(text)) for text in stored_texts() if leaks(text)] == []
    ticket.refresh_from_db()
    assert ticket.subject == "Card ••••••••••••1111 declined"
    assert ticket.transcript == [
        {"role": "customer", "text": "••••••••••••0004 exp ••/•• cvv •••", "at": None},
        {"role": "bot", "text": "No numbers here."},
    ]
    customer = Customer.objects.get(pk=ticket.customer_id)
    assert (customer.name, customer.external_id) == ("Maja •••••••••••0005", "••••••••••••1881")
    assert Message.objects.get(pk=message.pk).text == "my iban is GB82••••••••••••••5432"


def test_migration_gives_a_customer_whose_masked_id_is_taken_a_suffix_instead_of_failing(brand, handover):
    # Three customers whose ids mask alike: one already masked, two raw in different formats.
    ids = [handover(customer={"external_id": f"c-{n}", "name": "Maja"}).customer_id for n in range(3)]
    store_raw(Customer, ids[0], external_id="••••••••••••1111")
    store_raw(Customer, ids[1], external_id="4111 1111 1111 1111")
    store_raw(Customer, ids[2], external_id="4111111111111111")

    run_migration()

    external_ids = dict(Customer.objects.values_list("pk", "external_id"))
    assert external_ids == {
        ids[0]: "••••••••••••1111",
        ids[1]: f"••••••••••••1111~{ids[1]}",
        ids[2]: f"••••••••••••1111~{ids[2]}",
    }


def test_migration_writes_nothing_when_nothing_needs_masking(brand, handover):
    ticket = handover(subject="Order 1234567890123 late", summary="Call +46 70 123 45 67")
    Message.objects.create(ticket=ticket, sender=Message.Sender.CUSTOMER, text="It cost 1 299,00 kr on 2024-01-15")
    Message.objects.create(ticket=ticket, sender=Message.Sender.CUSTOMER, text="Card ••••••••••••1111")
    with CaptureQueriesContext(connection) as queries:
        run_migration()
    assert [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")] == []
    assert Ticket.objects.get().subject == "Order 1234567890123 late"


def test_migration_is_in_the_graph_after_the_initial_tasks_migration():
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    node = ("tasks", "0002_mask_stored_payment_data")
    assert ("tasks", "0001_initial") in loader.graph.node_map[node].parents
    assert node in loader.applied_migrations


@pytest.mark.parametrize("field", ["category", "tags"])
def test_a_card_number_as_category_or_tag_is_refused_not_stored(brand_client, field):
    value = "4111-1111-1111-1111"
    body = {**TICKET_BODY, field: [value] if field == "tags" else value}
    response = brand_client.post("/api/v1/tickets/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["fields"]
    assert not Ticket.objects.exists()
