"""One Resolution per ticket resolved before resolutions were recorded: its latest, with the
rating the ticket holds, so quality scores count the history. Older resolutions of a
reopened ticket were not kept and cannot be recovered."""

from django.db import migrations
from django.db.models import F


def forward(apps, schema_editor):
    Ticket = apps.get_model("tasks", "Ticket")
    Resolution = apps.get_model("tasks", "Resolution")
    rows = []
    resolved = Ticket.objects.filter(
        resolution_count__gt=0, agent__isnull=False, resolved_at__isnull=False, status__in=["resolved", "closed"]
    ).values("pk", "agent_id", "resolution_count", "resolved_at", "status", "closed_at", "rating", "rating_comment")
    for t in resolved.iterator(chunk_size=2000):
        closed = t["status"] == "closed"
        rows.append(
            Resolution(
                ticket_id=t["pk"],
                agent_id=t["agent_id"],
                number=t["resolution_count"],
                resolved_at=t["resolved_at"],
                outcome="confirmed" if closed else "pending",
                confirmed_by=("customer" if t["rating"] is not None else "window") if closed else "",
                outcome_at=t["closed_at"] if closed else None,
                rating=t["rating"],
                rating_comment=t["rating_comment"] or "",
                rated_at=t["closed_at"] if t["rating"] is not None else None,
                # History is not sampled for QA after the fact.
                qa_considered=True,
            )
        )
        if len(rows) >= 2000:
            Resolution.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    Resolution.objects.bulk_create(rows, ignore_conflicts=True)


def backward(apps, schema_editor):
    # The rows this migration made: the latest resolution of each ticket, already considered.
    Resolution = apps.get_model("tasks", "Resolution")
    Resolution.objects.filter(qa_considered=True, number=F("ticket__resolution_count")).delete()


class Migration(migrations.Migration):
    dependencies = [("tasks", "0007_resolutions")]

    operations = [migrations.RunPython(forward, backward)]
