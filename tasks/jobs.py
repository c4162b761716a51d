"""Celery jobs of the ticket app. Periodic ones run on beat (CELERY_BEAT_SCHEDULE) and are
idempotent sweeps over the database, so a missed or doubled run does no harm."""

from celery import shared_task

from tasks import services


@shared_task
def tickets_close_after_window() -> int:
    """Close resolved tickets whose reopen window has passed; returns how many."""
    return services.tickets_close_after_window()
