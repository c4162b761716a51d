from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from schwifty import IBAN

from agents.models import AgentLanguage, AgentProfile, AgentSkill, AssessmentQuestion, Review
from agents.quality.services import quality_recompute, review_score
from marketplace.models import Brand, User
from marketplace.services import brand_demo_api_key_rotate
from payouts.models import Earning, PayoutMethod, RateCard, RateLine
from payouts.services import case_pay, earning_credit, earnings_release_due, payout_method_set
from tasks.models import Customer, Resolution, Shift, ShiftBooking, Ticket
from tasks.services import ShiftTerms, shift_book, shift_publish

DEMO_PASSWORD = "demo-pass-123"

AGENTS = [
    # (n, display name, languages, skills, tier)
    (1, "Alex", ["en", "sv"], ["billing", "cards"], AgentProfile.Tier.STANDARD),
    (2, "Bea", ["en"], ["billing"], AgentProfile.Tier.STANDARD),
    (3, "Chen", ["en", "de"], ["cards"], AgentProfile.Tier.EXPERT),
    (4, "Dana", ["sv", "en"], [], AgentProfile.Tier.STANDARD),
    (5, "Eli", ["en"], [], AgentProfile.Tier.PROBATION),
]

DEMO_CARD_FROM = datetime(2026, 1, 1, tzinfo=UTC)
# Alex's history: (subject, category, rating, how long ago it was resolved).
PAST_CASES = [
    ("Card declined abroad", "cards", 5, "Sorted in minutes, thank you!", timedelta(days=6)),
    ("Double charge on invoice", "billing", 4, "", timedelta(days=4)),
    ("Card not arrived", "cards", None, "", timedelta(hours=2)),
]
# QA: Alex's double charge reviewed and scored; Bea's 2-star case waits in the review queue.
ALEX_REVIEW = {"accuracy": 4, "empathy": 3, "policy": 4, "tone": 4}
ALEX_FEEDBACK = "Correct refund and a clear explanation. Say sorry for the double charge before you explain it."
BEA_CASE = ("Refund still missing", "billing", 2, "I had to explain everything twice.", timedelta(days=2))
RATES = {"": 4500, "billing": 5500, "cards": 6000}  # öre per resolved case

# A week of demo shifts from tomorrow, every day: (start, end, hourly floor, bonus per case)
# in Stockholm time and öre; English or Swedish, three places each.
SHIFT_ZONE = "Europe/Stockholm"
SHIFT_DAYS = 7
SHIFTS = [(time(9), time(13), 40000, None), (time(13), time(17), None, 1000)]
SHIFT_LANGUAGES = ["en", "sv"]
SHIFT_SLOTS = 3

