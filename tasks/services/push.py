"""Offers to a phone whose app is closed or locked: one Web Push message per browser the
offered agent subscribed, sent by a Celery job after the offer committed."""

import json
import logging
from functools import lru_cache
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from agents.models import PushSubscription
from agents.services import push_subscription_record

from ..frames import iso, pay
from ..models import Offer, Ticket

log = logging.getLogger(__name__)

# The push services' limit is 4096 bytes of encrypted payload; a long subject is cut.
SUBJECT_CHARS = 140


@lru_cache(maxsize=2)
def _vapid(private_key: str) -> Any:
    return Vapid.from_string(private_key=private_key)


def offer_push_payload(offer: Offer, ticket: Ticket, *, expires_in: int) -> dict[str, Any]:
    """What the service worker needs to show the offer and answer it: no customer data
    beyond the subject the offer card shows too."""
    return {
        "type": "offer",
        "offer_id": offer.pk,
        "expires_at": iso(offer.expires_at),
        "expires_in": expires_in,
        "pay": pay(offer.pay_amount_minor, offer.currency),
        "ticket": {"id": ticket.pk, "subject": ticket.subject[:SUBJECT_CHARS], "language": ticket.language},
    }


def offer_push_send(*, offer_id: int) -> int:
    """Push a pending offer to every browser its agent subscribed; returns how many took it.

    The message lives only as long as the offer (TTL = seconds left) and asks to be
    delivered at once (Urgency: high); a later message about the same offer replaces it
    (Topic). A subscription the push service calls gone (404/410) is deleted; other
    failures are counted on the row. Nothing is retried: by then the offer has moved on.
    """
    offer = Offer.objects.select_related("ticket").filter(pk=offer_id, state=Offer.State.PENDING).first()
    if offer is None or not settings.WEB_PUSH_ENABLED:
        return 0
    expires_in = int((offer.expires_at - timezone.now()).total_seconds())
    if expires_in <= 0:
        return 0
    data = json.dumps(offer_push_payload(offer, offer.ticket, expires_in=expires_in), separators=(",", ":"))
    vapid = _vapid(settings.VAPID_PRIVATE_KEY)
    sent = 0
    for subscription in PushSubscription.objects.filter(agent_id=offer.agent_id):
        try:
            webpush(
                subscription_info={
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                data=data,
                vapid_private_key=vapid,
                # A new dict per call: webpush writes the endpoint's origin into it as `aud`.
                vapid_claims={"sub": settings.VAPID_SUBJECT},
                ttl=expires_in,
                headers={"Urgency": "high", "Topic": f"offer-{offer.pk}"},
                timeout=settings.WEB_PUSH_TIMEOUT_SECONDS,
            )
        except WebPushException as exc:
            code = exc.status_code
            gone = code in (404, 410)
            push_subscription_record(subscription_id=subscription.pk, ok=False, gone=gone)
            log.info(
                "push for offer %s to subscription %s refused (%s)%s",
                offer.pk,
                subscription.pk,
                code,
                ", deleted" if gone else "",
            )
        except requests.RequestException as exc:
            push_subscription_record(subscription_id=subscription.pk, ok=False)
            log.warning("push for offer %s to subscription %s failed: %s", offer.pk, subscription.pk, exc)
        else:
            push_subscription_record(subscription_id=subscription.pk, ok=True)
            sent += 1
    return sent
