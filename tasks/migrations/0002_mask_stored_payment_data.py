"""Mask card numbers and IBANs in rows stored before every free-text field went through
masking (customer name and id) or before masking knew the formats customers really type
(dots, slashes, lower-case IBANs, an expiry or code after the card).

It calls the live `mask_sensitive` on purpose: stored rows must end up as new writes are.
Running it again is harmless (masked text masks to itself) and finds whatever the rules
of the day catch. There is no way back: the raw values are gone.
"""

from django.db import migrations
from django.db.models import Q

from marketplace.masking import mask_sensitive

BATCH = 500
# Every card number and IBAN holds two digits in a row; rows without any are skipped in
# the database instead of being read and masked in Python.
HAS_DIGITS = r"[0-9]{2}"


def _mask_transcript(transcript):
    if not isinstance(transcript, list):
        return transcript
    return [
        {**turn, "text": mask_sensitive(turn["text"])}
        if isinstance(turn, dict) and isinstance(turn.get("text"), str)
        else turn
        for turn in transcript
    ]


def _mask_tickets(Ticket):
    fields = ["subject", "summary", "transcript", "rating_comment"]
    changed = []
    # The transcript is JSON, so it cannot be filtered by HAS_DIGITS: every ticket is read.
    for ticket in Ticket.objects.only("pk", *fields).order_by("pk").iterator(chunk_size=BATCH):
        masked = {
            "subject": mask_sensitive(ticket.subject),
            "summary": mask_sensitive(ticket.summary),
            "transcript": _mask_transcript(ticket.transcript),
            "rating_comment": mask_sensitive(ticket.rating_comment),
        }
        if all(masked[field] == getattr(ticket, field) for field in fields):
            continue
        for field, value in masked.items():
            setattr(ticket, field, value)
        changed.append(ticket)
        if len(changed) >= BATCH:
            Ticket.objects.bulk_update(changed, fields)
            changed = []
    if changed:
        Ticket.objects.bulk_update(changed, fields)


def _mask_messages(Message):
    changed = []
    rows = Message.objects.filter(text__regex=HAS_DIGITS).only("pk", "text").order_by("pk")
    for message in rows.iterator(chunk_size=BATCH):
        masked = mask_sensitive(message.text)
        if masked == message.text:
            continue
        message.text = masked
        changed.append(message)
        if len(changed) >= BATCH:
            Message.objects.bulk_update(changed, ["text"])
            changed = []
    if changed:
        Message.objects.bulk_update(changed, ["text"])


def _free_external_id(Customer, customer, masked: str) -> str:
    """`masked`, or when another customer of the brand already has that id (two raw ids
    that mask alike), `masked` with this row's id appended, so neither row is lost."""
    max_length = Customer._meta.get_field("external_id").max_length
    others = Customer.objects.filter(brand_id=customer.brand_id).exclude(pk=customer.pk)
    candidate = masked
    attempt = 0
    while others.filter(external_id=candidate).exists():
        suffix = f"~{customer.pk}" + (f"-{attempt}" if attempt else "")
        candidate = masked[: max_length - len(suffix)] + suffix
        attempt += 1
    return candidate


def _mask_customers(Customer):
    # Customers with payment data in their name or id are few: one update each keeps the
    # unique (brand, external_id) check simple, against the rows as they are by then.
    rows = (
        Customer.objects.filter(Q(name__regex=HAS_DIGITS) | Q(external_id__regex=HAS_DIGITS))
        .only("pk", "brand_id", "name", "external_id")
        .order_by("pk")
    )
    for customer in rows.iterator(chunk_size=BATCH):
        name = mask_sensitive(customer.name)
        external_id = mask_sensitive(customer.external_id)
        if name == customer.name and external_id == customer.external_id:
            continue
        if external_id != customer.external_id:
            external_id = _free_external_id(Customer, customer, external_id)
        Customer.objects.filter(pk=customer.pk).update(name=name, external_id=external_id)


def mask_stored_payment_data(apps, schema_editor):
    _mask_customers(apps.get_model("tasks", "Customer"))
    _mask_tickets(apps.get_model("tasks", "Ticket"))
    _mask_messages(apps.get_model("tasks", "Message"))


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(mask_stored_payment_data, migrations.RunPython.noop, elidable=True),
    ]
