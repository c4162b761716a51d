import hashlib
import secrets
from decimal import Decimal
from typing import Any, ClassVar

import pgtrigger
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from knox.models import AbstractAuthToken


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", User.Role.STAFF)
        return self._create_user(email, password, **extra)


# knox ships no types, so the plugin finds the `user` key ApiToken inherits from it but not
# the reverse manager that key adds here.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    """Everyone who logs in. The e-mail address is the login name."""

    class Role(models.TextChoices):
        APPLICANT = "applicant"
        AGENT = "agent"
        SUPERVISOR = "supervisor"
        STAFF = "staff"

    # Django's documented way to drop an inherited field; the stubs only know it as a string.
    username = None  # type: ignore[assignment]
    email = models.EmailField(unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.APPLICANT)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    # The stubs expect the manager of django.contrib.auth's User (which needs a username);
    # a custom user model brings its own BaseUserManager, as Django documents.
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def is_platform_staff(self) -> bool:
        """Platform staff: staff status and the staff role, or a superuser. Staff status alone
        is not enough (someone may tick it on a supervisor by mistake)."""
        return self.is_active and self.is_staff and (self.role == self.Role.STAFF or self.is_superuser)


class Brand(models.Model):
    class DispatchTier(models.TextChoices):
        # The values of agents.AgentProfile.Tier, lowest first; the core cannot import agents.
        ANY = "", "Any tier"
        PROBATION = "probation"
        STANDARD = "standard"
        EXPERT = "expert"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="SEK", help_text="ISO 4217 code for pay")
    offer_timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Offer countdown; empty uses the platform default"
    )
    supervisors = models.ManyToManyField(User, blank=True, related_name="supervised_brands")
    dispatch_min_tier = models.CharField(
        max_length=16,
        choices=DispatchTier.choices,
        blank=True,
        default=DispatchTier.ANY,
        help_text="Lowest agent tier offered this brand's tickets; dropped for a ticket nobody took in time",
    )
    surge_bonus_minor = models.PositiveIntegerField(
        default=0, help_text="Bonus (minor units) added once to a ticket nobody took in time; 0 = no surge"
    )
    # Cash-out terms for agents paid in this brand's currency; empty uses the platform default
    # (CASHOUT_FEE, CASHOUT_MINIMUM).
    cashout_fee_minor = models.PositiveIntegerField(
        null=True, blank=True, help_text="Fee (minor units) kept from an on-demand cash-out; empty = platform default"
    )
    cashout_minimum_minor = models.PositiveIntegerField(
        null=True, blank=True, help_text="Smallest on-demand cash-out (minor units); empty = platform default"
    )
    # Paid to each booked agent when a supervisor cancels a shift inside
    # SHIFT_CANCEL_CUTOFF_HOURS of its start; empty: no compensation.
    shift_cancel_compensation_minor = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Paid (minor units) to each booked agent of a shift cancelled at short notice; empty = none",
    )
    assessment_minutes = models.PositiveSmallIntegerField(default=20, help_text="Time allowed for the assessment")
    assessment_pass_percent = models.PositiveSmallIntegerField(default=70, help_text="Pass mark of the assessment")
    # The staffing plan's service target (tasks.staffing): this share of contacts answered
    # within this many seconds. Below 1: Erlang C never answers every contact in time.
    staffing_target_seconds = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(86_400)], help_text="Staffing plan: answer within this many seconds"
    )
    staffing_target_share = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.80"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("0.99"))],
        help_text="Staffing plan: the share of contacts answered in time, 0.01-0.99 (0.80 = 80%)",
    )
    # Quality (agents.quality): the QA scorecard's weights, how much of each agent's work is
    # sampled for review, the tier thresholds and the floor below which a human looks.
    qa_weight_accuracy = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(10)])
    qa_weight_empathy = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(10)])
    qa_weight_policy = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(10)])
    qa_weight_tone = models.PositiveSmallIntegerField(default=1, validators=[MaxValueValidator(10)])
    qa_sample_probation_percent = models.PositiveSmallIntegerField(
        default=20, validators=[MaxValueValidator(100)], help_text="Share of a probation agent's cases reviewed"
    )
    qa_sample_percent = models.PositiveSmallIntegerField(
        default=5, validators=[MaxValueValidator(100)], help_text="Share of other agents' cases reviewed"
    )
    tier_standard_min_cases = models.PositiveIntegerField(default=30, help_text="Standard tier: resolved cases")
    tier_standard_min_score = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("4.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("5"))],
        help_text="Standard tier: quality score (1-5)",
    )
    tier_expert_min_cases = models.PositiveIntegerField(default=200, help_text="Expert tier: resolved cases")
    tier_expert_min_score = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("4.50"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("5"))],
        help_text="Expert tier: quality score (1-5)",
    )
    tier_expert_min_reviews = models.PositiveIntegerField(default=5, help_text="Expert tier: scored QA reviews")
    quality_floor_score = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("3.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("5"))],
        help_text="Reviews averaging below this (1-5) open a case for a supervisor",
    )
    quality_floor_reviews = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="over this many latest reviews"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(staffing_target_share__gt=0, staffing_target_share__lt=1),
                name="brand_staffing_share_below_one",
            ),
            # A scorecard needs something to weigh.
            models.CheckConstraint(
                condition=models.Q(qa_weight_accuracy__gt=0)
                | models.Q(qa_weight_empathy__gt=0)
                | models.Q(qa_weight_policy__gt=0)
                | models.Q(qa_weight_tone__gt=0),
                name="brand_qa_weights_not_all_zero",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def qa_weights(self) -> dict[str, int]:
        return {
            "accuracy": self.qa_weight_accuracy,
            "empathy": self.qa_weight_empathy,
            "policy": self.qa_weight_policy,
            "tone": self.qa_weight_tone,
        }


def hash_api_key(raw: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(raw.encode()).hexdigest()


class BrandApiKey(models.Model):
    """A brand system's credential. Only the hash is stored; the key is shown once."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.brand.slug}:{self.prefix}…"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (raw key, prefix, hash)."""
        prefix = secrets.token_hex(4)
        raw = f"mk_{prefix}_{secrets.token_urlsafe(32)}"
        return raw, prefix, hash_api_key(raw)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """First response to a brand request carrying an Idempotency-Key, replayed on retries."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "key"], name="idempotency_unique_brand_key")]

    def __str__(self) -> str:
        return f"{self.brand_id}:{self.key}"


class ApiToken(AbstractAuthToken):
    """A login token for the REST API and websockets. knox keeps only its hash and expiry.

    `password_fingerprint` is the user's session hash (an HMAC of the password hash) when
    the token was issued: a password change by any path makes it differ, so the token stops
    working without anyone having to remember to revoke it.
    """

    password_fingerprint = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"{self.user} (until {self.expiry:%Y-%m-%d %H:%M})" if self.expiry else str(self.user)


class AuditEvent(models.Model):
    """Who did what, when, from where: one row per consequential action by a person
    (a supervisor approving pay, exporting a bank file or accounting data). Append-only:
    the database refuses UPDATE and DELETE, so the log stays what it was when written.

    The actor and brand are protected foreign keys for the same reason: deleting a user or
    a brand would have to rewrite the rows that name them. Deactivate a user instead.
    """

    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # A dotted name, "<area>.<verb>", e.g. "payouts.batch_approve": stable, for filtering.
    action = models.CharField(max_length=64)
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # What was acted on, as "<app_label>.<model>" and its primary key: plain values, so any
    # model (of any app, above the core or not) can be named without a foreign key.
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        triggers = [pgtrigger.Protect(name="audit_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]
        indexes = [
            models.Index(fields=["-created_at"], name="audit_event_recent_idx"),
            models.Index(fields=["brand", "-created_at"], name="audit_event_brand_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} by {self.actor_id or 'system'}"
