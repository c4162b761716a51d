from django.db import migrations, models

from marketplace.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: the table stays writable meanwhile

    dependencies = [
        ('agents', '0012_quality_reviews'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='agentstatuschange',
            index=models.Index(fields=['at'], name='agent_status_change_at_idx'),
        ),
    ]
