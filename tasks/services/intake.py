"""A brand hands a conversation over: the customer and ticket rows, offered at once."""

import logging
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import QuerySet

from marketplace.errors import DomainError
from marketplace.masking import mask_sensitive
from marketplace.models import Brand
from marketplace.prepared import PreparedInsert, PreparedQuery

from ..models import Customer, IntakePause, Ticket
from ..notify import notify_ticket_queued
from .dispatch import _offer_to_best_agent

log = logging.getLogger(__name__)

# A handover's rows, written without compiling them again (marketplace/prepared.py).
_insert_ticket = PreparedInsert(Ticket)
_upsert_customer = PreparedInsert(Customer, unique_fields=["brand", "external_id"], update_fields=["name", "email"])

Status = Ticket.Status


def ticket_create(*, brand: Brand, data: dict[str, Any]) -> Ticket:
    """Queue a conversation handed over by a brand system, and offer it in the same
    transaction.

    `data` is already validated (see tasks.api.TicketCreateSerializer). Runs in the
    caller's transaction when there is one (the API stores the idempotency record in it),
    so the ticket, its first offer and the stored response commit together; it takes no
    savepoint there, since a failure fails the caller's transaction anyway.

    Refused with `503 intake_paused` (and nothing written) while a supervisor has paused
    the brand's intake for this language or for all of them.
    """
    _refuse_while_paused(brand, data["language"])
    with transaction.atomic(savepoint=False):
        customer_data = data["customer"]
        # One upsert round trip instead of select-then-insert/update. Some brands use a card
        # number or IBAN as the customer id; stored masked, ids that mask alike share a row.
        customer = _upsert_customer(
            Customer(
                brand=brand,
                external_id=mask_sensitive(customer_data["external_id"]),
                name=mask_sensitive(customer_data["name"]),
                email=customer_data.get("email") or "",
            )
        )
        transcript = [
            {"role": turn["role"], "text": mask_sensitive(turn["text"]), "at": turn.get("at")}
            for turn in data.get("transcript") or []
        ]
        ticket = _insert_ticket(
            Ticket(
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
        )
        # Offer it in the same transaction: the new row is ours alone until commit, so it
        # needs no lock, and the agent hears of it the moment it exists. A savepoint keeps
        # a failed dispatch from losing the ticket: it stays queued for the sweeper.
        offer = None
        try:
            with transaction.atomic():
                offer = _offer_to_best_agent(ticket)
        except DatabaseError:
            log.exception("dispatch of new ticket %s failed; left for the sweeper", ticket.pk)
        if offer is None:
            notify_ticket_queued(ticket=ticket)
    return ticket


def _pauses(_shape: None, *, brand_id: int, languages: list[str]) -> QuerySet[IntakePause, tuple[int]]:
    return IntakePause.objects.filter(brand_id=brand_id, resumed_at__isnull=True, language__in=languages).values_list(
        "pk"
    )[:1]


# Every handover asks: compiled once (marketplace/prepared.py).
_open_pause = PreparedQuery(_pauses)


def _refuse_while_paused(brand: Brand, language: str) -> None:
    """One indexed read: an open pause of the brand for this language or for every one.
    A 503 with Retry-After: the brand's system keeps the conversation and tries again."""
    if _open_pause(None, brand_id=brand.pk, languages=["", language]):
        seconds = settings.INTAKE_PAUSED_RETRY_SECONDS
        raise DomainError(
            "intake_paused",
            f"The brand's supervisors have paused new conversations in {language!r} for now; nothing was created. "
            f"Try again in {seconds} seconds (a retry with the same Idempotency-Key is safe).",
            status=503,
            retry_after=seconds,
        )
