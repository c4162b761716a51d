"""Indexes the analytics need on the busy tables, built without locking out writes."""

import django.db.models.functions.comparison
from django.db import migrations, models

from marketplace.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("tasks", "0009_analytics_rollups"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='message',
            index=models.Index(condition=models.Q(('sender', 'agent')), fields=['sent_at'], name='message_agent_sent_idx'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='offer',
            index=models.Index(fields=['created_at'], name='offer_created_idx'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='resolution',
            index=models.Index(fields=['resolved_at'], name='resolution_resolved_idx'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='ticket',
            index=models.Index(fields=['brand', 'created_at'], name='ticket_brand_created_idx'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='ticket',
            index=models.Index(django.db.models.functions.comparison.Greatest('created_at', 'assigned_at', 'resolved_at', 'queued_at', 'closed_at'), name='ticket_activity_idx'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status', 'assigned')), fields=['assigned_at'], name='ticket_assigned_idx'),
        ),
    ]
