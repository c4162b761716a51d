import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Greatest
from django.utils.translation import gettext_lazy as _

from .histogram import HistogramField


def new_customer_token() -> str:
    return secrets.token_urlsafe(24)


class Customer(models.Model):
    """A brand's end customer, known to us only by the brand's own id."""

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "external_id"], name="customer_unique_external_id")]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        OFFERED = "offered", _("Offered")
        ASSIGNED = "assigned", _("Assigned")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")

    class Priority(models.IntegerChoices):
        LOW = 0, "low"
        NORMAL = 1, "normal"
        HIGH = 2, "high"
        URGENT = 3, "urgent"

    WAITING = (Status.QUEUED, Status.OFFERED)

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.PROTECT, related_name="tickets")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets")
    customer_token = models.CharField(max_length=64, unique=True, default=new_customer_token)
    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=300)
    category = models.CharField(max_length=60, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    tags = models.JSONField(default=list, blank=True)
    transcript = models.JSONField(default=list, blank=True, help_text="What the AI assistant saw before handover")
    summary = models.TextField(blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    agent = models.ForeignKey(
        "agents.AgentProfile", null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    previous_agent = models.ForeignKey(
        "agents.AgentProfile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queue_reason = models.CharField(max_length=40, blank=True, help_text="Why the ticket is (back) in the queue")
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    pay_amount_minor = models.BigIntegerField(null=True, blank=True, help_text="Pay of the accepted offer")
    pay_calculation = models.JSONField(default=dict, blank=True, help_text="How the accepted offer's pay was reached")
    resolution_count = models.PositiveSmallIntegerField(default=0)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)
    # Widening (tasks.services.widening): 0 = matched as asked, 1 = skill tags ignored,
    # 2 = the brand's tier floor ignored too. The tags themselves stay as the brand sent them.
    widen_level = models.PositiveSmallIntegerField(default=0)
    widened_at = models.DateTimeField(null=True, blank=True)
    widen_alert_pending = models.BooleanField(default=False, help_text="Widened, supervisors not told yet")
    surge_bonus_minor = models.PositiveIntegerField(default=0, help_text="Added to the pay of every later offer")
    notify_email = models.EmailField(blank=True, help_text="Where the customer asked to be told that an agent answered")
    notify_email_sent_at = models.DateTimeField(null=True, blank=True)
    # Read marks: the newest message id each side has seen; they only move forward.
    agent_read_up_to = models.BigIntegerField(null=True, blank=True)
    customer_read_up_to = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            # The widening sweep's scan: only queued tickets that can still widen.
            models.Index(
                fields=["queued_at"],
                name="ticket_widen_due_idx",
                condition=Q(status="queued", widen_level__lt=2),
            ),
            models.Index(fields=["brand"], name="ticket_widen_alert_idx", condition=Q(widen_alert_pending=True)),
            models.Index(
                fields=["brand", "language", "-priority", "created_at"],
                name="ticket_queue_idx",
                condition=Q(status__in=["queued", "offered"]),
            ),
            models.Index(fields=["agent", "status"], name="ticket_agent_status_idx"),
            # Analytics (tasks.analytics): a brand's tickets by creation time, the tickets
            # anything happened to since a moment (the rollup job), and the open chats.
            models.Index(fields=["brand", "created_at"], name="ticket_brand_created_idx"),
            models.Index(
                Greatest("created_at", "assigned_at", "resolved_at", "queued_at", "closed_at"),
                name="ticket_activity_idx",
            ),
            models.Index(fields=["assigned_at"], name="ticket_assigned_idx", condition=Q(status="assigned")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_waiting(self) -> bool:
        return self.status in self.WAITING

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.OFFERED, self.Status.ASSIGNED)

    @property
    def priority_name(self) -> str:
        return self.Priority(self.priority).label


class Resolution(models.Model):
    """One time an agent marked a ticket resolved, and what the customer made of it.

    A reopened ticket is resolved again (by the same agent or another): each resolution is
    its own row, so a rating, a QA review and the pay reversal of a premature resolution
    belong to the agent who resolved that time. The ticket's `rating` mirrors its latest.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for the customer")
        CONFIRMED = "confirmed", _("Confirmed")
        REOPENED = "reopened", _("Reopened")

    class ConfirmedBy(models.TextChoices):
        NONE = "", _("Not yet")
        CUSTOMER = "customer", _("The customer")
        WINDOW = "window", _("No answer in the reopen window")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="resolutions")
    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.PROTECT, related_name="resolutions")
    number = models.PositiveSmallIntegerField(help_text="1 for the first resolution of the ticket, 2 after a reopen")
    resolved_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    confirmed_by = models.CharField(max_length=16, choices=ConfirmedBy.choices, blank=True, default="")
    outcome_at = models.DateTimeField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)
    # Whether the QA sampling job has decided about this resolution (agents.quality).
    qa_considered = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "number"], name="resolution_unique_number"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="resolution_rating_1_to_5"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "-resolved_at"], name="resolution_agent_idx"),
            models.Index(fields=["resolved_at"], name="resolution_qa_due_idx", condition=Q(qa_considered=False)),
            models.Index(fields=["resolved_at"], name="resolution_resolved_idx"),
        ]

    def __str__(self) -> str:
        return f"resolution {self.number} of ticket {self.ticket_id}"


class TicketEvent(models.Model):
    """What the platform did to find a ticket an agent: appended, never edited."""

    class Kind(models.TextChoices):
        WIDENED_SKILLS = "widened_skills", _("Widened Skills")
        WIDENED_TIERS = "widened_tiers", _("Widened Tiers")
        SURGE_ADDED = "surge_added", _("Surge Added")
        SUPERVISORS_ALERTED = "supervisors_alerted", _("Supervisors Alerted")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["ticket", "id"], name="ticket_event_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of ticket {self.ticket_id}"


class SupervisorAlert(models.Model):
    """One e-mail to a brand's supervisors about tickets nobody took in time. The newest
    row of a brand is the throttle: at most one per WIDEN_ALERT_MINUTES."""

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    ticket_ids = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["brand", "-created_at"], name="supervisor_alert_brand_idx")]

    def __str__(self) -> str:
        return f"alert to {self.brand_id} about {len(self.ticket_ids)} tickets"


class Message(models.Model):
    class Sender(models.TextChoices):
        AGENT = "agent"
        CUSTOMER = "customer"
        BOT = "bot"
        SYSTEM = "system"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    sender = models.CharField(max_length=10, choices=Sender.choices)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField(blank=True, help_text="Stored with card numbers and IBANs masked")
    sent_at = models.DateTimeField(auto_now_add=True)
    # The `ref` of the client frame that sent it: a resent frame finds its first copy here.
    client_ref = models.CharField(max_length=100, blank=True, default="")
    attachment = models.OneToOneField(
        "Attachment", null=True, blank=True, on_delete=models.PROTECT, related_name="message"
    )

    class Meta:
        indexes = [
            models.Index(fields=["ticket", "id"], name="message_ticket_idx"),
            # The analytics rollup job's "agent replies since": first replies move a ticket's figures.
            models.Index(fields=["sent_at"], name="message_agent_sent_idx", condition=Q(sender="agent")),
        ]
        constraints = [
            # One stored message per client ref and author; the customer has no author row,
            # so NULLs must compare equal here.
            models.UniqueConstraint(
                fields=["ticket", "sender", "author", "client_ref"],
                condition=~Q(client_ref=""),
                nulls_distinct=False,
                name="message_unique_client_ref",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.text[:40]}"


class Attachment(models.Model):
    """A file sent in a chat: stored through Django's storage API, served only through the
    authorized download views, never as a public media URL."""

    storage_name = models.CharField(max_length=255, unique=True)
    original_name = models.CharField(max_length=200, help_text="Stored with card numbers and IBANs masked")
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class Offer(models.Model):
    """A timed proposal of one ticket to one agent. At most one is pending per ticket."""

    class State(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        DECLINED = "declined"
        EXPIRED = "expired"
        RESCINDED = "rescinded"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="offers")
    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.CASCADE, related_name="offers")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    pay_amount_minor = models.BigIntegerField()
    # The rate card, base rate, tier multiplier and bonuses behind the amount (payouts.rates).
    pay_calculation = models.JSONField(default=dict, blank=True)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(state="pending"), name="offer_one_pending_per_ticket"
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="offer_pending_expiry_idx", condition=Q(state="pending")),
            models.Index(fields=["ticket", "agent"], name="offer_ticket_agent_idx"),
            models.Index(fields=["created_at"], name="offer_created_idx"),
        ]

    def __str__(self) -> str:
        return f"offer {self.pk} of ticket {self.ticket_id} to agent {self.agent_id} ({self.state})"


# --- Shifts ---------------------------------------------------------------------------------------


class Shift(models.Model):
    """A block of time a brand wants covered: published by a supervisor, booked by agents.

    `booked` counts the live bookings and is changed only with the shift row locked, in the
    same transaction as the booking; the check constraint makes the database itself refuse
    more bookings than slots, whatever the code above it does.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CANCELLED = "cancelled", _("Cancelled")

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.PROTECT, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    languages = models.JSONField(default=list, help_text="Language codes an agent must speak (any of them)")
    skills = models.JSONField(default=list, blank=True, help_text="Skill codes an agent must have (all of them)")
    slots = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField(default=0)
    hourly_floor_minor = models.BigIntegerField(null=True, blank=True, help_text="Pay floor per available hour")
    bonus_per_case_minor = models.BigIntegerField(null=True, blank=True, help_text="Added to each case's pay")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # Shifts published together as a weekly pattern share it.
    series = models.UUIDField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True, help_text="Floors paid after its end")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"),
            models.CheckConstraint(condition=Q(slots__gt=0), name="shift_has_slots"),
            models.CheckConstraint(condition=Q(booked__lte=models.F("slots")), name="shift_never_overbooked"),
            models.CheckConstraint(
                condition=Q(hourly_floor_minor__isnull=True) | Q(hourly_floor_minor__gte=0),
                name="shift_floor_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(bonus_per_case_minor__isnull=True) | Q(bonus_per_case_minor__gte=0),
                name="shift_bonus_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "starts_at"], name="shift_brand_start_idx"),
            models.Index(fields=["ends_at"], name="shift_unsettled_idx", condition=Q(settled_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id} shift {self.starts_at:%Y-%m-%d %H:%M}-{self.ends_at:%H:%M}"

    @property
    def is_full(self) -> bool:
        return self.booked >= self.slots


class ShiftBooking(models.Model):
    """One agent's place on one shift. The shift's period is copied here so PostgreSQL can
    refuse two overlapping live bookings of one agent: an exclusion constraint
    (`booking_no_overlap`, installed by migration tasks.0006 on PostgreSQL only, since SQLite
    has none) backs the service's own check under the agent's row lock."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="bookings")
    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.PROTECT, related_name="shift_bookings")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False, help_text="Cancelled inside the cutoff")
    checked_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "agent"], condition=Q(status="booked"), name="booking_once_per_shift"
            ),
        ]
        indexes = [models.Index(fields=["agent", "starts_at"], name="booking_agent_start_idx")]

    def __str__(self) -> str:
        return f"booking {self.pk} of agent {self.agent_id} on shift {self.shift_id} ({self.status})"


# --- Analytics rollups (tasks.analytics_rollups) --------------------------------------------------
# Sums per hour that the supervisors' analytics page adds up instead of reading a million
# source rows. Derived data only: rebuilt from the source rows at any time
# (`manage.py analytics_rebuild`), kept current by the `analytics_rollup` job. A brand's row is
# one UTC hour of one brand for one language and agent tier; "*" in `language` or `tier` is the
# row that counts every language or tier (grouping sets), so a page filtered on neither, one
# or both reads one row per brand and hour. `tier` "" is a ticket no agent has worked. An
# agent's row is one UTC hour of one agent's work for one brand in one language.

ROLLUP_ALL = "*"
# Their brand and agent keys are plain indexed columns without a database constraint: the
# rows are derived, millions of them are rewritten by a rebuild, and checking each one's
# keys at commit took longer than computing it. Django still deletes them with the brand
# or agent.


class TicketFigures(models.Model):
    """Tickets by the hour they were created (volume, times, resolution rate), resolutions by
    the hour they were resolved (CSAT, reopen rate) and offers by the hour they were made
    (declined, timed out). Each duration has a count, a sum and min/max in seconds, and a
    packed histogram (tasks.histogram) for its percentiles."""

    DURATIONS = ("offer", "assign", "reply", "handle", "resolve")

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    hour = models.DateTimeField(help_text="Start of the UTC hour")
    language = models.CharField(max_length=8)
    tickets = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0, help_text="Of those tickets, resolved or closed now")
    offer_count = models.PositiveIntegerField(default=0)
    offer_sum = models.FloatField(default=0)
    offer_min = models.FloatField(null=True)
    offer_max = models.FloatField(null=True)
    offer_hist = HistogramField()
    assign_count = models.PositiveIntegerField(default=0)
    assign_sum = models.FloatField(default=0)
    assign_min = models.FloatField(null=True)
    assign_max = models.FloatField(null=True)
    assign_hist = HistogramField()
    reply_count = models.PositiveIntegerField(default=0)
    reply_sum = models.FloatField(default=0)
    reply_min = models.FloatField(null=True)
    reply_max = models.FloatField(null=True)
    reply_hist = HistogramField()
    handle_count = models.PositiveIntegerField(default=0)
    handle_sum = models.FloatField(default=0)
    handle_min = models.FloatField(null=True)
    handle_max = models.FloatField(null=True)
    handle_hist = HistogramField()
    resolve_count = models.PositiveIntegerField(default=0)
    resolve_sum = models.FloatField(default=0)
    resolve_min = models.FloatField(null=True)
    resolve_max = models.FloatField(null=True)
    resolve_hist = HistogramField()
    resolutions = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    rated = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    rating_high = models.PositiveIntegerField(default=0, help_text="Ratings of 4 or 5")
    offers = models.PositiveIntegerField(default=0)
    offers_declined = models.PositiveIntegerField(default=0)
    offers_expired = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class TicketHourlyRollup(TicketFigures):
    """A brand's ticket figures of one hour, language and tier."""

    tier = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "hour", "language", "tier"], name="ticket_rollup_unique"),
        ]
        # The page's read: one language/tier row per brand over a range of hours.
        indexes = [models.Index(fields=["language", "tier", "brand", "hour"], name="ticket_rollup_read_idx")]

    def __str__(self) -> str:
        return f"{self.brand_id} {self.hour:%Y-%m-%d %H}h {self.language}/{self.tier}"


class AgentTicketHourlyRollup(TicketFigures):
    """One agent's ticket figures of one hour, brand and language: the page filtered to one
    agent reads a thousand of these for three months instead of their source rows."""

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "brand", "hour", "language"], name="agent_ticket_rollup_unique"),
        ]
        # The job replaces a brand's hours.
        indexes = [models.Index(fields=["brand", "hour"], name="agent_ticket_rollup_hour_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.brand_id} {self.hour:%Y-%m-%d %H}h {self.language}"


class EarningFigures(models.Model):
    """Agent pay by the hour it was earned, per currency: case pay, reversals and shift floor
    top-ups, and how many cases were paid. A floor top-up belongs to no ticket and so to no
    language (`language` "")."""

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    hour = models.DateTimeField()
    language = models.CharField(max_length=8)
    currency = models.CharField(max_length=3)
    case_minor = models.BigIntegerField(default=0)
    reversal_minor = models.BigIntegerField(default=0)
    floor_minor = models.BigIntegerField(default=0)
    cases = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class EarningHourlyRollup(EarningFigures):
    """A brand's pay of one hour, language, tier and currency."""

    tier = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "hour", "language", "tier", "currency"], name="earning_rollup_unique"
            ),
        ]
        indexes = [models.Index(fields=["language", "tier", "brand", "hour"], name="earning_rollup_read_idx")]

    def __str__(self) -> str:
        return f"{self.brand_id} {self.hour:%Y-%m-%d %H}h {self.currency}"