# The demo brand's assessment: policy questions (the index of the right answer last) and
# customer messages to answer in writing.
QUESTIONS = [
    (
        "A customer asks for their full card number to be read back. What do you do?",
        ["Read it back slowly", "Never show or say it; confirm only the last four digits", "Send it by e-mail"],
        1,
    ),
    (
        "A customer reports a card payment they do not recognise. First step?",
        ["Tell them to wait a week", "Block the card in the app with them and start a dispute", "Close the account"],
        1,
    ),
    (
        "When may you mark a case resolved?",
        [
            "As soon as you have replied",
            "When the customer's problem is solved or handed to the right team",
            "After 10 minutes",
        ],
        1,
    ),
    (
        "A customer is abusive. What is the policy?",
        ["Reply in kind", "Stay calm, warn once, then end the chat and flag it", "Ignore them"],
        1,
    ),
]
WRITTEN = [
    (
        "My salary hasn't arrived and rent is due tomorrow. Your bot keeps sending me FAQ links!!",
        "Acknowledges the stress, apologises for the bot, explains what can be checked now and what happens next.",
    ),
    (
        "hi can i change the email on my account? i lost access to the old one",
        "Friendly, explains the identity check needed, never asks for passwords or full card numbers.",
    ),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo brand, supervisor and five agents. Safe to run again."

    def handle(self, *args, **options):
        with transaction.atomic():
            brand, _ = Brand.objects.update_or_create(slug="demo", defaults={"name": "Demo Bank", "currency": "SEK"})
            # One card in force since long ago; an expert earns a fifth more per case.
            card, _ = RateCard.objects.update_or_create(
                brand=brand,
                effective_from=DEMO_CARD_FROM,
                defaults={"multiplier_expert": Decimal("1.20"), "note": "Demo rates"},
            )
            for category, amount in RATES.items():
                RateLine.objects.update_or_create(card=card, category=category, defaults={"amount_minor": amount})

            # A supervisor works in the vetting pages only. The admin shows every brand's
            # data, so it is for platform staff; an earlier seed's grants are taken back.
            supervisor = self._user("supervisor@demo.test", User.Role.SUPERVISOR)
            supervisor.user_permissions.clear()
            supervisor.groups.clear()
            brand.supervisors.add(supervisor)

            for n, name, languages, skills, tier in AGENTS:
                user = self._user(f"agent{n}@demo.test", User.Role.AGENT)
                capacity = (
                    settings.PROBATION_CAPACITY if tier == AgentProfile.Tier.PROBATION else settings.DEFAULT_CAPACITY
                )
                profile, _ = AgentProfile.objects.update_or_create(
                    user=user, defaults={"display_name": name, "tier": tier, "capacity": capacity}
                )
                profile.brands.add(brand)
                for code in languages:
                    AgentLanguage.objects.get_or_create(agent=profile, code=code)
                for code in skills:
                    AgentSkill.objects.get_or_create(agent=profile, code=code)
                # A valid test IBAN each, so the demo can cash out and export a bank file.
                if not PayoutMethod.objects.filter(agent=profile, removed_at__isnull=True).exists():
                    payout_method_set(
                        agent_id=profile.pk,
                        kind=PayoutMethod.Kind.IBAN,
                        holder_name=name,
                        iban=IBAN.generate("SE", bank_code="500", account_code=f"{5491000000 + n:016d}").compact,
                    )

            for position, (prompt, options, correct) in enumerate(QUESTIONS):
                AssessmentQuestion.objects.update_or_create(
                    brand=brand,
                    prompt=prompt,
                    defaults={"kind": "choice", "options": options, "correct_option": correct, "position": position},
                )
            for position, (prompt, rubric) in enumerate(WRITTEN):
                AssessmentQuestion.objects.update_or_create(
                    brand=brand, prompt=prompt, defaults={"kind": "written", "rubric": rubric, "position": position}
                )

            alex = AgentProfile.objects.get(user__email="agent1@demo.test")
            self._pay_history(brand, alex)
            bea = AgentProfile.objects.get(user__email="agent2@demo.test")
            self._quality(brand, supervisor, alex, bea)
            self._shifts(brand, supervisor, alex)

            key = brand_demo_api_key_rotate(brand=brand)

        self.stdout.write(f"Brand: {brand.slug} ({brand.name}, {brand.currency})")
        self.stdout.write("Supervisor: supervisor@demo.test")
        self.stdout.write("Agents: " + ", ".join(f"agent{n}@demo.test" for n, *_ in AGENTS))
        if settings.DEMO_MODE:
            self.stdout.write(f"Password for all demo accounts: {DEMO_PASSWORD}")
        else:
            self.stdout.write("DEMO_MODE is off: demo accounts have no usable password (set one in /admin/).")
        self.stdout.write(f"API key: {key}")
        self.stdout.write("(a new key on every run; the previous demo key no longer works)")

    @staticmethod
    def _pay_history(brand: Brand, agent: AgentProfile) -> None:
        """Alex's last days, once: three resolved cases, two past their reopen window (so
        the demo can cash out at once) and one still on hold, each paid by the demo card."""
        if Earning.objects.filter(agent=agent).exists():
            return
        customer, _ = Customer.objects.get_or_create(brand=brand, external_id="demo-history", defaults={"name": "Maja"})
        now = timezone.now()
        for subject, category, rating, comment, ago in PAST_CASES:
            Command._past_case(brand, customer, agent, subject, category, rating, comment, now - ago)
        earnings_release_due(now=now)

    @staticmethod
    def _past_case(
        brand: Brand,
        customer: Customer,
        agent: AgentProfile,
        subject: str,
        category: str,
        rating: int | None,
        comment: str,
        resolved_at: datetime,
    ) -> Ticket:
        """A case the agent resolved at `resolved_at`, paid by the demo card, as the
        customer left it (confirmed by the window once it passed, rated or not)."""
        now = timezone.now()
        window_over = resolved_at + timedelta(hours=settings.REOPEN_WINDOW_HOURS) <= now
        pay = case_pay(brand_id=brand.pk, category=category, tier=agent.tier, at=resolved_at)
        ticket = Ticket.objects.create(
            brand=brand,
            customer=customer,
            language="en",
            subject=subject,
            category=category,
            status=Ticket.Status.CLOSED if window_over or rating else Ticket.Status.RESOLVED,
            agent=agent,
            assigned_at=resolved_at - timedelta(minutes=6),
            resolved_at=resolved_at,
            closed_at=resolved_at + timedelta(minutes=30) if window_over or rating else None,
            resolution_count=1,
            rating=rating,
            rating_comment=comment,
            pay_amount_minor=pay.amount_minor,
            pay_calculation=pay.calculation,
        )
        Resolution.objects.create(
            ticket=ticket,
            agent=agent,
            number=1,
            resolved_at=resolved_at,
            outcome=Resolution.Outcome.CONFIRMED if window_over or rating else Resolution.Outcome.PENDING,
            confirmed_by=(
                (Resolution.ConfirmedBy.CUSTOMER if rating else Resolution.ConfirmedBy.WINDOW)
                if window_over or rating
                else ""
            ),
            outcome_at=ticket.closed_at,
            rating=rating,
            rating_comment=comment,
            rated_at=ticket.closed_at if rating else None,
            qa_considered=True,
        )
        earning_credit(ticket=ticket, agent=agent, amount_minor=pay.amount_minor)
        return ticket

    @staticmethod
    def _quality(brand: Brand, supervisor: User, alex: AgentProfile, bea: AgentProfile) -> None:
        """Once: a scored QA review with feedback for Alex, a 2-star case of Bea's waiting in
        the supervisors' review queue, and every demo agent's score computed."""
        if not Review.objects.filter(brand=brand).exists():
            alex_case = Resolution.objects.get(ticket__brand=brand, agent=alex, ticket__subject=PAST_CASES[1][0])
            review = Review.objects.create(
                resolution=alex_case, ticket=alex_case.ticket, agent=alex, brand=brand, reason=Review.Reason.SAMPLE
            )
            review_score(user=supervisor, review_id=review.pk, scores=ALEX_REVIEW, feedback=ALEX_FEEDBACK)
            customer, _ = Customer.objects.get_or_create(
                brand=brand, external_id="demo-history-2", defaults={"name": "Olle"}
            )
            subject, category, rating, comment, ago = BEA_CASE
            ticket = Command._past_case(brand, customer, bea, subject, category, rating, comment, timezone.now() - ago)
            Review.objects.create(
                resolution=ticket.resolutions.get(),
                ticket=ticket,
                agent=bea,
                brand=brand,
                reason=Review.Reason.LOW_RATING,
            )
        for agent in AgentProfile.objects.filter(brands=brand):
            quality_recompute(agent_id=agent.pk)

    @staticmethod
    def _shifts(brand: Brand, supervisor: User, alex: AgentProfile) -> None:
        """The week from tomorrow: each demo shift not there yet is published (a second run
        the same day adds none), and Alex has one booked so "My shifts" is not empty."""
        zone = ZoneInfo(SHIFT_ZONE)
        tomorrow = timezone.now().astimezone(zone).date() + timedelta(days=1)
        for offset in range(SHIFT_DAYS):
            day = tomorrow + timedelta(days=offset)
            for start, end, floor, bonus in SHIFTS:
                starts = datetime.combine(day, start, zone)
                if Shift.objects.filter(brand=brand, starts_at=starts).exists():
                    continue
                shift_publish(
                    user=supervisor,
                    brand=brand,
                    terms=ShiftTerms(
                        starts_at=starts,
                        ends_at=datetime.combine(day, end, zone),
                        languages=SHIFT_LANGUAGES,
                        skills=[],
                        slots=SHIFT_SLOTS,
                        hourly_floor_minor=floor,
                        bonus_per_case_minor=bonus,
                    ),
                    time_zone=SHIFT_ZONE,
                )
        live = ShiftBooking.objects.filter(
            agent=alex, status=ShiftBooking.Status.BOOKED, shift__brand=brand, starts_at__gt=timezone.now()
        )
        if not live.exists():
            upcoming = Shift.objects.filter(
                brand=brand, status=Shift.Status.OPEN, starts_at__gte=datetime.combine(tomorrow, time(0), zone)
            )
            first = upcoming.order_by("starts_at", "pk").first()
            if first is not None and not first.is_full:
                shift_book(agent=alex, shift_id=first.pk)

    def _user(self, email: str, role: str) -> User:
        user, created = User.objects.get_or_create(email=email, defaults={"role": role})
        user.role = role
        user.is_staff = False
        user.is_superuser = False
        if settings.DEMO_MODE:
            user.set_password(DEMO_PASSWORD)
        elif created:
            user.set_unusable_password()
        user.save()
        self._verify_email(user)
        return user

    @staticmethod
    def _verify_email(user: User) -> None:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
