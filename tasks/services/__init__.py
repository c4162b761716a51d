"""Every write to tickets, offers and messages, and the dispatch engine, one module per verb
group:

- `intake`: a brand hands a conversation over (`ticket_create`);
- `dispatch`: who is offered what (`ticket_dispatch`, `agent_dispatch`, `dispatch_waiting`);
- `offers`: accept, decline, expiry;
- `presence`: available / away / offline, open sockets, the release after the grace period;
- `conversation`: chat messages and read marks;
- `attachments`: files sent in a chat;
- `lifecycle`: resolve, confirm, rate, reopen, close, cancel;
- `push`: an offer to the agent's subscribed browsers (Web Push, from a job);
- `widening`: tickets nobody took in time (widen, surge, alert the supervisors);
- `waiting`: what a waiting customer leaves (the address to e-mail when an agent answers);
- `shifts`: publish, change and boost, book, cancel, check in, no-shows;
- `shift_pay`: the hourly floor settled after a shift, compensation for a late withdrawal;
- `supervision`: the live view's actions (reassign a ticket, a note to an agent, set an agent
  away, pause and resume intake, raise a surge bonus), each audit-logged.

Concurrency rules (docs/architecture.md, "Lock order"):
- A state change is one transaction. Work is claimed with `select_for_update(skip_locked=True)`
  or a conditional `UPDATE ... WHERE state = ...` whose row count is checked, so two
  workers doing the same thing is harmless.
- One lock order for every path: offer -> ticket -> agent profile -> agent connection
  rows, one chain per transaction. A path that starts from the agent (going away, the
  disconnect release) changes the agent in its own transaction first and then takes each
  offer or ticket in a transaction of its own. Dispatch only skips locked agents
  (SKIP LOCKED) and never waits on them.
- Who hears about a change is decided in tasks.notify; everything is sent after commit.
- Dispatch runs after the transaction that freed capacity or queued a ticket has
  committed: the functions here call it explicitly once their own atomic block is done.
"""

from .attachments import attachment_send_agent, attachment_send_customer
from .conversation import message_send_agent, message_send_customer, ticket_read_agent, ticket_read_customer
from .dispatch import agent_dispatch, dispatch_waiting, ticket_dispatch
from .intake import ticket_create
from .lifecycle import (
    ticket_cancel,
    ticket_confirm,
    ticket_rate,
    ticket_reopen,
    ticket_resolve,
    tickets_close_after_window,
)
from .offers import offer_accept, offer_countdown_restart, offer_decline, offers_expire_due
from .presence import (
    agent_connected,
    agent_connections_expire,
    agent_connections_heartbeat,
    agent_disconnected,
    agent_take_off_duty,
    agents_release_disconnected,
    presence_set,
)
from .push import offer_push_send
from .shift_pay import shifts_settle_due
from .shifts import (
    UNCHANGED,
    ShiftTerms,
    booking_cancel,
    booking_cancel_is_late,
    shift_book,
    shift_boost,
    shift_cancel,
    shift_cancel_and_tell,
    shift_check_in,
    shift_publish,
    shift_update,
    shifts_mark_no_shows,
)
from .supervision import (
    agent_note_send,
    agent_set_away_by_supervisor,
    intake_pause,
    intake_resume,
    surge_raise,
    ticket_reassign,
)
from .waiting import ticket_notify_email_set
from .widening import supervisors_alert, ticket_widen, tickets_widen_due

__all__ = [
    "agent_note_send",
    "agent_set_away_by_supervisor",
    "intake_pause",
    "intake_resume",
    "surge_raise",
    "ticket_reassign",
    "UNCHANGED",
    "ShiftTerms",
    "booking_cancel",
    "booking_cancel_is_late",
    "shift_book",
    "shift_boost",
    "shift_cancel",
    "shift_cancel_and_tell",
    "shift_check_in",
    "shift_publish",
    "shift_update",
    "shifts_mark_no_shows",
    "shifts_settle_due",
    "agent_connected",
    "attachment_send_agent",
    "attachment_send_customer",
    "agent_connections_expire",
    "agent_connections_heartbeat",
    "agent_disconnected",
    "agent_dispatch",
    "agent_take_off_duty",
    "agents_release_disconnected",
    "dispatch_waiting",
    "message_send_agent",
    "message_send_customer",
    "offer_accept",
    "offer_countdown_restart",
    "offer_decline",
    "offer_push_send",
    "offers_expire_due",
    "presence_set",
    "supervisors_alert",
    "ticket_cancel",
    "ticket_create",
    "ticket_dispatch",
    "ticket_notify_email_set",
    "ticket_confirm",
    "ticket_rate",
    "ticket_read_agent",
    "ticket_read_customer",
    "ticket_reopen",
    "ticket_resolve",
    "ticket_widen",
    "tickets_close_after_window",
    "tickets_widen_due",
]
