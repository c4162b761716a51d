"""Websocket frame builders: the shapes the public contract fixes, and our extensions."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from agents.models import AgentProfile
from payouts.models import Earning, minor_to_decimal
from payouts.selectors import money

from .models import Attachment, Message, Offer, Shift, Ticket


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def pay(amount_minor: int, currency: str) -> dict[str, Any]:
    return {"amount": str(minor_to_decimal(amount_minor, currency)), "currency": currency}


def offer_frame(offer: Offer, ticket: Ticket) -> dict[str, Any]:
    now = timezone.now()
    waiting = (now - ticket.created_at).total_seconds()
    return {
        "type": "offer",
        "offer_id": offer.pk,
        "expires_at": iso(offer.expires_at),
        # Seconds left when the frame was built: clients with a wrong clock count down from this.
        "expires_in": round(max(0.0, (offer.expires_at - now).total_seconds()), 1),
        "pay": pay(offer.pay_amount_minor, offer.currency),
        "ticket": {
            "id": ticket.pk,
            "language": ticket.language,
            "subject": ticket.subject,
            "category": ticket.category,
            "priority": ticket.priority_name,
            "summary": ticket.summary,
            "waiting_seconds": max(0, int(waiting)),
        },
    }


def offer_rescinded_frame(offer_id: int, reason: str) -> dict[str, Any]:
    return {"type": "offer.rescinded", "offer_id": offer_id, "reason": reason}


def attachment_dict(attachment: Attachment, *, ticket_id: int, customer_token: str | None) -> dict[str, Any]:
    """A file in a chat. Its URL is an authorized download view: the customer's through
    their chat link, everyone else's through the API (session or token)."""
    if customer_token is not None:
        url = reverse("customer-attachment", args=[customer_token, attachment.pk])
    else:
        url = reverse("api-ticket-attachment", args=[ticket_id, attachment.pk])
    return {
        "url": url,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
    }


def message_frame(message: Message, *, customer_token: str | None = None) -> dict[str, Any]:
    """A chat message; `customer_token` when the frame is for the customer's socket (it
    only changes an attachment's URL)."""
    frame = {
        "type": "message",
        "ticket_id": message.ticket_id,
        "id": message.pk,
        "sender": message.sender,
        "text": message.text,
        "sent_at": iso(message.sent_at),
    }
    # The id is on the row itself: a message without a file costs no query here.
    if message.attachment_id is not None and message.attachment is not None:
        frame["attachment"] = attachment_dict(
            message.attachment, ticket_id=message.ticket_id, customer_token=customer_token
        )
    return frame


def message_dict(message: Message, *, customer_token: str | None = None) -> dict[str, Any]:
    frame = message_frame(message, customer_token=customer_token)
    del frame["type"]
    return frame


def read_frame(ticket_id: int, *, reader: str, up_to: int) -> dict[str, Any]:
    """`reader` (agent or customer) has seen the chat up to message id `up_to`."""
    return {"type": "read", "ticket_id": ticket_id, "reader": reader, "up_to": up_to}


def typing_frame(ticket_id: int, *, sender: str) -> dict[str, Any]:
    return {"type": "typing", "ticket_id": ticket_id, "sender": sender}


def history_cursor(messages: list[Message], *, more: bool) -> dict[str, Any]:
    """Whether messages older than those sent exist, and the id to page back from."""
    return {"more": more, "before": messages[0].pk if messages else None}


def history_frame(
    ticket_id: int, messages: list[Message], *, more: bool, customer_token: str | None = None
) -> dict[str, Any]:
    """A page of a conversation, oldest first, answering a client's history frame."""
    return {
        "type": "history",
        "ticket_id": ticket_id,
        "messages": [message_dict(m, customer_token=customer_token) for m in messages],
        **history_cursor(messages, more=more),
    }


def history_marker_frame(ticket_id: int, sent: list[Message], *, more: bool) -> dict[str, Any]:
    """Ends a customer snapshot, whose messages went as message frames: only the cursor."""
    return {"type": "history", "ticket_id": ticket_id, "messages": [], **history_cursor(sent, more=more)}


