"""REST endpoints of shifts and the agent's own profile (`Authorization: Token` or the
session): agents list the shifts they may book, book and cancel; supervisors publish and
cancel the shifts of their brands; `GET /api/v1/me/` is the agent's profile."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import AgentProfile
from agents.quality.selectors import quality_counts
from marketplace.errors import DomainError, Forbidden, NotFound
from marketplace.models import Brand, User
from payouts.models import decimal_to_minor

from . import services, shift_selectors
from .frames import shift_dict
from .models import Shift, ShiftBooking

PAGE_SIZE = 100


def _agent(request) -> AgentProfile:
    agent = AgentProfile.objects.filter(user=request.user).first()
    if agent is None:
        raise Forbidden("not_an_agent", "Only approved agents book shifts.")
    return agent


def _planner(request) -> User:
    user = request.user
    if user.is_platform_staff or user.role == User.Role.SUPERVISOR:
        return user
    raise Forbidden("forbidden", "Only supervisors plan shifts.")


def booking_dict(booking: ShiftBooking) -> dict[str, Any]:
    return {
        "id": booking.pk,
        "shift_id": booking.shift_id,
        "status": booking.status,
        "late": booking.late,
        "checked_in_at": timezone.localtime(booking.checked_in_at).isoformat() if booking.checked_in_at else None,
    }


def _moment(raw: str | None, name: str) -> datetime | None:
    """A `from`/`to` filter: a date (midnight UTC) or a date-time with its offset."""
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None and (day := parse_date(raw)) is not None:
        value = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if value is None or timezone.is_naive(value):
        raise DomainError(
            "invalid", f"{name}: a date (YYYY-MM-DD) or a time with its offset.", fields={name: ["invalid"]}
        )
    return value


class MoneyOut(serializers.Serializer):
    amount = serializers.CharField()
    currency = serializers.CharField()


class ShiftPayOut(serializers.Serializer):
    hourly_floor = MoneyOut(allow_null=True)
    bonus_per_case = MoneyOut(allow_null=True)


class ShiftOut(serializers.Serializer):
    id = serializers.IntegerField()
    brand = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    languages = serializers.ListField(child=serializers.CharField())
    skills = serializers.ListField(child=serializers.CharField())
    slots = serializers.IntegerField()
    booked = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Shift.Status.values)
    pay = ShiftPayOut()
    my_booking = serializers.IntegerField(allow_null=True)


class PublishedOut(ShiftOut):
    series = serializers.ListField(child=serializers.IntegerField(), help_text="Every shift of a weekly pattern")


class BookingOut(serializers.Serializer):
    id = serializers.IntegerField()
    shift_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ShiftBooking.Status.values)
    late = serializers.BooleanField()
    checked_in_at = serializers.DateTimeField(allow_null=True)


class BookingWithShiftOut(BookingOut):
    shift = ShiftOut()


class ReliabilityEventOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["late_cancel", "no_show"])
    at = serializers.DateTimeField()
    booking_id = serializers.IntegerField()
    weight_now = serializers.FloatField()


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    status = serializers.CharField()
    tier = serializers.CharField()
    capacity = serializers.IntegerField()
    quality = inline_serializer(
        "MeQuality",
        {
            "score": serializers.FloatField(),
            "ratings": serializers.IntegerField(allow_null=True),
            "reviews": serializers.IntegerField(allow_null=True),
        },
    )
    reliability = inline_serializer(
        "MeReliability", {"score": serializers.FloatField(), "events": ReliabilityEventOut(many=True)}
    )
    brands = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())


class ShiftInSerializer(serializers.Serializer):
    brand = serializers.SlugField(max_length=50)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    languages = serializers.ListField(child=serializers.RegexField(r"^[a-z]{2,3}$"), min_length=1, max_length=10)
    skills = serializers.ListField(
        child=serializers.SlugField(max_length=40), required=False, default=list, max_length=20
    )
    slots = serializers.IntegerField(min_value=1, max_value=1000)
    hourly_floor = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False)
    bonus_per_case = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0), required=False)
    repeat_weeks = serializers.IntegerField(
        min_value=1, max_value=services.shifts.MAX_PATTERN_WEEKS, required=False, default=1
    )
    time_zone = serializers.CharField(
        max_length=64, required=False, default="UTC", help_text="IANA name; weekly copies keep the local time"
    )


class ShiftsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("brand", str, description="brand slug"),
            OpenApiParameter("from", str, description="YYYY-MM-DD or a time with offset; default now"),
            OpenApiParameter("to", str, description="YYYY-MM-DD or a time with offset; default 14 days on"),
        ],
        responses={
            200: inline_serializer(
                "ShiftPage", {"results": serializers.ListField(), "next": serializers.CharField(allow_null=True)}
            )
        },
    )
    def get(self, request):
        start = _moment(request.query_params.get("from"), "from")
        end = _moment(request.query_params.get("to"), "to")
        if end is None:
            end = (start or timezone.now()) + timedelta(days=14)
        brand = request.query_params.get("brand", "").strip()
        agent = AgentProfile.objects.filter(user=request.user).first()
        if agent is not None:
            shifts = shift_selectors.bookable_shifts(agent, start=start, end=end, brand_slug=brand)
            mine = shift_selectors.my_booking_ids(agent, [s.pk for s in shifts])
            return Response({"results": [shift_dict(s, my_booking=mine.get(s.pk)) for s in shifts], "next": None})
        planner = _planner(request)
        rows = shift_selectors.planned_shifts(planner).filter(starts_at__lt=end)
        if start:
            rows = rows.filter(ends_at__gt=start)
        if brand:
            rows = rows.filter(brand__slug=brand)
        return Response({"results": [shift_dict(s) for s in rows.order_by("starts_at", "pk")[:500]], "next": None})

    @extend_schema(request=ShiftInSerializer, responses={201: PublishedOut})
    def post(self, request):
        user = _planner(request)
        data = ShiftInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        brand = Brand.objects.filter(slug=v["brand"]).first()
        if brand is None:
            raise NotFound("brand_not_found", "There is no such brand.")
        try:
            floor = decimal_to_minor(v["hourly_floor"], brand.currency) if "hourly_floor" in v else None
            bonus = decimal_to_minor(v["bonus_per_case"], brand.currency) if "bonus_per_case" in v else None
        except ValueError:
            raise DomainError("invalid", f"{brand.currency} has fewer decimals.", status=422) from None
        shifts = services.shift_publish(
            user=user,
            brand=brand,
            terms=services.ShiftTerms(
                starts_at=v["starts_at"],
                ends_at=v["ends_at"],
                languages=v["languages"],
                skills=v["skills"],
                slots=v["slots"],
                hourly_floor_minor=floor,
                bonus_per_case_minor=bonus,
            ),
            weeks=v["repeat_weeks"],
            time_zone=v["time_zone"],
        )
        body = shift_dict(shifts[0])
        body["series"] = [s.pk for s in shifts]
        return Response(body, status=status.HTTP_201_CREATED)


class ShiftCancelView(APIView):
    @extend_schema(
        request=inline_serializer("ShiftCancelIn", {"reason": serializers.CharField()}),
        responses={200: ShiftOut},
    )
    def post(self, request, shift_id: int):
        user = _planner(request)
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        if not isinstance(reason, str):
            raise DomainError("invalid", "reason: text.", fields={"reason": ["text"]})
        shift = services.shift_cancel_and_tell(user=user, shift_id=shift_id, reason=reason[:300])
        return Response(shift_dict(Shift.objects.select_related("brand").get(pk=shift.pk)))


class ShiftBookView(APIView):
    @extend_schema(request=None, responses={201: BookingOut})
    def post(self, request, shift_id: int):
        booking = services.shift_book(agent=_agent(request), shift_id=shift_id)
        return Response(booking_dict(booking), status=status.HTTP_201_CREATED)


class BookingCancelView(APIView):
    @extend_schema(request=None, responses={200: BookingOut})
    def post(self, request, booking_id: int):
        booking = services.booking_cancel(agent=_agent(request), booking_id=booking_id)
        return Response(booking_dict(booking))


class BookingPagination(CursorPagination):
    page_size = PAGE_SIZE
    ordering = ("-starts_at", "-pk")


class MyBookingsView(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "BookingPage",
                {"results": BookingWithShiftOut(many=True), "next": serializers.CharField(allow_null=True)},
            )
        }
    )
    def get(self, request):
        agent = _agent(request)
        paginator = BookingPagination()
        rows = paginator.paginate_queryset(shift_selectors.agent_bookings(agent), request, view=self) or []
        results = [{**booking_dict(b), "shift": shift_dict(b.shift)} for b in rows]
        return Response({"results": results, "next": paginator.get_next_link()})


class MeView(APIView):
    @extend_schema(responses={200: MeOut})
    def get(self, request):
        agent = _agent(request)
        rel = shift_selectors.reliability(agent)
        return Response(
            {
                "id": agent.pk,
                "display_name": agent.display_name,
                "status": agent.status,
                "tier": agent.tier,
                "capacity": agent.capacity,
                "quality": {"score": float(agent.quality_score), **quality_counts(agent)},
                "reliability": {
                    "score": rel.score,
                    "events": [
                        {
                            "kind": e.kind,
                            "at": timezone.localtime(e.at).isoformat(),
                            "booking_id": e.booking_id,
                            "weight_now": e.weight_now,
                        }
                        for e in rel.events
                    ],
                },
                "brands": list(agent.brands.order_by("slug").values_list("slug", flat=True)),
                "languages": sorted(agent.languages.values_list("code", flat=True)),
            }
        )
