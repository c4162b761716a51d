"""Rate cards become versions: the existing per-brand rates become the lines of each brand's
first card, in force since long before any case was paid."""

from datetime import UTC, datetime
from decimal import Decimal

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

FIRST_CARD_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def cards_from_rates(apps, schema_editor):
    RateCard = apps.get_model("payouts", "RateCard")
    RateLine = apps.get_model("payouts", "RateLine")
    for brand_id in RateLine.objects.values_list("brand_id", flat=True).distinct():
        card = RateCard.objects.create(brand_id=brand_id, effective_from=FIRST_CARD_FROM, note="First card")
        RateLine.objects.filter(brand_id=brand_id).update(card=card)


def rates_from_cards(apps, schema_editor):
    """Backwards: each line takes its card's brand again; only the newest card's lines can
    stay, since the old table held one rate per brand and category."""
    RateCard = apps.get_model("payouts", "RateCard")
    RateLine = apps.get_model("payouts", "RateLine")
    for card in RateCard.objects.order_by("brand_id", "-effective_from"):
        if RateLine.objects.filter(brand_id=card.brand_id).exists():
            RateLine.objects.filter(card=card).delete()
        else:
            RateLine.objects.filter(card=card).update(brand_id=card.brand_id)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0004_brand_dispatch_floor_and_surge"),
        ("payouts", "0003_ledger_from_earnings"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="ratecard", name="rate_unique_brand_category"),
        migrations.RenameModel(old_name="RateCard", new_name="RateLine"),
        migrations.AlterField(
            model_name="rateline",
            name="brand",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="marketplace.brand"
            ),
        ),
        migrations.CreateModel(
            name="RateCard",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("effective_from", models.DateTimeField(default=django.utils.timezone.now)),
                ("multiplier_probation", models.DecimalField(decimal_places=2, default=Decimal("1.00"), max_digits=4)),
                ("multiplier_standard", models.DecimalField(decimal_places=2, default=Decimal("1.00"), max_digits=4)),
                ("multiplier_expert", models.DecimalField(decimal_places=2, default=Decimal("1.00"), max_digits=4)),
                ("note", models.CharField(blank=True, help_text="Why this version exists", max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "brand",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="rate_cards", to="marketplace.brand"
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["brand", "-effective_from"], name="rate_card_in_force_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("brand", "effective_from"), name="rate_card_one_per_instant"),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("multiplier_expert__gt", 0), ("multiplier_probation__gt", 0), ("multiplier_standard__gt", 0)
                        ),
                        name="rate_card_multipliers_positive",
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="rateline",
            name="card",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="payouts.ratecard"
            ),
        ),
        migrations.RunPython(cards_from_rates, rates_from_cards),
        migrations.RemoveField(model_name="rateline", name="brand"),
        migrations.AlterField(
            model_name="rateline",
            name="card",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="payouts.ratecard"
            ),
        ),
        migrations.AddConstraint(
            model_name="rateline",
            constraint=models.UniqueConstraint(fields=("card", "category"), name="rate_line_unique_category"),
        ),
        migrations.AddConstraint(
            model_name="rateline",
            constraint=models.CheckConstraint(condition=models.Q(("amount_minor__gte", 0)), name="rate_line_not_negative"),
        ),
    ]
