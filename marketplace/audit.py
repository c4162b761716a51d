"""The audit log: one append-only row per consequential action by a person.

Call `audit_record` inside the same transaction as the change it records, so the change and
its record commit together (or neither does). Record what was done, not what was refused:
a refused action changed nothing.
"""

import ipaddress
from typing import Any

from django.db import models

from .adapters import client_ip
from .models import AuditEvent, Brand, User

# A target is a model row, or ("<app_label>.<model>", id) when only the id is at hand.
Target = models.Model | tuple[str, int | str] | None


def target_ref(target: Target) -> tuple[str, str]:
    """("<app_label>.<model>", "<pk>") for a row, as the log stores it; ("", "") for none."""
    if target is None:
        return "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk)
    kind, ident = target
    return kind, str(ident)


def _ip_of(request: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:  # no REMOTE_ADDR (a test client without one, a unix socket)
        return None


def audit_record(
    *,
    actor: User | None,
    action: str,
    brand: Brand | int | None = None,
    target: Target = None,
    detail: dict[str, Any] | None = None,
    request: Any = None,
) -> AuditEvent:
    """Write one audit row. `actor` is None for the system (a job). `detail` holds what the
    action was about (a filter, a note, amounts), JSON with dates and Decimals allowed. The
    client address comes from `request` by the same rule the rate limits use."""
    target_type, target_id = target_ref(target)
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        action=action,
        brand_id=brand.pk if isinstance(brand, Brand) else brand,
        target_type=target_type,
        target_id=target_id,
        detail=detail or {},
        ip=_ip_of(request) if request is not None else None,
    )
