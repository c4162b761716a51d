"""The migration that made rate cards versions: each brand's flat rates become the lines of
its first card, in force since long before any case was paid; backwards, the newest card's
lines become the flat rates again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from .factories import BrandFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("payouts", "0003_ledger_from_earnings")]
AFTER = [("payouts", "0004_versioned_rate_cards")]


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_flat_rates_become_the_first_card_of_each_brand_and_come_back():
    acme, other = BrandFactory(slug="acme"), BrandFactory(slug="other")
    try:
        old = migrate(BEFORE)
        Rate = old.get_model("payouts", "RateCard")
        Rate.objects.all().delete()
        Rate.objects.create(brand_id=acme.pk, category="", amount_minor=4500)
        Rate.objects.create(brand_id=acme.pk, category="cards", amount_minor=6000)
        Rate.objects.create(brand_id=other.pk, category="", amount_minor=3000)

        new = migrate(AFTER)
        Card, Line = new.get_model("payouts", "RateCard"), new.get_model("payouts", "RateLine")
        cards = {c.brand_id: c for c in Card.objects.all()}
        assert set(cards) == {acme.pk, other.pk}
        assert cards[acme.pk].effective_from.year == 2000
        assert dict(Line.objects.filter(card=cards[acme.pk]).values_list("category", "amount_minor")) == {
            "": 4500,
            "cards": 6000,
        }
        assert str(cards[acme.pk].multiplier_expert) == "1.00"

        back = migrate(BEFORE)
        rows = back.get_model("payouts", "RateCard").objects.values_list("brand_id", "category", "amount_minor")
        assert sorted(rows) == sorted([(acme.pk, "", 4500), (acme.pk, "cards", 6000), (other.pk, "", 3000)])
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