class AgentEarningHourlyRollup(EarningFigures):
    """One agent's pay of one hour, brand, language and currency."""

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "brand", "hour", "language", "currency"], name="agent_earning_rollup_unique"
            ),
        ]
        indexes = [models.Index(fields=["brand", "hour"], name="agent_earning_rollup_hour_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.brand_id} {self.hour:%Y-%m-%d %H}h {self.currency}"


class AgentHourlyRollup(models.Model):
    """One agent's hour: seconds online (available or away), staffed (available, or away
    with a chat) and busy (online with at least one chat). Occupancy is busy / staffed."""

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    hour = models.DateTimeField()
    online_seconds = models.FloatField(default=0)
    staffed_seconds = models.FloatField(default=0)
    busy_seconds = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "hour"], name="agent_rollup_unique")]
        indexes = [models.Index(fields=["hour"], name="agent_rollup_hour_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.hour:%Y-%m-%d %H}h"


class AgentTimeHourlyRollup(models.Model):
    """AgentHourlyRollup added up by the agents' brands, languages and tier as they are now.
    An agent counts once in the row of each brand they are certified for and once in the
    all-brands row (`brand` empty), so several brands together are never double counted."""

    brand = models.ForeignKey(
        "marketplace.Brand", null=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    hour = models.DateTimeField()
    language = models.CharField(max_length=8)
    tier = models.CharField(max_length=16)
    online_seconds = models.FloatField(default=0)
    staffed_seconds = models.FloatField(default=0)
    busy_seconds = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "hour", "language", "tier"], nulls_distinct=False, name="agent_time_rollup_unique"
            ),
        ]
        indexes = [models.Index(fields=["language", "tier", "brand", "hour"], name="agent_time_rollup_read_idx")]

    def __str__(self) -> str:
        return f"{self.brand_id or 'all'} {self.hour:%Y-%m-%d %H}h {self.language}/{self.tier}"


