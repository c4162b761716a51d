"""A brand hands a conversation over: the customer and ticket rows, offered at once."""

import logging
from typing import Any

from django.db import DatabaseError, transaction

from marketplace.masking import mask_sensitive
from marketplace.models import Brand

from ..models import Customer, Ticket
from .dispatch import _offer_to_best_agent

log = logging.getLogger(__name__)

Status = Ticket.Status


def ticket_create(*, brand: Brand, data: dict[str, Any]) -> Ticket:
    """Queue a conversation handed over by a brand system, and offer it in the same
    transaction.

    `data` is already validated (see tasks.api.TicketCreateSerializer). Runs in the
    caller's transaction when there is one (the API stores the idempotency record in it),
    so the ticket, its first offer and the stored response commit together.
    """
    with transaction.atomic():
        customer_data = data["customer"]
        # One upsert round trip instead of select-then-insert/update.
        (customer,) = Customer.objects.bulk_create(
            [
                Customer(
                    brand=brand,
                    # Some brands use a card number or IBAN as the customer id; stored
                    # masked, ids that mask alike share one customer row.
                    external_id=mask_sensitive(customer_data["external_id"]),
                    name=mask_sensitive(customer_data["name"]),
                    email=customer_data.get("email") or "",
                )
            ],
            update_conflicts=True,
            unique_fields=["brand", "external_id"],
            update_fields=["name", "email"],
        )
        transcript = [
            {"role": turn["role"], "text": mask_sensitive(turn["text"]), "at": turn.get("at")}
            for turn in data.get("transcript") or []
        ]
        ticket = Ticket.objects.create(
            brand=brand,
            customer=customer,
            language=data["language"],
            subject=mask_sensitive(data["subject"]),
            category=data.get("category") or "",
            priority=data.get("priority", Ticket.Priority.NORMAL),
            tags=sorted(set(data.get("tags") or [])),
            transcript=transcript,
            summary=mask_sensitive(data.get("summary") or ""),
            queue_reason="new",
        )
        # Offer it in the same transaction: the new row is ours alone until commit, so it
        # needs no lock, and the agent hears of it the moment it exists. A savepoint keeps
        # a failed dispatch from losing the ticket: it stays queued for the sweeper.
        try:
            with transaction.atomic():
                _offer_to_best_agent(ticket)
        except DatabaseError:
            log.exception("dispatch of new ticket %s failed; left for the sweeper", ticket.pk)
    return ticket
