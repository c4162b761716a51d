"""Who hears about what: the one place that decides it.

Services call a `notify_*` function inside their transaction; the frames go out after
commit (tasks.realtime.push_many), in order, in one hop. Three audiences:

- the customer of a ticket (`customer.<ticket id>`),
- the agent concerned (`agent.<agent id>`),
- the brand's operations group (`ops.brand.<brand id>`), where the supervisors' live
  view listens (`/ws/supervisor/`): `ticket.changed` on every ticket status change (a new
  ticket included), `agent.changed` on every presence change and when an agent's first
  socket opens or last one closes, `intake.changed` when intake is paused or resumed.

Shifts reach agents too (`shift.updated`): a new or boosted shift every agent who could
book it, a changed or cancelled one the agents booked on it.
"""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from agents.models import AgentProfile

from . import frames
from .models import Message, Offer, Shift, ShiftBooking, Ticket
from .realtime import agent_group, customer_group, ops_group, push_many, send_many_async, send_now
from .selectors import Wait


def notify_offer_made(*, offer: Offer, ticket: Ticket) -> None:
    """An offer with its countdown to the agent; "next in line" to the customer; and, when
    the agent subscribed a browser to Web Push, a push job after commit (the phone may be
    locked). `has_push` is read from the agent row dispatch already loaded: an agent
    without a subscription costs no query."""
    push_many(
        [
            (agent_group(offer.agent_id), frames.offer_frame(offer, ticket)),
            (customer_group(ticket.pk), frames.customer_ticket_updated_frame(ticket, queue_position=1)),
            (ops_group(ticket.brand_id), frames.ops_ticket_changed_frame(ticket, offer)),
        ]
    )
    if settings.WEB_PUSH_ENABLED and offer.agent.has_push:
        # Imported here: jobs import the services, which import this module.
        from .jobs import offer_push_send

        offer_id = offer.pk
        transaction.on_commit(lambda: offer_push_send.delay(offer_id), robust=True)


def notify_offer_closed(*, offer: Offer, ticket: Ticket, reason: str | None) -> None:
    """The offer is gone from the agent's screen (`reason` None: they declined it
    themselves, nothing to tell them); the ticket is back in the queue."""
    events = []
    if reason is not None:
        events.append((agent_group(offer.agent_id), frames.offer_rescinded_frame(offer.pk, reason)))
    events.append((ops_group(ticket.brand_id), frames.ops_ticket_changed_frame(ticket)))
    push_many(events)


def notify_ticket_assigned(*, ticket: Ticket, agent: AgentProfile, messages: list[Message]) -> None:
    """The agent gets the whole case (customer, transcript, messages); the customer gets
    the agent's name."""
    push_many(
        [
            (agent_group(agent.pk), frames.ticket_assigned_frame(ticket, messages)),
            (
                customer_group(ticket.pk),
                frames.customer_ticket_updated_frame(ticket, agent_name=agent.display_name),
            ),
            (ops_group(ticket.brand_id), frames.ops_ticket_changed_frame(ticket)),
        ]
    )


def notify_ticket_queued(*, ticket: Ticket) -> None:
    """A new ticket nobody could be offered yet: only the operations group hears of it (an
    offer, when there is one, tells everyone through notify_offer_made)."""
    push_many([(ops_group(ticket.brand_id), frames.ops_ticket_changed_frame(ticket))])


def notify_message(*, message: Message, agent_id: int | None) -> None:
    """A chat message to the customer and, when an agent works the ticket, to them. An
    attachment's download link differs per side (the customer's goes through their chat
    link), so such a message gets a frame per audience."""
    frame = frames.message_frame(message)
    customer_frame = frame
    if message.attachment_id is not None:
        customer_frame = frames.message_frame(message, customer_token=message.ticket.customer_token)
    events = [(customer_group(message.ticket_id), customer_frame)]
    if agent_id:
        events.insert(0, (agent_group(agent_id), frame))
    push_many(events)


def notify_read(*, ticket_id: int, reader: str, up_to: int, agent_id: int | None) -> None:
    """A read mark goes to the other side: the agent's to the customer, the customer's to
    the agent `agent_id` working the chat (nobody while it waits)."""
    frame = frames.read_frame(ticket_id, reader=reader, up_to=up_to)
    if reader == Message.Sender.AGENT:
        push_many([(customer_group(ticket_id), frame)])
    elif agent_id:
        push_many([(agent_group(agent_id), frame)])


async def notify_typing(*, ticket_id: int, sender: str, agent_id: int | None) -> None:
    """Someone is typing: relayed at once to the other side, never stored. Called on the
    socket's event loop, since nothing is committed first."""
    frame = frames.typing_frame(ticket_id, sender=sender)
    if sender == Message.Sender.AGENT:
        await send_many_async([(customer_group(ticket_id), frame)])
    elif agent_id:
        await send_many_async([(agent_group(agent_id), frame)])


def notify_ticket_changed(
    *,
    ticket: Ticket,
    agent_id: int | None = None,
    agent_name: str | None = None,
    agent_status: str | None = None,
    agent_extra: dict[str, Any] | None = None,
) -> None:
    """A status change: the customer sees it (with the agent's name when there is one),
    the agent `agent_id` gets `ticket.updated` (with `agent_status` when it differs from
    the ticket's, e.g. "cancelled"), and the operations group hears of it."""
    events = []
    if agent_id:
        status = agent_status or ticket.status
        events.append(
            (agent_group(agent_id), frames.agent_ticket_updated_frame(ticket.pk, status, **(agent_extra or {})))
        )
    events.append((customer_group(ticket.pk), frames.customer_ticket_updated_frame(ticket, agent_name=agent_name)))
    events.append((ops_group(ticket.brand_id), frames.ops_ticket_changed_frame(ticket)))
    push_many(events)


