from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
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
    # Written only by agents.quality (a new agent starts at QUALITY_PRIOR_MEAN, 4 by default).
    quality_score = models.DecimalField(max_digits=4, decimal_places=3, default=4)
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
        indexes = [
            # Dispatch's ranking of the available agents (tasks.selectors._eligible), read
            # in this order so that picking one stops at the first who may take the ticket.
            # The status leads rather than a partial index's condition: the status comes in
            # as a bound parameter, and a plan kept for every value still walks this index.
            # It is the only index by status, so that a planner whose statistics saw few
            # agents available does not sort them all from another one; without the load,
            # a case ending does not touch it.
            models.Index(
                models.F("status"),
                models.F("quality_score").desc(),
                models.F("last_assigned_at").asc(nulls_first=True),
                models.F("id"),
                name="agent_rank_idx",
            ),
        ]

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
        indexes = [
            models.Index(fields=["agent", "at"], name="agent_status_change_idx"),
            # Analytics (tasks.analytics_rollups): every agent's changes in a window.
            models.Index(fields=["at"], name="agent_status_change_at_idx"),
        ]

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


# --- Quality (agents.quality) ----------------------------------------------------------------


class Review(models.Model):
    """A supervisor's QA review of one resolution, on the brand's scorecard.

    Made by the sampling job, at most one per resolution (the one-to-one is what keeps two
    concurrent runs from sampling a case twice). The agent sees the scores and the feedback
    and may acknowledge or dispute; a disputed review is upheld or voided by a supervisor
    other than the one who scored it, and a voided review no longer counts.
    """

    class Reason(models.TextChoices):
        SAMPLE = "sample", _("Random sample")
        LOW_RATING = "low_rating", _("Rated 1 or 2 by the customer")
        REOPENED = "reopened", _("Reopened by the customer")

    class State(models.TextChoices):
        OPEN = "open", _("Waiting for review")
        SCORED = "scored", _("Scored")
        VOID = "void", _("Voided")

    class Response(models.TextChoices):
        NONE = "", _("No answer yet")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        DISPUTED = "disputed", _("Disputed")

    class DisputeDecision(models.TextChoices):
        NONE = "", _("Not decided")
        UPHELD = "upheld", _("Upheld")
        VOIDED = "voided", _("Voided")

    CRITERIA = ("accuracy", "empathy", "policy", "tone")

    resolution = models.OneToOneField("tasks.Resolution", on_delete=models.CASCADE, related_name="review")
    ticket = models.ForeignKey("tasks.Ticket", on_delete=models.CASCADE, related_name="reviews")
    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="reviews")
    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="reviews")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    accuracy = models.PositiveSmallIntegerField(null=True, blank=True)
    empathy = models.PositiveSmallIntegerField(null=True, blank=True)
    policy = models.PositiveSmallIntegerField(null=True, blank=True)
    tone = models.PositiveSmallIntegerField(null=True, blank=True)
    # The brand's weights when it was scored, and the weighted result (0-100).
    weights = models.JSONField(default=dict, blank=True)
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    feedback = models.TextField(blank=True)
    scored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    agent_response = models.CharField(max_length=16, choices=Response.choices, blank=True, default="")
    agent_comment = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    dispute_decision = models.CharField(max_length=8, choices=DisputeDecision.choices, blank=True, default="")
    dispute_note = models.TextField(blank=True)
    dispute_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dispute_decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(accuracy__lte=4, empathy__lte=4, policy__lte=4, tone__lte=4)
                | models.Q(state="open"),
                name="review_scores_0_to_4",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "state", "created_at"], name="review_queue_idx"),
            models.Index(fields=["agent", "-created_at"], name="review_agent_idx"),
        ]

    def __str__(self) -> str:
        return f"review of ticket {self.ticket_id} ({self.state})"


class QualityScoreChange(models.Model):
    """Each move of an agent's quality score and what moved it: the agent's trend and the
    "why" next to it."""

    class Cause(models.TextChoices):
        RATING = "rating", _("Customer rating")
        REVIEW = "review", _("QA review")
        REVIEW_VOIDED = "review_voided", _("QA review voided")
        RECOMPUTE = "recompute", _("Recalculated")

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="score_changes")
    at = models.DateTimeField(auto_now_add=True)
    before = models.DecimalField(max_digits=4, decimal_places=3)
    after = models.DecimalField(max_digits=4, decimal_places=3)
    cause = models.CharField(max_length=16, choices=Cause.choices)
    ticket = models.ForeignKey("tasks.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "-at"], name="score_change_agent_idx")]

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.before} -> {self.after} ({self.cause})"


class QualityFlag(models.Model):
    """A case opened for a human: automatic checks never warn or suspend on their own."""

    class Kind(models.TextChoices):
        LOW_REVIEWS = "low_reviews", _("Reviews below the quality floor")
        BELOW_TIER = "below_tier", _("Quality below the tier's threshold")

    class State(models.TextChoices):
        OPEN = "open", pgettext_lazy("state of a case", "Open")
        DISMISSED = "dismissed", _("Dismissed")
        ACTED = "acted", _("Acted on")

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="quality_flags")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            # One open case of a kind per agent: a job that runs again does not pile them up.
            models.UniqueConstraint(
                fields=["agent", "kind"], condition=models.Q(state="open"), name="quality_flag_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} flag on {self.agent_id} ({self.state})"


class Sanction(models.Model):
    """A warning or a suspension, always with a reason code, a note and the tickets behind
    it, all of which the agent sees. Appealable once, to a different supervisor."""

    class Kind(models.TextChoices):
        WARNING = "warning", _("Warning")
        SUSPENSION = "suspension", _("Suspension")

    class Reason(models.TextChoices):
        QUALITY = "quality", _("Quality below the standard")
        PREMATURE_RESOLUTION = "premature_resolution", _("Cases resolved before they were solved")
        CONDUCT = "conduct", _("Rude or unprofessional conduct")
        POLICY = "policy", _("Brand policy not followed")
        PRIVACY = "privacy", _("Customer data mishandled")
        ABANDONMENT = "abandonment", _("Customers left without an answer")

    class State(models.TextChoices):
        ACTIVE = "active", _("In force")
        LIFTED = "lifted", _("Lifted")
        OVERTURNED = "overturned", _("Overturned on appeal")

    agent = models.ForeignKey(AgentProfile, on_delete=models.CASCADE, related_name="sanctions")
    brand = models.ForeignKey("marketplace.Brand", on_delete=models.CASCADE, related_name="sanctions")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    note = models.TextField()
    evidence = models.ManyToManyField("tasks.Ticket", related_name="sanctions")
    flag = models.ForeignKey(QualityFlag, null=True, blank=True, on_delete=models.SET_NULL, related_name="sanctions")
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["agent", "-created_at"], name="sanction_agent_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.agent_id} ({self.state})"


class Appeal(models.Model):
    """The agent's appeal of a sanction, decided by a supervisor who did not issue it."""

    class State(models.TextChoices):
        OPEN = "open", _("Waiting for a decision")
        UPHELD = "upheld", _("Sanction upheld")
        OVERTURNED = "overturned", _("Sanction overturned")

    sanction = models.OneToOneField(Sanction, on_delete=models.CASCADE, related_name="appeal")
    statement = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_note = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "created_at"], name="appeal_queue_idx")]

    def __str__(self) -> str:
        return f"appeal of sanction {self.sanction_id} ({self.state})"
