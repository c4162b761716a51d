"""Hot-path statements written once as SQL, and the model instances built from their rows.

The ORM builds and compiles its SQL again for every call, and on the actions an agent or a
customer takes every few seconds that compilation was most of the servers' CPU (an accept
spent about 8 ms in it, against under 1 ms for the same statements as fixed SQL:
docs/performance.md). The statements here are built once, when first used, from the models'
own table and column names, run through Django's cursor (so they share the request's
transaction and count in the statement caps of tests/test_query_counts.py) and come back as
ordinary model instances, so the frames and everything after them are the same code as
before.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import ForeignKey, Model
from django.utils import timezone

from agents.models import AgentProfile
from marketplace.models import Brand

from .models import Attachment, Customer, Message, Offer, Ticket

Converter = Callable[[Any, Any, Any], Any]


@cache
def _layout(
    model: type[Model], alias: str
) -> tuple[str, tuple[str, ...], tuple[tuple[int, Any, tuple[Converter, ...]], ...]]:
    """`model`'s columns as `alias."column", ...`, its attribute names in the same order and,
    per column that needs them, its expression and the converters the ORM would apply to the
    raw value (a JSON column arrives as text, for one)."""
    fields = model._meta.concrete_fields
    select = ", ".join(f'{alias}."{field.column}"' for field in fields)
    converters = []
    for n, field in enumerate(fields):
        col = field.get_col(alias)
        found = tuple(connection.ops.get_db_converters(col)) + tuple(field.get_db_converters(connection))
        if found:
            converters.append((n, col, found))
    return select, tuple(f.attname for f in fields), tuple(converters)


def _build(model: type[Model], alias: str, values: Sequence[Any]) -> Any:
    _, names, converters = _layout(model, alias)
    values = list(values)
    for n, col, found in converters:
        for convert in found:
            values[n] = convert(values[n], col, connection)
    return model.from_db(connection.alias, list(names), values)


def _width(model: type[Model]) -> int:
    return len(model._meta.concrete_fields)


def _cache(instance: Model, field: str, value: Model | None) -> None:
    """What select_related would have done: `instance.<field>` needs no query."""
    relation = type(instance)._meta.get_field(field)
    assert isinstance(relation, ForeignKey)  # a OneToOneField is one too
    relation.set_cached_value(instance, value)


@cache
def _ticket_sql() -> str:
    return (
        f"SELECT {_layout(Ticket, 't')[0]}, {_layout(Customer, 'c')[0]}, {_layout(Brand, 'b')[0]} "
        f'FROM "{Ticket._meta.db_table}" t '
        f'JOIN "{Customer._meta.db_table}" c ON c."id" = t."customer_id" '
        f'JOIN "{Brand._meta.db_table}" b ON b."id" = t."brand_id" '
        f'WHERE t."id" = %s'
    )


def ticket_with_customer_and_brand(ticket_id: int) -> Ticket | None:
    """The ticket with its customer and brand loaded (one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(_ticket_sql(), [ticket_id])
        row = cursor.fetchone()
    if row is None:
        return None
    t, c = _width(Ticket), _width(Customer)
    ticket = _build(Ticket, "t", row[:t])
    _cache(ticket, "customer", _build(Customer, "c", row[t : t + c]))
    _cache(ticket, "brand", _build(Brand, "b", row[t + c :]))
    return ticket


@cache
def _messages_sql(paged: bool) -> str:
    before = ' AND m."id" < %s' if paged else ""
    return (
        f"SELECT {_layout(Message, 'm')[0]}, {_layout(Attachment, 'a')[0]} "
        f'FROM "{Message._meta.db_table}" m '
        f'LEFT JOIN "{Attachment._meta.db_table}" a ON a."id" = m."attachment_id" '
        f'WHERE m."ticket_id" = %s{before} ORDER BY m."id" DESC LIMIT %s'
    )


def newest_messages(ticket_id: int, limit: int, *, before: int | None = None) -> list[Message]:
    """A ticket's newest `limit` messages (older than message id `before`, when given),
    newest first, each with its attachment loaded. Served by the (ticket, id) index."""
    params = [ticket_id, limit] if before is None else [ticket_id, before, limit]
    with connection.cursor() as cursor:
        cursor.execute(_messages_sql(before is not None), params)
        rows = cursor.fetchall()
    m = _width(Message)
    messages = []
    for row in rows:
        message = _build(Message, "m", row[:m])
        _cache(message, "attachment", _build(Attachment, "a", row[m:]) if message.attachment_id is not None else None)
        messages.append(message)
    return messages


# --- The accept: three conditional updates in the lock order offer -> ticket -> agent ---------

_CLAIM = f"""
    UPDATE "{Offer._meta.db_table}" SET "state" = '{Offer.State.ACCEPTED}', "responded_at" = %(now)s
    WHERE "id" = %(offer)s AND "agent_id" = %(agent)s AND "state" = '{Offer.State.PENDING}'
        AND "expires_at" > %(deadline)s
    RETURNING "ticket_id"
"""
_OFFER_FIELD = f'(SELECT "{{0}}" FROM "{Offer._meta.db_table}" WHERE "id" = %(offer)s)'
_ASSIGN = f"""
    UPDATE "{Ticket._meta.db_table}" SET "status" = '{Ticket.Status.ASSIGNED}', "agent_id" = %(agent)s,
        "assigned_at" = %(now)s, "pay_amount_minor" = {_OFFER_FIELD.format("pay_amount_minor")},
        "pay_calculation" = {_OFFER_FIELD.format("pay_calculation")}, "queue_reason" = ''
    WHERE "id" = %(ticket)s AND "status" = '{Ticket.Status.OFFERED}'
    RETURNING "id"
"""
_AGENT_ASSIGNED = f"""
    UPDATE "{AgentProfile._meta.db_table}" SET "consecutive_timeouts" = 0, "last_assigned_at" = %(now)s
    WHERE "id" = %(agent)s
"""


def _at(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def offer_claim(*, offer_id: int, agent_id: int, now: datetime, deadline: datetime) -> int | None:
    """Mark the agent's offer accepted if it is still pending and its countdown had not run
    out at `deadline`: its ticket's id, or None when it matched nothing. However many
    accepts race, one sees the row."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, {"now": _at(now), "deadline": _at(deadline), "offer": offer_id, "agent": agent_id})
        row = cursor.fetchone()
    return None if row is None else row[0]


def ticket_assign(*, ticket_id: int, offer_id: int, agent_id: int, now: datetime) -> bool:
    """Give the offered ticket to the agent at the offer's pay; False if it is not offered."""
    params = {"now": _at(now), "offer": offer_id, "ticket": ticket_id, "agent": agent_id}
    with connection.cursor() as cursor:
        cursor.execute(_ASSIGN, params)
        return cursor.fetchone() is not None


def agent_assigned(*, agent_id: int, now: datetime) -> None:
    """An accept ends a run of missed offers and counts as the agent's latest assignment."""
    with connection.cursor() as cursor:
        cursor.execute(_AGENT_ASSIGNED, {"now": _at(now), "agent": agent_id})


# --- A chat message: lock the ticket, find a resent copy, store it -------------------------


@cache
def _locked_ticket_sql(by_agent: bool) -> str:
    sql = (
        f"SELECT {_layout(Ticket, 't')[0]}, {_layout(Brand, 'b')[0]} "
        f'FROM "{Ticket._meta.db_table}" t JOIN "{Brand._meta.db_table}" b ON b."id" = t."brand_id" '
        f'WHERE t."id" = %s'
    )
    if by_agent:
        sql += ' AND t."agent_id" = %s'
    # SQLite, the embedded default, has no row locks: it serialises writers instead.
    if connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF t"
    return sql


def ticket_locked(ticket_id: int, *, agent_id: int | None = None) -> Ticket | None:
    """The ticket with its brand, its row locked for the rest of the transaction (the brand's
    is not); with `agent_id`, only if that agent holds it."""
    params = [ticket_id] if agent_id is None else [ticket_id, agent_id]
    with connection.cursor() as cursor:
        cursor.execute(_locked_ticket_sql(agent_id is not None), params)
        row = cursor.fetchone()
    if row is None:
        return None
    t = _width(Ticket)
    ticket = _build(Ticket, "t", row[:t])
    _cache(ticket, "brand", _build(Brand, "b", row[t:]))
    return ticket


@cache
def _resent_sql(has_author: bool) -> str:
    author = '"author_id" = %s' if has_author else '"author_id" IS NULL'
    return (
        f'SELECT {_layout(Message, "m")[0]} FROM "{Message._meta.db_table}" m '
        f'WHERE m."ticket_id" = %s AND m."sender" = %s AND m.{author} AND m."client_ref" = %s '
        f'ORDER BY m."id" LIMIT 1'
    )


def message_with_ref(*, ticket: Ticket, sender: str, author_id: int | None, client_ref: str) -> Message | None:
    """The message this sender stored under `client_ref` in the ticket, if any."""
    params: list[int | str] = [ticket.pk, sender, client_ref]
    if author_id is not None:
        params.insert(2, author_id)
    with connection.cursor() as cursor:
        cursor.execute(_resent_sql(author_id is not None), params)
        row = cursor.fetchone()
    if row is None:
        return None
    message = _build(Message, "m", row)
    _cache(message, "ticket", ticket)
    return message


@cache
def _insert_message_sql() -> str:
    names = ", ".join(f'"{name}"' for name in ("ticket_id", "sender", "author_id", "text", "sent_at", "client_ref"))
    returning = ", ".join(f'"{field.column}"' for field in Message._meta.concrete_fields)
    return f'INSERT INTO "{Message._meta.db_table}" ({names}) VALUES (%s, %s, %s, %s, %s, %s) RETURNING {returning}'


def message_insert(*, ticket: Ticket, sender: str, author_id: int | None, text: str, client_ref: str) -> Message:
    """Store a message without a file, sent now."""
    params = [ticket.pk, sender, author_id, text, _at(timezone.now()), client_ref]
    with connection.cursor() as cursor:
        cursor.execute(_insert_message_sql(), params)
        row = cursor.fetchone()
    assert row is not None
    message = _build(Message, "m", row)
    _cache(message, "ticket", ticket)
    _cache(message, "attachment", None)
    return message
