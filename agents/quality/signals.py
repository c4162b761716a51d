"""The one way other apps tell quality that something it counts has changed."""

from typing import Any

from django.db import transaction


def quality_changed(*, agent_id: int, cause: str, ticket_id: int | None = None, detail: Any = None) -> None:
    """Recompute the agent's score and tier once the current transaction commits (a job:
    the customer's or supervisor's request does not wait for it, and a rolled-back rating
    moves nothing)."""
    from agents.jobs import quality_recompute

    transaction.on_commit(
        lambda: quality_recompute.delay(agent_id=agent_id, cause=cause, ticket_id=ticket_id, detail=detail or {})
    )