def notify_presence(*, agent: AgentProfile, brand_ids: list[int], reason: str | None = None) -> None:
    """The agent's own screen shows the status (and why, when the platform changed it);
    the operations group of every brand they work for sees it."""
    events = [(agent_group(agent.pk), frames.presence_frame(agent.status, reason=reason))]
    events += [(ops_group(brand_id), frames.ops_agent_changed_frame(agent)) for brand_id in brand_ids]
    push_many(events)


def notify_agent_connection_changed(*, agent: AgentProfile, brand_ids: list[int]) -> None:
    """The agent's first socket opened or their last one closed: the live view's
    `connected` follows it (the agent's own screen knows already)."""
    push_many([(ops_group(brand_id), frames.ops_agent_changed_frame(agent)) for brand_id in brand_ids])


def notify_ticket_reassigned(
    *, ticket: Ticket, old_agent_id: int | None, new_agent: AgentProfile, messages: list[Message], note: Message | None
) -> None:
    """A supervisor gave the ticket to `new_agent`: the previous agent's chat closes
    (`ticket.updated` with status `reassigned`), the customer sees the takeover note and the
    new agent's name, the new agent gets the whole case, the operations group the change."""
    events = []
    if old_agent_id:
        events.append((agent_group(old_agent_id), frames.agent_ticket_updated_frame(ticket.pk, "reassigned")))
    if note is not None:
        events.append((customer_group(ticket.pk), frames.message_frame(note)))
    push_many(events)
    notify_ticket_assigned(ticket=ticket, agent=new_agent, messages=messages)


def notify_supervisor_note(*, agent_id: int, frame: dict[str, Any]) -> None:
    push_many([(agent_group(agent_id), frame)])


def notify_intake_changed(*, brand_id: int, frame: dict[str, Any]) -> None:
    push_many([(ops_group(brand_id), frame)])


def notify_queue_position(*, ticket: Ticket, position: int, wait: Wait) -> None:
    """A waiting customer's place and estimated wait (or that nobody who could help is
    online). Sent at once: the sweeper reads positions outside any transaction."""
    send_now(
        customer_group(ticket.pk),
        frames.customer_ticket_updated_frame(
            ticket, queue_position=position, eta_seconds=wait.eta_seconds, agents_online=wait.agents_online
        ),
    )


def notify_ticket_widened(*, ticket: Ticket) -> None:
    """Nobody took the ticket in time and it was widened: the brand's operations group
    hears of it (the customer's own wait is the sweeper's business)."""
    push_many([(ops_group(ticket.brand_id), frames.ops_ticket_changed_frame(ticket))])


def notify_agent_connection(*, agent: AgentProfile, tickets: list[Ticket], state: str) -> None:
    """The customers of an agent's open chats hear that the agent's connection was `state`
    ("lost": their last socket closed; "restored": one is back)."""
    push_many(
        [
            (
                customer_group(ticket.pk),
                frames.customer_ticket_updated_frame(ticket, agent_name=agent.display_name, agent_connection=state),
            )
            for ticket in tickets
        ]
    )


# What happened to a shift, as `shift.updated` says it.
SHIFT_PUBLISHED = "published"
SHIFT_UPDATED = "updated"
SHIFT_BOOSTED = "boosted"
SHIFT_CANCELLED = "cancelled"


def shift_audience(shift: Shift, *, change: str) -> list[int]:
    """The agents a shift's change concerns. A new or boosted shift: every agent connected
    now who could book it (certified for its brand, speaks one of its languages, has all
    its skills, not suspended); an agent with no socket would hear nothing, and a brand may
    have thousands. A changed shift: the agents booked on it. A cancelled one: the agents
    whose bookings the cancellation ended (cancelled at the shift's own moment; an agent
    who had cancelled earlier is not told again)."""
    if change in (SHIFT_PUBLISHED, SHIFT_BOOSTED):
        agents = AgentProfile.objects.filter(
            brands=shift.brand_id, suspended=False, connections__gt=0, languages__code__in=shift.languages
        )
        for skill in shift.skills:
            agents = agents.filter(skills__code=skill)
        return sorted(set(agents.values_list("pk", flat=True)))
    bookings = ShiftBooking.objects.filter(shift=shift)
    if change == SHIFT_CANCELLED:
        bookings = bookings.filter(status=ShiftBooking.Status.CANCELLED, cancelled_at=shift.cancelled_at)
    else:
        bookings = bookings.filter(status=ShiftBooking.Status.BOOKED)
    return sorted(bookings.values_list("agent_id", flat=True))


def notify_shift_changed(*, shifts: Sequence[Shift], change: str) -> None:
    """`shift.updated` (`change`: published, updated, boosted, cancelled) to the agents each
    shift concerns (`shift_audience`), after commit. `shifts` are one shift, or the weekly
    copies of one publication, whose audience is the same and is read once. A booked
    agent's frame carries their booking."""
    events = []
    audience: list[int] | None = None
    for shift in shifts:
        if audience is None or change not in (SHIFT_PUBLISHED, SHIFT_BOOSTED):
            audience = shift_audience(shift, change=change)
        if not audience:
            continue
        mine: dict[int, int] = {}
        if change in (SHIFT_UPDATED, SHIFT_BOOSTED):
            booked = ShiftBooking.objects.filter(shift=shift, agent_id__in=audience, status=ShiftBooking.Status.BOOKED)
            mine = dict(booked.values_list("agent_id", "pk"))
        events += [
            (agent_group(agent_id), frames.shift_updated_frame(shift, change, my_booking=mine.get(agent_id)))
            for agent_id in audience
        ]
    push_many(events)
