"""Reads for the agent app, the applicant journey and the vetting queue.

Writes live in `services.py`; these functions only query.
"""

import zoneinfo
from collections.abc import Iterable
from typing import Any, NoReturn

from django.core.paginator import Page, Paginator
from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, F, Func, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django_countries import countries

from marketplace.models import Brand, User

from .forms import BLOCKS, DAY_NAMES, LANGUAGE_CHOICES, PROFICIENCY_CHOICES, SKILL_CHOICES, STEP_KEYS
from .models import AgentProfile, Application, AssessmentAttempt, AssessmentQuestion

VETTING_PAGE_SIZE = 25


class AnswerListHas(Func):
    """True when `answers[section][section]` (a list of objects, as the wizard stores
    languages and brands) holds an item whose `key` is one of `values`.

    Written per database because Django's JSON `contains` lookup is PostgreSQL-only and
    embedded mode runs on SQLite. Values are compared as text on both.
    """

    output_field = BooleanField()

    def __init__(self, *, section: str, key: str, values: Iterable[object]) -> None:
        super().__init__(F("answers"))
        self.section, self.key = section, key
        self.values = [str(value) for value in values]
        if not self.values:
            raise ValueError("AnswerListHas needs at least one value")

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        # Func.as_sql's optional arguments, so the override keeps its signature; unused.
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra: Any,
    ) -> NoReturn:
        raise NotSupportedError(f"AnswerListHas is written for PostgreSQL and SQLite, not {connection.vendor}")

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[str | int, ...]]:
        answers, params = compiler.compile(self.get_source_expressions()[0])
        placeholders = ", ".join(["%s"] * len(self.values))
        # A missing or null section reads as an empty list instead of an error.
        items = (
            f"CASE WHEN jsonb_typeof({answers} -> %s -> %s) = 'array' THEN {answers} -> %s -> %s ELSE '[]'::jsonb END"
        )
        sql = f"EXISTS (SELECT 1 FROM jsonb_array_elements({items}) AS item WHERE item ->> %s IN ({placeholders}))"  # noqa: S608 (only placeholders are interpolated)
        section = [self.section, self.section]
        return sql, (*params, *section, *params, *section, self.key, *self.values)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> tuple[str, tuple[str | int, ...]]:
        answers, params = compiler.compile(self.get_source_expressions()[0])
        placeholders = ", ".join(["%s"] * len(self.values))
        sql = (
            f"EXISTS (SELECT 1 FROM json_each({answers}, %s) AS item "  # noqa: S608 (only placeholders are interpolated)
            f"WHERE CAST(json_extract(item.value, %s) AS TEXT) IN ({placeholders}))"
        )
        return sql, (*params, f"$.{self.section}.{self.section}", f"$.{self.key}", *self.values)


# --- Agent app -------------------------------------------------------------------------------


def agent_for_user(*, user: User) -> AgentProfile | None:
    return AgentProfile.objects.filter(user=user).prefetch_related("brands", "languages").first()


def user_is_agent(*, user: User) -> bool:
    return AgentProfile.objects.filter(user=user).exists()


def agent_has_earned(*, agent: AgentProfile) -> bool:
    return agent.earnings.exists()


# --- Applicant journey -----------------------------------------------------------------------


def application_missing_steps(*, application: Application) -> list[str]:
    missing = [step for step in STEP_KEYS if step not in application.answers]
    # A country typed before the country list that named no country must be chosen from
    # the list before the application can be sent.
    if "profile" not in missing and not application.country and application.country_unmatched:
        missing.insert(0, "profile")
    return missing


def application_with_events(*, user: User) -> Application | None:
    return Application.objects.filter(user=user).prefetch_related("events").first()


def time_zone_label(zone: str) -> str:
    """ "Europe/Stockholm" -> "Stockholm (Europe), now UTC+01:00"."""
    try:
        offset = timezone.now().astimezone(zoneinfo.ZoneInfo(zone)).strftime("%z")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zone
    region, _, place = zone.rpartition("/")
    name = f"{place} ({region})" if region else place
    return gettext("%(zone)s, now UTC%(offset)s") % {
        "zone": name.replace("_", " "),
        "offset": f"{offset[:3]}:{offset[3:]}",
    }


