"""Client frames, parsed into typed values before any service sees them.

A socket's text becomes a dict (`parse_json_frame`), the dict becomes one of the frozen
dataclasses below (`parse_agent_frame` / `parse_customer_frame`), and every shape the
contract does not allow is refused with a `DomainError` whose code the client gets in an
`error` frame. Services then take plain typed arguments (`ticket_id: int`, `text: str`,
`score: int`); the rules about the domain (is this ticket yours, is it open) stay theirs.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from agents.models import AgentProfile
from marketplace.errors import DomainError
from marketplace.parsers import has_forbidden_characters

from .services.waiting import clean_notify_email

# A frame is at most a message plus some envelope; anything larger is refused unread.
MAX_FRAME_CHARS = settings.MESSAGE_MAX_CHARS * 2 + 1024
# A ref is echoed so the client can match the answer; anything else could make the answer
# arbitrarily large. Larger integers would lose precision in JavaScript.
REF_MAX_CHARS = 100
REF_MAX_INT = 2**53
# Ids are PostgreSQL bigints: a larger number could only fail inside the query.
MAX_ID = 2**63 - 1
DECLINE_REASON_MAX_CHARS = 200
HISTORY_MAX_LIMIT = 100
TYPE_ECHO_MAX_CHARS = 40


# --- The frames -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Presence:
    status: str


@dataclass(frozen=True)
class OfferAccept:
    offer_id: int


@dataclass(frozen=True)
class OfferDecline:
    offer_id: int
    reason: str


@dataclass(frozen=True)
class AgentMessage:
    ticket_id: int
    text: str


@dataclass(frozen=True)
class TicketResolve:
    ticket_id: int


@dataclass(frozen=True)
class History:
    """A page of messages before message id `before` (the newest when None). `ticket_id`
    is required on the agent socket; the customer socket belongs to one ticket."""

    ticket_id: int | None
    before: int | None
    limit: int


@dataclass(frozen=True)
class CustomerMessage:
    text: str


@dataclass(frozen=True)
class Rate:
    score: int
    comment: str


@dataclass(frozen=True)
class Reopen:
    pass


@dataclass(frozen=True)
class Confirm:
    """The customer says the case is solved."""


@dataclass(frozen=True)
class NotifyMe:
    """The address to e-mail once an agent answers (validated as an address here)."""

    email: str


@dataclass(frozen=True)
class Typing:
    """Someone is typing in a chat; `ticket_id` is None on the customer socket."""

    ticket_id: int | None


@dataclass(frozen=True)
class Read:
    """The sender has seen the chat up to message id `up_to`; `ticket_id` as for Typing."""

    ticket_id: int | None
    up_to: int


ClientFrame = (
    Ping
    | Presence
    | OfferAccept
    | OfferDecline
    | AgentMessage
    | TicketResolve
    | History
    | CustomerMessage
    | Rate
    | Reopen
    | Confirm
    | NotifyMe
    | Typing
    | Read
)


# --- Field rules ------------------------------------------------------------------------


def _id(frame: dict[str, Any], name: str) -> int:
    value = frame.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise DomainError(f"invalid_{name}", f"{name} must be a positive integer.")
    return value


def _text(
    frame: dict[str, Any],
    name: str,
    *,
    code: str,
    required: bool,
    max_chars: int,
    bad_chars_code: str | None = None,
    too_long_code: str = "text_too_long",
) -> str:
    """Text the database can store, at most `max_chars` long; stripped."""
    value = frame.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DomainError(code, f"{name} must be text.")
    if has_forbidden_characters(value):
        raise DomainError(bad_chars_code or code, f"{name} contains a NUL character or an unpaired surrogate.")
    if required and not value.strip():
        raise DomainError(code, f"{name} must not be empty.")
    if len(value) > max_chars:
        raise DomainError(too_long_code, f"{name} is limited to {max_chars} characters ({len(value)} sent).")
    return value.strip()


def _message_text(frame: dict[str, Any]) -> str:
    return _text(frame, "text", code="invalid_text", required=True, max_chars=settings.MESSAGE_MAX_CHARS)


def _history(frame: dict[str, Any], *, ticket_required: bool) -> History:
    ticket_id = _id(frame, "ticket_id") if ticket_required or frame.get("ticket_id") is not None else None
    before = _id(frame, "before") if frame.get("before") is not None else None
    limit = frame.get("limit", min(settings.SNAPSHOT_MESSAGES, HISTORY_MAX_LIMIT))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HISTORY_MAX_LIMIT:
        raise DomainError("invalid_limit", f"limit must be a whole number from 1 to {HISTORY_MAX_LIMIT}.")
    return History(ticket_id=ticket_id, before=before, limit=limit)


def _read(frame: dict[str, Any], *, ticket_required: bool) -> Read:
    ticket_id = _id(frame, "ticket_id") if ticket_required else None
    return Read(ticket_id=ticket_id, up_to=_id(frame, "up_to"))


def _presence(frame: dict[str, Any]) -> Presence:
    status = frame.get("status")
    if not isinstance(status, str) or status not in AgentProfile.Status.values:
        raise DomainError("invalid_status", "Status must be available, away or offline.")
    return Presence(status=status)


def _rate(frame: dict[str, Any]) -> Rate:
    score = frame.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise DomainError("invalid_score", "score must be a whole number from 1 to 5.")
    comment = _text(
        frame,
        "comment",
        code="invalid_comment",
        required=False,
        max_chars=settings.MESSAGE_MAX_CHARS,
        bad_chars_code="invalid_text",
    )
    return Rate(score=score, comment=comment)


def _decline(frame: dict[str, Any]) -> OfferDecline:
    offer_id = _id(frame, "offer_id")
    reason = _text(
        frame,
        "reason",
        code="invalid_reason",
        required=False,
        max_chars=DECLINE_REASON_MAX_CHARS,
        too_long_code="invalid_reason",
    )
    return OfferDecline(offer_id=offer_id, reason=reason)


def _notify_me(frame: dict[str, Any]) -> NotifyMe:
    email = frame.get("email")
    if isinstance(email, str) and has_forbidden_characters(email):
        raise DomainError("invalid_email", "email contains a NUL character or an unpaired surrogate.")
    return NotifyMe(email=clean_notify_email(email))


AGENT_FRAMES: dict[str, Callable[[dict[str, Any]], ClientFrame]] = {
    "presence": _presence,
    "offer.accept": lambda f: OfferAccept(offer_id=_id(f, "offer_id")),
    "offer.decline": _decline,
    "message": lambda f: AgentMessage(ticket_id=_id(f, "ticket_id"), text=_message_text(f)),
    "ticket.resolve": lambda f: TicketResolve(ticket_id=_id(f, "ticket_id")),
    "history": lambda f: _history(f, ticket_required=True),
    "typing": lambda f: Typing(ticket_id=_id(f, "ticket_id")),
    "read": lambda f: _read(f, ticket_required=True),
    "ping": lambda f: Ping(),
}

CUSTOMER_FRAMES: dict[str, Callable[[dict[str, Any]], ClientFrame]] = {
    "message": lambda f: CustomerMessage(text=_message_text(f)),
    "rate": _rate,
    "reopen": lambda f: Reopen(),
    "confirm": lambda f: Confirm(),
    "notify_me": _notify_me,
    "history": lambda f: _history(f, ticket_required=False),
    "typing": lambda f: Typing(ticket_id=None),
    "read": lambda f: _read(f, ticket_required=False),
    "ping": lambda f: Ping(),
}

# The supervisors' live view only listens; its actions are REST calls (audit-logged there).
SUPERVISOR_FRAMES: dict[str, Callable[[dict[str, Any]], ClientFrame]] = {
    "ping": lambda f: Ping(),
}


# --- From text to a typed frame ------------------------------------------------------------


def parse_json_frame(text_data: str | None) -> dict[str, Any]:
    if text_data is None:
        raise DomainError("bad_frame", "Frames must be JSON text, not binary.")
    if len(text_data) > MAX_FRAME_CHARS:
        raise DomainError("frame_too_large", f"Frames are limited to {MAX_FRAME_CHARS} characters.")
    try:
        frame = json.loads(text_data)
    except (ValueError, RecursionError):
        # RecursionError: a few thousand nested brackets fit in one frame.
        raise DomainError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise DomainError("bad_frame", "A frame must be a JSON object with a type.")
    return frame


def parse_typed(frame: dict[str, Any], table: dict[str, Callable[[dict[str, Any]], ClientFrame]]) -> ClientFrame:
    """The typed value of a parsed frame, by its `type`; unknown types are refused."""
    frame_type = frame.get("type")
    parse = table.get(frame_type) if isinstance(frame_type, str) else None
    if parse is None:
        known = ", ".join(sorted(table))
        raise DomainError("unknown_type", f"Unknown frame type {type_name(frame)}; expected one of {known}.")
    return parse(frame)


def parse_agent_frame(frame: dict[str, Any]) -> ClientFrame:
    return parse_typed(frame, AGENT_FRAMES)


def parse_customer_frame(frame: dict[str, Any]) -> ClientFrame:
    return parse_typed(frame, CUSTOMER_FRAMES)


def echo_ref(value: object) -> str | int | None:
    """The ref to answer with: a short string or a safe integer, else null."""
    if isinstance(value, str) and len(value) <= REF_MAX_CHARS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -REF_MAX_INT <= value <= REF_MAX_INT:
        return value
    return None


_JSON_TYPES = {dict: "object", list: "array", bool: "boolean", int: "number", float: "number", type(None): "null"}


def type_name(frame: dict[str, Any]) -> str:
    """The frame's type for messages and logs, never longer than a line."""
    value = frame.get("type")
    if isinstance(value, str):
        return repr(value if len(value) <= TYPE_ECHO_MAX_CHARS else value[:TYPE_ECHO_MAX_CHARS] + "...")
    return f"(a JSON {_JSON_TYPES.get(type(value), 'value')})"
