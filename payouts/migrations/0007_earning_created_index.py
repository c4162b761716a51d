from django.db import migrations, models

from marketplace.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: the table stays writable meanwhile

    dependencies = [
        ('payouts', '0006_shift_earnings'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='earning',
            index=models.Index(fields=['created_at'], name='earning_created_idx'),
        ),
    ]
