"""`Idempotency-Key` for brand requests: the first response is stored in the same
transaction as the work it describes, and a retry gets it back instead of doing it again."""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import transaction

from .errors import DomainError
from .models import Brand, IdempotencyRecord


def request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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
            record, created = IdempotencyRecord.objects.get_or_create(
                brand=brand, key=key, defaults={"request_hash": request_hash(payload)}
            )
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
            record.save(update_fields=["response_status", "response_body"])
    return status, body
