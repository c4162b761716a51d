from datetime import timedelta

import factory
from django.conf import settings
from django.utils import timezone

from agents.models import AgentConnection, AgentLanguage, AgentProfile, AgentSkill
from marketplace.models import Brand, User
from marketplace.services import brand_api_key_create
from payouts.models import RateCard
from payouts.services.rates import rate_card_create
from tasks.models import Customer, Ticket

# Test brands' first rate card is in force since long before any test's offers.
CARD_FROM = timezone.now() - timedelta(days=365)

PASSWORD = "test-pass-123"
# The channel name of the socket an `available=True` agent holds.
TEST_CHANNEL = "test.agent.{}"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    role = User.Role.AGENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):
        if create:
            self.save()


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"brand{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    currency = "SEK"

    @factory.post_generation
    def rate(self, create, extracted, **kwargs):
        if create:
            if not RateCard.objects.filter(brand=self).exists():
                rate_card_create(brand_id=self.pk, lines={"": extracted or 4500}, effective_from=CARD_FROM)


def brand_with_key(**kwargs) -> tuple[Brand, str]:
    brand = BrandFactory(**kwargs)
    return brand, brand_api_key_create(brand=brand, label="test")


class AgentFactory(factory.django.DjangoModelFactory):
    """An agent certified for `brands`, speaking `languages`. Offline and unconnected unless
    `available=True`, which also counts one open socket (as a connected app would)."""

    class Meta:
        model = AgentProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Agent {n}")
    tier = AgentProfile.Tier.STANDARD
    capacity = factory.LazyFunction(lambda: settings.DEFAULT_CAPACITY)

    class Params:
        available = factory.Trait(status=AgentProfile.Status.AVAILABLE, connections=1)

    @factory.post_generation
    def _socket(self, create, extracted, **kwargs):
        """`connections=1` stands for one open socket: give it the row a real one has."""
        if create and self.connections:
            AgentConnection.objects.create(
                agent=self, channel_name=TEST_CHANNEL.format(self.pk), server="test", seen_at=timezone.now()
            )

    @factory.post_generation
    def brands(self, create, extracted, **kwargs):
        if create and extracted:
            self.brands.add(*extracted)

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        if create:
            for code in extracted if extracted is not None else ["en"]:
                AgentLanguage.objects.create(agent=self, code=code)

    @factory.post_generation
    def skills(self, create, extracted, **kwargs):
        if create:
            for code in extracted or []:
                AgentSkill.objects.create(agent=self, code=code)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    brand = factory.SubFactory(BrandFactory)
    external_id = factory.Sequence(lambda n: f"cust-{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    brand = factory.SubFactory(BrandFactory)
    customer = factory.LazyAttribute(lambda o: CustomerFactory(brand=o.brand))
    language = "en"
    subject = factory.Sequence(lambda n: f"Help with order {n}")