def application_answers_for_display(*, application: Application) -> dict[str, Any]:
    """The draft's answers in words, for the review and vetting pages: language, skill,
    brand and country names instead of codes, the time zone with its offset, and the
    availability as the week grid the applicant ticked."""
    answers = application.answers
    brands = dict(Brand.objects.filter(pk__in=application.chosen_brand_ids).values_list("pk", "name"))
    profile = answers.get("profile") or {}
    languages, proficiencies, skills = dict(LANGUAGE_CHOICES), dict(PROFICIENCY_CHOICES), dict(SKILL_CHOICES)
    chosen_slots = set((answers.get("availability") or {}).get("slots", []))
    return {
        "profile": {
            "display_name": profile.get("display_name") or "",
            # str() of the field's Country is its code ("" when unset).
            "country": countries.name(str(application.country)) if application.country else "",
            "country_unmatched": application.country_unmatched,
            "time_zone": time_zone_label(profile["time_zone"]) if profile.get("time_zone") else "",
        },
        "languages": [
            {
                "name": languages.get(row["code"], row["code"]),
                "proficiency": proficiencies.get(row["proficiency"], row["proficiency"]),
            }
            for row in (answers.get("languages") or {}).get("languages", [])
        ],
        "skills": [skills.get(code, code) for code in (answers.get("skills") or {}).get("skills", [])],
        "brands": [
            {"name": brands.get(row["brand_id"], "?"), "why": row["why"]}
            for row in (answers.get("brands") or {}).get("brands", [])
        ],
        "availability": {
            "blocks": [label for _, label in BLOCKS],
            "days": [
                {"name": day_name, "blocks": [f"{day}-{block}" in chosen_slots for block, _ in BLOCKS]}
                for day, day_name in DAY_NAMES
            ],
            "any": bool(chosen_slots),
        },
        "device": _device_for_display(answers.get("device") or {}),
    }


# The browser's Notification.permission values, as device-check.js stores them.
NOTIFICATION_PERMISSIONS = {
    "granted": gettext_lazy("allowed"),
    "denied": gettext_lazy("blocked"),
    "default": gettext_lazy("not asked yet"),
    "unsupported": gettext_lazy("not supported"),
}


def _device_for_display(device: dict[str, Any]) -> dict[str, Any]:
    if not device:
        return {}
    permission = device.get("notifications") or "unknown"
    return {**device, "notifications": NOTIFICATION_PERMISSIONS.get(permission, permission)}


def assessment_questions(*, attempt: AssessmentAttempt) -> list[AssessmentQuestion]:
    return list(AssessmentQuestion.objects.filter(brand=attempt.brand_id, active=True))


def assessment_overview(*, application: Application | None) -> list[dict[str, Any]]:
    """Per chosen brand: the latest attempt, for the status page."""
    if application is None:
        return []
    latest = {}
    for attempt in AssessmentAttempt.objects.filter(application=application).order_by("started_at"):
        latest[attempt.brand_id] = attempt
    brands = Brand.objects.filter(pk__in=application.chosen_brand_ids).order_by("name")
    return [{"brand": brand, "attempt": latest.get(brand.pk)} for brand in brands]


def assessment_question_counts(*, brand: Brand) -> dict[str, int]:
    """How many questions of each kind the brand's assessment asks, for the warning page."""
    kinds = list(AssessmentQuestion.objects.filter(brand=brand, active=True).values_list("kind", flat=True))
    return {
        "choice": kinds.count(AssessmentQuestion.Kind.CHOICE),
        "written": kinds.count(AssessmentQuestion.Kind.WRITTEN),
    }


def attempt_in_progress(*, application: Application, brand: Brand) -> AssessmentAttempt | None:
    """The attempt whose clock is running, if any (it may be past its deadline: the
    service marks it expired on the next answer or start)."""
    return AssessmentAttempt.objects.filter(
        application=application, brand=brand, status=AssessmentAttempt.Status.IN_PROGRESS
    ).first()


