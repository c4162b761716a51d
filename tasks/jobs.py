"""Celery jobs of the ticket app. Periodic ones run on beat (CELERY_BEAT_SCHEDULE) and are
idempotent sweeps over the database, so a missed or doubled run does no harm."""

from celery import shared_task

from tasks import services


@shared_task
def tickets_close_after_window() -> int:
    """Close resolved tickets whose reopen window has passed; returns how many."""
    return services.tickets_close_after_window()


@shared_task
def offer_push_send(offer_id: int) -> int:
    """Web Push a pending offer to its agent's browsers; returns how many accepted it.
    Not retried: an offer lives seconds, and a late push would show a dead offer."""
    return services.offer_push_send(offer_id=offer_id)
