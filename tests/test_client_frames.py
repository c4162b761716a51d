"""Client frames become typed values at the socket boundary; every shape the contract does
not allow is refused with a clear code before any service runs."""

import pytest

from marketplace.errors import DomainError
from tasks.client_frames import (
    AgentMessage,
    CustomerMessage,
    History,
    OfferAccept,
    OfferDecline,
    Ping,
    Presence,
    Rate,
    Reopen,
    TicketResolve,
    parse_agent_frame,
    parse_customer_frame,
    parse_json_frame,
)

GOOD_AGENT = [
    ({"type": "presence", "status": "away"}, Presence(status="away")),
    ({"type": "offer.accept", "offer_id": 7}, OfferAccept(offer_id=7)),
    ({"type": "offer.decline", "offer_id": 7}, OfferDecline(offer_id=7, reason="")),
    ({"type": "offer.decline", "offer_id": 7, "reason": " busy "}, OfferDecline(offer_id=7, reason="busy")),
    ({"type": "message", "ticket_id": 3, "text": " hi "}, AgentMessage(ticket_id=3, text="hi")),
    ({"type": "ticket.resolve", "ticket_id": 3}, TicketResolve(ticket_id=3)),
    ({"type": "history", "ticket_id": 3, "before": 90, "limit": 10}, History(ticket_id=3, before=90, limit=10)),
    ({"type": "ping", "ref": "x"}, Ping()),
]

GOOD_CUSTOMER = [
    ({"type": "message", "text": "hello"}, CustomerMessage(text="hello")),
    ({"type": "rate", "score": 5}, Rate(score=5, comment="")),
    ({"type": "rate", "score": 1, "comment": "slow"}, Rate(score=1, comment="slow")),
    ({"type": "reopen"}, Reopen()),
    ({"type": "history"}, History(ticket_id=None, before=None, limit=50)),
]


@pytest.mark.parametrize(("frame", "expected"), GOOD_AGENT)
def test_agent_frames_parse_into_typed_values(frame, expected):
    assert parse_agent_frame(frame) == expected


@pytest.mark.parametrize(("frame", "expected"), GOOD_CUSTOMER)
def test_customer_frames_parse_into_typed_values(frame, expected):
    assert parse_customer_frame(frame) == expected


BAD_AGENT = [
    ({"type": "presence"}, "invalid_status"),
    ({"type": "presence", "status": "asleep"}, "invalid_status"),
    ({"type": "presence", "status": ["away"]}, "invalid_status"),
    ({"type": "offer.accept"}, "invalid_offer_id"),
    ({"type": "offer.accept", "offer_id": "7"}, "invalid_offer_id"),
    ({"type": "offer.accept", "offer_id": True}, "invalid_offer_id"),
    ({"type": "offer.accept", "offer_id": 0}, "invalid_offer_id"),
    ({"type": "offer.accept", "offer_id": 2**63}, "invalid_offer_id"),
    ({"type": "offer.accept", "offer_id": 1.5}, "invalid_offer_id"),
    ({"type": "offer.decline", "offer_id": 7, "reason": 5}, "invalid_reason"),
    ({"type": "offer.decline", "offer_id": 7, "reason": "x" * 201}, "invalid_reason"),
    ({"type": "offer.decline", "offer_id": 7, "reason": "a\x00b"}, "invalid_reason"),
    ({"type": "message", "ticket_id": 3}, "invalid_text"),
    ({"type": "message", "ticket_id": 3, "text": "   "}, "invalid_text"),
    ({"type": "message", "ticket_id": 3, "text": {"a": 1}}, "invalid_text"),
    ({"type": "message", "ticket_id": 3, "text": "a\ud800b"}, "invalid_text"),
    ({"type": "message", "ticket_id": 3, "text": "x" * 4001}, "text_too_long"),
    ({"type": "message", "text": "hi"}, "invalid_ticket_id"),
    ({"type": "ticket.resolve", "ticket_id": -1}, "invalid_ticket_id"),
    ({"type": "history"}, "invalid_ticket_id"),
    ({"type": "history", "ticket_id": 3, "limit": 0}, "invalid_limit"),
    ({"type": "history", "ticket_id": 3, "limit": 101}, "invalid_limit"),
    ({"type": "history", "ticket_id": 3, "before": "9"}, "invalid_before"),
    ({"type": "rate", "score": 5}, "unknown_type"),
    ({"type": ["presence"]}, "unknown_type"),
    ({}, "unknown_type"),
]

BAD_CUSTOMER = [
    ({"type": "message"}, "invalid_text"),
    ({"type": "message", "text": ""}, "invalid_text"),
    ({"type": "rate"}, "invalid_score"),
    ({"type": "rate", "score": 6}, "invalid_score"),
    ({"type": "rate", "score": "5"}, "invalid_score"),
    ({"type": "rate", "score": True}, "invalid_score"),
    ({"type": "rate", "score": 4, "comment": 3}, "invalid_comment"),
    ({"type": "rate", "score": 4, "comment": "ok\x00"}, "invalid_text"),
    ({"type": "rate", "score": 4, "comment": "x" * 4001}, "text_too_long"),
    ({"type": "history", "before": 0}, "invalid_before"),
    ({"type": "offer.accept", "offer_id": 1}, "unknown_type"),
    ({"type": None}, "unknown_type"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_AGENT)
def test_bad_agent_frames_are_refused_with_their_code(frame, code):
    with pytest.raises(DomainError) as refused:
        parse_agent_frame(frame)
    assert refused.value.code == code


@pytest.mark.parametrize(("frame", "code"), BAD_CUSTOMER)
def test_bad_customer_frames_are_refused_with_their_code(frame, code):
    with pytest.raises(DomainError) as refused:
        parse_customer_frame(frame)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (None, "bad_frame"),
        ("{", "bad_json"),
        ("[" * 50_000, "frame_too_large"),
        ("[1]", "bad_frame"),
        ("[" * 4000 + "]" * 4000, "bad_json"),
        ('"x"', "bad_frame"),
    ],
)
def test_text_that_is_not_a_json_object_is_refused(text, code):
    with pytest.raises(DomainError) as refused:
        parse_json_frame(text)
    assert refused.value.code == code
