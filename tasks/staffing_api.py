"""REST endpoints of the staffing plan: the Erlang C calculator and a brand's plan for one day.

Supervisors and platform staff, by session or `Authorization: Token`; other people are
refused `403 forbidden`, callers without a login `401 unauthenticated`. Both are reads:
they change nothing. The math is tasks.staffing's, the reads tasks.staffing_selectors'.
"""

import datetime as dt
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import Forbidden, NotFound
from marketplace.models import User

from . import staffing, staffing_selectors

# Plans are for days people can plan: far dates would also leave the calendar when the
# history weeks are counted back.
FIRST_PLAN_DAY = dt.date(2000, 1, 1)
LAST_PLAN_DAY = dt.date(2099, 12, 31)


class IsSupervisorOrStaff(BasePermission):
    message = "Only supervisors and platform staff can see staffing plans."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return (
            isinstance(user, User) and user.is_active and (user.role == User.Role.SUPERVISOR or user.is_platform_staff)
        )


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsSupervisorOrStaff let only people through
    return request.user


class ErlangCQuerySerializer(serializers.Serializer):
    arrivals_per_hour = serializers.FloatField(
        min_value=0, max_value=staffing.MAX_ARRIVALS_PER_HOUR, help_text="Contacts expected per hour"
    )
    aht_seconds = serializers.FloatField(
        max_value=staffing.MAX_AHT_SECONDS, help_text="Average handle time of one contact, seconds (more than 0)"
    )
    target_seconds = serializers.FloatField(
        min_value=0, max_value=staffing.MAX_TARGET_SECONDS, help_text="Answer within this many seconds"
    )
    target_share = serializers.FloatField(
        help_text="The share of contacts to answer in time, more than 0 and less than 1 (0.8 = 80%)"
    )

    def validate_aht_seconds(self, value: float) -> float:
        if value <= 0:
            raise serializers.ValidationError("Must be more than 0.")
        return value

    def validate_target_share(self, value: float) -> float:
        try:
            return staffing.check_share(value)
        except staffing.StaffingInputError:
            raise serializers.ValidationError(
                "Must be more than 0 and less than 1 (0.8 = 80%); no number of agents answers every contact in time."
            ) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            staffing.traffic_intensity(arrivals_per_hour=attrs["arrivals_per_hour"], aht_seconds=attrs["aht_seconds"])
        except staffing.StaffingInputError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from None
        return attrs


class StaffingResultSerializer(serializers.Serializer):
    agents = serializers.IntegerField(help_text="The fewest agents that reach the target; 0 without contacts")
    service_level = serializers.FloatField(help_text="Share of contacts answered within target_seconds with them")
    occupancy = serializers.FloatField(help_text="Share of the agents' time spent handling contacts")
    probability_wait = serializers.FloatField(help_text="Probability that a contact waits at all")
    average_speed_of_answer_seconds = serializers.FloatField(help_text="Mean wait over all contacts")


class ErlangCView(APIView):
    permission_classes = [IsSupervisorOrStaff]

    @extend_schema(parameters=[ErlangCQuerySerializer], responses={200: StaffingResultSerializer})
    def get(self, request: Request) -> Response:
        query = ErlangCQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        result = staffing.agents_needed(**query.validated_data)
        return Response(result.as_dict())


class StaffingQuerySerializer(serializers.Serializer):
    brand = serializers.SlugField(max_length=50, help_text="The brand's slug")
    date = serializers.DateField(input_formats=["%Y-%m-%d"], help_text="YYYY-MM-DD")
    time_zone = serializers.CharField(
        required=False,
        default="UTC",
        max_length=staffing_selectors.ZONE_NAME_MAX_LENGTH,
        help_text="IANA name, such as Europe/Stockholm: the day and its hours on that wall clock (default UTC)",
    )

    def validate_date(self, value: dt.date) -> dt.date:
        if not FIRST_PLAN_DAY <= value <= LAST_PLAN_DAY:
            raise serializers.ValidationError(f"Choose a day from {FIRST_PLAN_DAY} to {LAST_PLAN_DAY}.")
        return value

    def validate_time_zone(self, value: str) -> Any:
        zone = staffing_selectors.zone_named(value.strip())
        if zone is None:
            raise serializers.ValidationError("Use an IANA time zone name, such as Europe/Stockholm or UTC.")
        return zone


class HourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField(help_text="Start of the hour, with the offset of the chosen zone")
    arrivals_forecast = serializers.FloatField(help_text="Mean tickets of the same hour in four earlier weeks")
    aht_seconds = serializers.FloatField(help_text="The brand's mean handle time")
    agents_needed = serializers.IntegerField(help_text="Erlang C for the brand's staffing target")
    agents_booked = serializers.IntegerField(help_text="Agents booked on the brand's open shifts overlapping the hour")


class StaffingPlanView(APIView):
    permission_classes = [IsSupervisorOrStaff]

    @extend_schema(
        parameters=[StaffingQuerySerializer],
        responses={
            200: HourSerializer(many=True),
            403: OpenApiResponse(description="forbidden: not a supervisor of this brand"),
            404: OpenApiResponse(description="brand_not_found (platform staff)"),
            422: OpenApiResponse(description="staffing_out_of_range"),
        },
    )
    def get(self, request: Request) -> Response:
        query = StaffingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user = _user(request)
        slug = query.validated_data["brand"]
        brand = staffing_selectors.staffing_brands(user=user).filter(slug=slug).first()
        if brand is None:
            # A supervisor learns nothing about brands that are not theirs, not even whether
            # the slug exists.
            if user.is_platform_staff:
                raise NotFound("brand_not_found", "No brand has this slug.")
            raise Forbidden("forbidden", "You do not supervise this brand.")
        plan = staffing_selectors.staffing_day(
            brand=brand, day=query.validated_data["date"], zone=query.validated_data["time_zone"]
        )
        return Response([hour.as_dict() for hour in plan])