class AnalyticsRollupState(models.Model):
    """Where the rollup job got to: the database clock when its last run started, and the
    agents' tier, brands and languages then (a change re-files their past hours)."""

    name = models.CharField(max_length=40, primary_key=True)
    ran_at = models.DateTimeField(null=True, blank=True)
    agents = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.ran_at}"


# --- Supervision (the live view's actions) --------------------------------------------------------


class SupervisorNote(models.Model):
    """A short note a supervisor sent an agent from the live view: pushed to the agent's
    socket at once, and repeated in their snapshot for an hour so a reconnect still shows it."""

    agent = models.ForeignKey("agents.AgentProfile", on_delete=models.CASCADE, related_name="supervisor_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "-created_at"], name="supervisor_note_agent_idx")]

    def __str__(self) -> str:
        return f"note {self.pk} to agent {self.agent_id}"


class IntakePause(models.Model):
    """A brand's intake paused by a supervisor: new conversations (all languages when
    `language` is blank, else that one) are refused until someone resumes it. The open
    pause of a brand and language is the one without `resumed_at`; there is at most one."""

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.PROTECT, related_name="intake_pauses")
    language = models.CharField(max_length=8, blank=True, help_text="Blank: every language of the brand")
    reason = models.CharField(max_length=300)
    paused_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "language"], condition=Q(resumed_at__isnull=True), name="intake_pause_one_open"
            ),
        ]

    def __str__(self) -> str:
        scope = self.language or "all languages"
        return f"{self.brand_id} intake paused ({scope})"

    @property
    def is_open(self) -> bool:
        return self.resumed_at is None
