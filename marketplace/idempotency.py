"""`Idempotency-Key` for brand requests: the first response is stored in the same
transaction as the work it describes, and a retry gets it back instead of doing it again."""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from .errors import DomainError
from .models import Brand, IdempotencyRecord
from .prepared import PreparedInsert, PreparedQuery, PreparedSave


def request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _record(_shape: None, *, brand_id: int, key: str) -> QuerySet[IdempotencyRecord]:
    return IdempotencyRecord.objects.filter(brand_id=brand_id, key=key)[:1]


# Every handover with a key reads it: compiled once (marketplace/prepared.py).
_stored = PreparedQuery(_record)
_insert_record = PreparedInsert(IdempotencyRecord)
_save_record = PreparedSave(IdempotencyRecord)


def _record_for(brand: Brand, key: str, digest: str) -> tuple[IdempotencyRecord, bool]:
    """get_or_create, with its statements made once: the brand's record under `key`, and
    whether this call created it. A concurrent request with the same key waits on the
    unique index; when it commits first, the INSERT writes nothing (ON CONFLICT DO NOTHING,
    no savepoint needed) and its record is read instead."""
    record = _stored.first(None, brand_id=brand.pk, key=key)
    if record is not None:
        return record, False
    created = _insert_record.if_new(IdempotencyRecord(brand=brand, key=key, request_hash=digest))
    if created is not None:
        return created, True
    return _stored.first(None, brand_id=brand.pk, key=key), False


def idempotent_response(
    *, brand: Brand, key: str | None, payload: dict[str, Any], respond: Callable[[], tuple[int, dict[str, Any]]]
) -> tuple[int, dict[str, Any] | None]:
    """Run `respond()` (which returns status and body) once per brand and key.

    The body is None only for a stored record that holds no response.

    The record row is created first: a concurrent retry with the same key waits on its
    unique index until this transaction ends, then finds the stored response. A retry with
    a different body is refused (`422 idempotency_key_reused`). Without a key, `respond`
    simply runs.
    """
    with transaction.atomic():
        record = None
        if key:
            record, created = _record_for(brand, key, request_hash(payload))
            if not created:
                if record.request_hash != request_hash(payload):
                    raise DomainError(
                        "idempotency_key_reused",
                        "This Idempotency-Key was used with a different request body.",
                        status=422,
                    )
                return record.response_status or 200, record.response_body
        status, body = respond()
        if record is not None:
            record.response_status = status
            record.response_body = body
            _save_record(record, ["response_status", "response_body"])
    return status, body