def ticket_assigned_frame(ticket: Ticket, messages: list[Message]) -> dict[str, Any]:
    """Everything an agent needs to work the case; sent only once they accepted it.

    `messages` is the conversation, oldest first; only its newest SNAPSHOT_MESSAGES go out,
    and `history` tells the client whether it can page back (a history frame) for more.
    """
    more = len(messages) > settings.SNAPSHOT_MESSAGES
    messages = messages[-settings.SNAPSHOT_MESSAGES :]
    return {
        "type": "ticket.assigned",
        "ticket": {
            "id": ticket.pk,
            "status": ticket.status,
            "language": ticket.language,
            "subject": ticket.subject,
            "category": ticket.category,
            "priority": ticket.priority_name,
            "summary": ticket.summary,
            "tags": ticket.tags,
            "customer": {"name": ticket.customer.name},
            "transcript": ticket.transcript,
            "assigned_at": iso(ticket.assigned_at),
            "pay": pay(ticket.pay_amount_minor, ticket.brand.currency) if ticket.pay_amount_minor is not None else None,
            "messages": [message_dict(m) for m in messages],
            "history": history_cursor(messages, more=more),
            # Read marks, so ticks are right after a reconnect (null: nothing read yet).
            "read_up_to": {"agent": ticket.agent_read_up_to, "customer": ticket.customer_read_up_to},
        },
    }


def earning_dict(earning: Earning) -> dict[str, Any]:
    """What a resolution earned, for the agent's `ticket.updated`: pending until the reopen
    window closes (available at once when that window is 0)."""
    available = earning.available_at <= timezone.now()
    return {
        "amount": str(earning.amount),
        "currency": earning.currency,
        "status": "available" if available else "pending",
        "available_at": iso(earning.available_at),
    }


def agent_ticket_updated_frame(ticket_id: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"type": "ticket.updated", "ticket_id": ticket_id, "status": status, **extra}


def customer_ticket_updated_frame(
    ticket: Ticket,
    *,
    queue_position: int | None = None,
    eta_seconds: int | None = None,
    agent_name: str | None = None,
    agents_online: bool | None = None,
    agent_connection: str | None = None,
) -> dict[str, Any]:
    """`agents_online` False (nobody who could take the ticket is online) goes without an
    estimate; `agent_connection` ("lost", "restored") is about the assigned agent's sockets."""
    frame: dict[str, Any] = {"type": "ticket.updated", "status": ticket.status}
    if ticket.is_waiting:
        if queue_position is not None:
            frame["queue_position"] = queue_position
        if agents_online is not None:
            frame["agents_online"] = agents_online
        if eta_seconds is not None and agents_online is not False:
            frame["eta_seconds"] = eta_seconds
        if ticket.notify_email:
            frame["notify_email"] = ticket.notify_email
    if agent_name:
        frame["agent"] = {"display_name": agent_name}
    if agent_connection and ticket.status == Ticket.Status.ASSIGNED:
        frame["agent_connection"] = agent_connection
    if ticket.status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED):
        frame["rating"] = ticket.rating
    return frame


def presence_frame(status: str, reason: str | None = None) -> dict[str, Any]:
    frame = {"type": "presence", "status": status}
    if reason:
        frame["reason"] = reason
    return frame


def shift_dict(shift: Shift, *, my_booking: int | None = None) -> dict[str, Any]:
    """A shift as REST and the agent socket show it; `my_booking`: the caller's live booking."""
    currency = shift.brand.currency

    def terms(amount: int | None) -> dict[str, str] | None:
        return money(amount, currency) if amount is not None else None

    return {
        "id": shift.pk,
        "brand": shift.brand.slug,
        "starts_at": timezone.localtime(shift.starts_at).isoformat(),
        "ends_at": timezone.localtime(shift.ends_at).isoformat(),
        "languages": shift.languages,
        "skills": shift.skills,
        "slots": shift.slots,
        "booked": shift.booked,
        "status": shift.status,
        "pay": {"hourly_floor": terms(shift.hourly_floor_minor), "bonus_per_case": terms(shift.bonus_per_case_minor)},
        "my_booking": my_booking,
    }


