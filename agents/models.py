from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField


class AgentProfileQuerySet(models.QuerySet["AgentProfile"]):
    """The one definition of which agents count for dispatch and for wait estimates.
    Shifts and quality extend these, nowhere else."""

    def online(self) -> "AgentProfileQuerySet":
        """Connected, not suspended, and not offline: an agent the queue can count on."""
        return self.filter(suspended=False, connections__gt=0).exclude(status=AgentProfile.Status.OFFLINE)

    def can_take_work(self) -> "AgentProfileQuerySet":
        """Available, connected, not suspended, below capacity: may be offered a ticket now."""
        return self.filter(
            status=AgentProfile.Status.AVAILABLE,
            suspended=False,
            connections__gt=0,
            load__lt=models.F("capacity"),
        )


class AgentProfile(models.Model):
    """An approved agent: what they can take, and their live dispatch state.

    `load` counts assigned open tickets plus pending offers. It is changed only by the
    dispatch services, inside the transaction that changes the ticket or offer, with the
    profile row locked, so `load < capacity` is a safe eligibility test.
    """

    class Tier(models.TextChoices):
        PROBATION = "probation", _("Probation")
        STANDARD = "standard", _("Standard")
        EXPERT = "expert", _("Expert")

    class Status(models.TextChoices):
        OFFLINE = "offline", _("Offline")
        AVAILABLE = "available", _("Available")
        AWAY = "away", _("Away")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    display_name = models.CharField(max_length=80)
    brands = models.ManyToManyField("marketplace.Brand", blank=True, related_name="certified_agents")
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.PROBATION)
    capacity = models.PositiveSmallIntegerField(default=1, help_text="Concurrent chats")
    quality_score = models.DecimalField(max_digits=4, decimal_places=3, default=3)
    suspended = models.BooleanField(default=False)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    load = models.PositiveSmallIntegerField(default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    consecutive_timeouts = models.PositiveSmallIntegerField(default=0)
    # Derived from AgentConnection rows (the truth, kept alive by heartbeats) and rewritten
    # whenever they change, with this row locked, so dispatch can filter on one column.
    connections = models.PositiveSmallIntegerField(default=0, help_text="Live agent sockets (heartbeat within the TTL)")
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # A copy of "has a PushSubscription", kept by the subscription services, so making an
    # offer reads it from the row dispatch already locked instead of querying per offer.
    has_push = models.BooleanField(default=False)

    objects = AgentProfileQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["status", "load"], name="agent_dispatch_idx")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_available(self) -> bool:
        return self.status == self.Status.AVAILABLE and not self.suspended

    @property
    def language_codes(self) -> list[str]:
        return [lang.code for lang in self.languages.all()]

    @property
    def skill_codes(self) -> list[str]:
        return [skill.code for skill in self.skills.all()]


class AgentConnection(models.Model):
    """One open agent socket, kept alive by its server process's heartbeat.

    A clean close deletes the row; a crashed consumer or a killed process stops
    heartbeating, and the sweeper deletes the row once `seen_at` is older than
    AGENT_CONNECTION_TTL_SECONDS. Nothing a crash skips can leave an agent "connected".
    """

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="socket_connections")
    channel_name = models.CharField(max_length=200, unique=True)
    server = models.CharField(max_length=100, help_text="host:pid of the process holding the socket")
    opened_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["seen_at"], name="agent_connection_seen_idx")]

    def __str__(self) -> str:
        return f"{self.agent} on {self.server}"