def attempt_of_applicant(*, user: User, attempt_id: int) -> AssessmentAttempt | None:
    return AssessmentAttempt.objects.select_related("brand").filter(pk=attempt_id, application__user=user).first()


# --- Vetting ---------------------------------------------------------------------------------


def supervised_brand_ids(*, user: User) -> set[int]:
    if user.is_superuser:
        return set(Brand.objects.values_list("pk", flat=True))
    return set(user.supervised_brands.values_list("pk", flat=True))


def supervised_brands(*, user: User) -> QuerySet[Brand]:
    return Brand.objects.filter(pk__in=supervised_brand_ids(user=user)).order_by("name")


def vetting_statuses() -> list[tuple[str, str]]:
    """The queue's status filter: waiting, each status an applicant can be in, all."""
    sent = [(value, str(label)) for value, label in Application.Status.choices if value != Application.Status.DRAFT]
    return [("open", gettext("Waiting for a decision")), *sent, ("all", gettext("All"))]


def vetting_applications(
    *, user: User, status: str = "open", brand: str = "", language: str = ""
) -> QuerySet[Application]:
    """Sent applications for a brand this supervisor vets, oldest first, filtered in the
    database. `status` is "open" (waiting for a decision), one status or anything else for
    all; `brand` a brand id among the applicant's choices; `language` a language code."""
    mine = supervised_brand_ids(user=user)
    if not mine:
        return Application.objects.none()
    qs = Application.objects.exclude(status=Application.Status.DRAFT).filter(
        AnswerListHas(section="brands", key="brand_id", values=mine)
    )
    if status == "open":
        qs = qs.filter(status__in=Application.OPEN)
    elif status in Application.Status.values:
        qs = qs.filter(status=status)
    if brand.isdigit():
        qs = qs.filter(AnswerListHas(section="brands", key="brand_id", values=[int(brand)]))
    if language:
        qs = qs.filter(AnswerListHas(section="languages", key="code", values=[language]))
    return qs.select_related("user").prefetch_related("attempts__brand").order_by("submitted_at", "pk")


def vetting_queue_page(
    *, user: User, status: str = "open", brand: str = "", language: str = "", page_number: str | int | None = None
) -> Page[dict[str, Any]]:
    """One page of the vetting queue; the database counts and slices, so a long queue costs
    the same as a short one. Each row: the application, its language names, its attempts."""
    queryset = vetting_applications(user=user, status=status, brand=brand, language=language)
    # The page's rows are replaced by dicts below, so it is not a page of applications.
    page: Page[Any] = Paginator(queryset, VETTING_PAGE_SIZE).get_page(page_number)
    names = dict(LANGUAGE_CHOICES)
    page.object_list = [
        {
            "application": application,
            "languages": [
                names.get(row["code"], row["code"])
                for row in (application.answers.get("languages") or {}).get("languages", [])
            ],
            "attempts": list(application.attempts.all()),
        }
        for application in page.object_list
    ]
    return page


def application_for_vetting(*, user: User, application_id: int) -> Application | None:
    """A sent application that chose one of this supervisor's brands, else None."""
    application = (
        Application.objects.select_related("user")
        .prefetch_related("events")
        .exclude(status=Application.Status.DRAFT)
        .filter(pk=application_id)
        .first()
    )
    if application is None or not application.chosen_brand_ids & supervised_brand_ids(user=user):
        return None
    return application


def attempts_for_grading(*, application: Application) -> list[dict[str, Any]]:
    """Each attempt with its written replies and their scores so far, for the grading form."""
    rows = []
    for attempt in AssessmentAttempt.objects.filter(application=application).select_related("brand"):
        written = [
            {"q": q, "reply": attempt.answers.get(str(q.pk), ""), "score": attempt.written_scores.get(str(q.pk))}
            for q in assessment_questions(attempt=attempt)
            if q.kind == AssessmentQuestion.Kind.WRITTEN
        ]
        rows.append({"attempt": attempt, "written": written})
    return rows