def shift_updated_frame(shift: Shift, change: str, *, my_booking: int | None = None) -> dict[str, Any]:
    """A shift the agent could book was published or boosted, or one they booked was
    changed or cancelled (`change`)."""
    return {"type": "shift.updated", "shift": shift_dict(shift, my_booking=my_booking), "change": change}


# --- Operations group (supervisors of a brand) ------------------------------------------------


def ops_ticket_dict(
    *,
    ticket_id: int,
    brand_id: int,
    brand_slug: str,
    language: str,
    status: str,
    agent_id: int | None,
    waited_seconds: float,
    widen_level: int,
    subject: str,
) -> dict[str, Any]:
    """A ticket as the live view shows it, in `ticket.changed` and in `ops.snapshot`;
    `waiting_seconds` counts from the handover."""
    return {
        "id": ticket_id,
        "brand": brand_id,
        "brand_slug": brand_slug,
        "language": language,
        "status": status,
        "agent_id": agent_id,
        "waiting_seconds": max(0, int(waited_seconds)),
        "widen_level": widen_level,
        "subject": subject,
    }


def ops_ticket_changed_frame(ticket: Ticket, offer: Offer | None = None) -> dict[str, Any]:
    """`offer`: the offer just made, when that is the change (its agent and countdown, for
    the live view's offers in flight). Reads `ticket.brand` for its slug: callers load it
    with the ticket where they can."""
    frame: dict[str, Any] = {
        "type": "ticket.changed",
        "ticket": ops_ticket_dict(
            ticket_id=ticket.pk,
            brand_id=ticket.brand_id,
            brand_slug=ticket.brand.slug,
            language=ticket.language,
            status=ticket.status,
            agent_id=ticket.agent_id,
            waited_seconds=(timezone.now() - ticket.created_at).total_seconds(),
            widen_level=ticket.widen_level,
            subject=ticket.subject,
        ),
    }
    if offer is not None:
        frame["offer"] = ops_offer_dict(
            offer_id=offer.pk, ticket_id=ticket.pk, agent_id=offer.agent_id, expires_at=offer.expires_at
        )
    return frame


def ops_offer_dict(*, offer_id: int, ticket_id: int, agent_id: int, expires_at: datetime) -> dict[str, Any]:
    return {"id": offer_id, "ticket_id": ticket_id, "agent_id": agent_id, "expires_at": iso(expires_at)}


def ops_agent_changed_frame(agent: AgentProfile) -> dict[str, Any]:
    """`connected`: whether the agent has a socket open (read from the row, like the rest)."""
    return {
        "type": "agent.changed",
        "agent": {
            "id": agent.pk,
            "display_name": agent.display_name,
            "status": agent.status,
            "load": agent.load,
            "capacity": agent.capacity,
            "connected": agent.connections > 0,
        },
    }


def ops_pause_dict(
    *, pause_id: int, brand_id: int, language: str, reason: str, paused_by: str, created_at: datetime
) -> dict[str, Any]:
    """An intake pause in force: `language` "" for every language of the brand."""
    return {
        "id": pause_id,
        "brand": brand_id,
        "language": language,
        "reason": reason,
        "paused_by": paused_by,
        "created_at": iso(created_at),
    }


def intake_changed_frame(*, brand_id: int, language: str, paused: bool, pause: dict[str, Any] | None) -> dict[str, Any]:
    """A brand's intake (one language, or all when `language` is "") was paused or resumed;
    `pause` is the pause now in force (as in the snapshot's `pauses`), null after a resume."""
    return {"type": "intake.changed", "brand": brand_id, "language": language, "paused": paused, "pause": pause}


def supervisor_note_frame(*, note_id: int, text: str, sender: str, sent_at: datetime) -> dict[str, Any]:
    """A note from a supervisor to an agent; `from` is the supervisor's name as the agent sees it."""
    return {"type": "supervisor.note", "id": note_id, "text": text, "from": sender, "sent_at": iso(sent_at)}