class AgentStatusChange(models.Model):
    """Each change of an agent's status, appended when it happens: how long an agent was
    available during a shift (the hourly floor) is read from here."""

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=16, choices=AgentProfile.Status.choices)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["agent", "at"], name="agent_status_change_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription: where to post an offer while the app is closed.

    `endpoint` is the push service's URL for that browser; `p256dh` and `auth` are the
    browser's keys that the payload is encrypted to. The push service answers 404 or 410
    once the browser dropped it: then the row is deleted.
    """

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.CharField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    user_agent = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"push for {self.agent_id} via {self.endpoint[:60]}"


class AgentLanguage(models.Model):
    class Proficiency(models.TextChoices):
        NATIVE = "native"
        FLUENT = "fluent"
        WORKING = "working"

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="languages")
    code = models.CharField(max_length=8, help_text="BCP-47 primary tag, e.g. en, sv")
    proficiency = models.CharField(max_length=8, choices=Proficiency.choices, default=Proficiency.FLUENT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "code"], name="agent_language_unique")]
        indexes = [models.Index(fields=["code", "agent"], name="agent_language_code_idx")]

    def __str__(self) -> str:
        return f"{self.code} ({self.proficiency})"


class AgentSkill(models.Model):
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="skills")
    code = models.SlugField(max_length=40)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "code"], name="agent_skill_unique")]
        indexes = [models.Index(fields=["code", "agent"], name="agent_skill_code_idx")]

    def __str__(self) -> str:
        return self.code


class Application(models.Model):
    """A person's request to become an agent, built up step by step as a saved draft.

    One per user: a refused applicant edits the same application and submits it again
    once `retry_after` has passed; its history stays in ApplicationEvent.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")
        INFO_REQUESTED = "info_requested", _("More information requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    OPEN = (Status.SUBMITTED, Status.INFO_REQUESTED)

    class RejectReason(models.TextChoices):
        LANGUAGE = "language", _("Language level not sufficient for the brands applied to")
        AVAILABILITY = "availability", _("Not enough availability for current needs")
        ASSESSMENT = "assessment", _("Brand assessment not passed")
        INCOMPLETE = "incomplete", _("Application incomplete or inconsistent")
        CAPACITY = "capacity", _("No openings for this profile right now")
        OTHER = "other", _("Other (see message)")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="application")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Draft answers, one key per wizard step; validated by the step's form on save.
    answers = models.JSONField(default=dict, blank=True)
    # Set by the profile step. A column, not part of `answers`, so it is an ISO 3166 code
    # from a real list that the database and the admin can filter on.
    country = CountryField(blank=True)
    country_unmatched = models.CharField(
        max_length=100,
        blank=True,
        help_text="What the applicant typed as country before the country list, when it matched no ISO 3166 "
        "country; kept for review until they choose one",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reject_reason = models.CharField(max_length=16, choices=RejectReason.choices, blank=True)
    language = models.CharField(
        max_length=8, blank=True, help_text="Interface language the applicant sent it in; their e-mails use it"
    )
    decision_message = models.TextField(blank=True)
    retry_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "submitted_at"], name="application_queue_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def is_editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.INFO_REQUESTED)

    @property
    def chosen_brand_ids(self) -> set[int]:
        return {row["brand_id"] for row in (self.answers.get("brands") or {}).get("brands", [])}

    @property
    def display_name(self) -> str:
        return (self.answers.get("profile") or {}).get("display_name") or self.user.email


class ApplicationEvent(models.Model):
    """What happened to an application, shown to the applicant and to supervisors."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        INFO_REQUESTED = "info_requested", _("Info Requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"


class AssessmentQuestion(models.Model):
    """One item of a brand's assessment: a policy multiple-choice question, or a simulated
    customer message the applicant answers in writing (graded by a supervisor)."""

    class Kind(models.TextChoices):
        CHOICE = "choice", "Multiple choice"
        WRITTEN = "written", "Written reply"

    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="assessment_questions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    prompt = models.TextField()
    options = models.JSONField(default=list, blank=True, help_text="Choices, for multiple choice")
    correct_option = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Index into options")
    rubric = models.TextField(blank=True, help_text="What a good written reply does, shown to graders")
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["brand", "kind", "position", "id"]

    def __str__(self) -> str:
        return f"{self.brand.slug}: {self.prompt[:50]}"


class AssessmentAttempt(models.Model):
    """One sitting of one brand's assessment. The deadline is fixed when it starts."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        SUBMITTED = "submitted", _("Waiting for grading")
        GRADED = "graded", _("Graded")
        EXPIRED = "expired", _("Time ran out")

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="attempts")
    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    started_at = models.DateTimeField(auto_now_add=True)
    deadline = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    answers = models.JSONField(default=dict, blank=True, help_text="question id -> option index or text")
    choice_correct = models.PositiveSmallIntegerField(default=0)
    choice_total = models.PositiveSmallIntegerField(default=0)
    written_scores = models.JSONField(default=dict, blank=True, help_text="question id -> 0..4, by a supervisor")
    score_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    passed = models.BooleanField(null=True)
    graded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "brand"],
                condition=models.Q(status="in_progress"),
                name="one_open_attempt_per_brand",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand} assessment of {self.application.user} ({self.status})"
