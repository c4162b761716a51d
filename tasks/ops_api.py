"""REST endpoints of the supervisors' live view (`/api/v1/ops/...`): reassign a ticket, a
note to an agent, set an agent away, pause and resume a brand's intake, raise a surge bonus.

Session (with the CSRF header) or `Authorization: Token`; supervisors and platform staff
only (others `403 forbidden`, anonymous callers `401`). Each calls one service of
tasks.services.supervision, which scopes it to the caller's brands (another brand's ticket,
agent or brand is 404) and writes the audit row. Errors are the house shape
`{"error": {"code", "message", "fields"?}}`.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import DomainError, Forbidden, NotFound
from marketplace.models import Brand
from payouts.selectors import money
from payouts.services.terms import parse_amount

from . import frames, services
from .models import IntakePause, Ticket
from .ops_selectors import ops_brand_ids

TAG = ["ops"]
REFUSED = {
    401: OpenApiResponse(description="unauthenticated"),
    403: OpenApiResponse(description="forbidden: not a supervisor or platform staff"),
}


def _supervisor(request) -> set[int]:
    brand_ids = ops_brand_ids(request.user)
    if brand_ids is None:
        raise Forbidden("forbidden", "Only supervisors and platform staff run the live view.")
    return brand_ids


def _body(request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DomainError("invalid_body", "The body must be a JSON object.", status=400)
    return request.data


def ticket_dict(ticket: Ticket) -> dict[str, Any]:
    return frames.ops_ticket_changed_frame(ticket)["ticket"]


def pause_dict(pause: IntakePause) -> dict[str, Any]:
    data = frames.ops_pause_dict(
        pause_id=pause.pk,
        brand_id=pause.brand_id,
        language=pause.language,
        reason=pause.reason,
        paused_by=pause.paused_by.email,
        created_at=pause.created_at,
    )
    data["brand_slug"] = pause.brand.slug
    data["resumed_at"] = frames.iso(pause.resumed_at)
    return data


OPS_TICKET = inline_serializer(
    "OpsTicket",
    {
        "id": serializers.IntegerField(),
        "brand": serializers.IntegerField(),
        "brand_slug": serializers.CharField(),
        "language": serializers.CharField(),
        "status": serializers.CharField(),
        "agent_id": serializers.IntegerField(allow_null=True),
        "waiting_seconds": serializers.IntegerField(),
        "widen_level": serializers.IntegerField(),
        "subject": serializers.CharField(),
    },
)
PAUSE = inline_serializer(
    "IntakePause",
    {
        "id": serializers.IntegerField(),
        "brand": serializers.IntegerField(),
        "brand_slug": serializers.CharField(),
        "language": serializers.CharField(help_text='"" for every language of the brand'),
        "reason": serializers.CharField(),
        "paused_by": serializers.EmailField(),
        "created_at": serializers.DateTimeField(),
        "resumed_at": serializers.DateTimeField(allow_null=True),
    },
)


class ReassignView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Give an open ticket to a chosen agent",
        request=inline_serializer("ReassignIn", {"agent_id": serializers.IntegerField()}),
        responses={
            200: inline_serializer(
                "Reassigned", {"ticket": OPS_TICKET, "agent": serializers.DictField(child=serializers.CharField())}
            ),
            404: OpenApiResponse(description="ticket_not_found / agent_not_found (not in your brands)"),
            409: OpenApiResponse(description="agent_unavailable / already_assigned / ticket_not_open / ticket_busy"),
            422: OpenApiResponse(description="invalid_agent_id"),
            **REFUSED,
        },
    )
    def post(self, request, ticket_id: int):
        _supervisor(request)
        ticket = services.ticket_reassign(
            user=request.user, ticket_id=ticket_id, agent_id=_body(request).get("agent_id"), request=request
        )
        assert ticket.agent is not None  # assigned by the service
        return Response(
            {"ticket": ticket_dict(ticket), "agent": {"id": ticket.agent.pk, "display_name": ticket.agent.display_name}}
        )


class AgentNoteView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Send an agent a note (shown in their app)",
        request=inline_serializer("AgentNoteIn", {"text": serializers.CharField(max_length=1000)}),
        responses={
            201: inline_serializer(
                "AgentNote",
                {
                    "id": serializers.IntegerField(),
                    "agent_id": serializers.IntegerField(),
                    "text": serializers.CharField(),
                    "sent_at": serializers.DateTimeField(),
                },
            ),
            404: OpenApiResponse(description="agent_not_found"),
            422: OpenApiResponse(description="invalid_text / text_too_long"),
            **REFUSED,
        },
    )
    def post(self, request, agent_id: int):
        _supervisor(request)
        note = services.agent_note_send(
            user=request.user, agent_id=agent_id, text=_body(request).get("text"), request=request
        )
        return Response(
            {"id": note.pk, "agent_id": note.agent_id, "text": note.text, "sent_at": frames.iso(note.created_at)},
            status=status.HTTP_201_CREATED,
        )


class AgentAwayView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Set an available agent away",
        request=inline_serializer("AgentAwayIn", {"reason": serializers.CharField(required=False, max_length=300)}),
        responses={
            200: inline_serializer("AgentAway", {"id": serializers.IntegerField(), "status": serializers.CharField()}),
            404: OpenApiResponse(description="agent_not_found"),
            409: OpenApiResponse(description="agent_not_available"),
            **REFUSED,
        },
    )
    def post(self, request, agent_id: int):
        _supervisor(request)
        agent = services.agent_set_away_by_supervisor(
            user=request.user, agent_id=agent_id, reason=_body(request).get("reason", ""), request=request
        )
        return Response({"id": agent.pk, "status": agent.status})


class IntakePauseView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Pause a brand's intake (one language, or all)",
        request=inline_serializer(
            "IntakePauseIn",
            {
                "brand": serializers.SlugField(),
                "language": serializers.CharField(required=False, help_text="omitted or empty: every language"),
                "reason": serializers.CharField(max_length=300),
            },
        ),
        responses={
            201: PAUSE,
            404: OpenApiResponse(description="brand_not_found"),
            409: OpenApiResponse(description="intake_already_paused"),
            422: OpenApiResponse(description="reason_required / invalid_language / text_too_long"),
            **REFUSED,
        },
    )
    def post(self, request):
        _supervisor(request)
        body = _body(request)
        pause = services.intake_pause(
            user=request.user,
            brand=body.get("brand"),
            language=body.get("language", ""),
            reason=body.get("reason"),
            request=request,
        )
        return Response(pause_dict(pause), status=status.HTTP_201_CREATED)


class IntakeResumeView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Resume a brand's paused intake",
        request=inline_serializer(
            "IntakeResumeIn",
            {"brand": serializers.SlugField(), "language": serializers.CharField(required=False)},
        ),
        responses={
            200: PAUSE,
            404: OpenApiResponse(description="brand_not_found"),
            409: OpenApiResponse(description="intake_not_paused"),
            422: OpenApiResponse(description="invalid_language"),
            **REFUSED,
        },
    )
    def post(self, request):
        _supervisor(request)
        body = _body(request)
        pause = services.intake_resume(
            user=request.user, brand=body.get("brand"), language=body.get("language", ""), request=request
        )
        return Response(pause_dict(pause))


class SurgeView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Raise the surge bonus of a brand's waiting tickets in one language",
        request=inline_serializer(
            "SurgeIn",
            {
                "brand": serializers.SlugField(),
                "language": serializers.CharField(),
                "amount": serializers.CharField(help_text='in the brand\'s currency, e.g. "10.00"'),
            },
        ),
        responses={
            200: inline_serializer(
                "Surge",
                {
                    "brand": serializers.SlugField(),
                    "language": serializers.CharField(),
                    "amount": serializers.DictField(child=serializers.CharField()),
                    "tickets": serializers.ListField(child=serializers.DictField()),
                },
            ),
            404: OpenApiResponse(description="brand_not_found"),
            409: OpenApiResponse(description="nothing_waiting"),
            422: OpenApiResponse(description="invalid_amount / invalid_language"),
            **REFUSED,
        },
    )
    def post(self, request):
        brand_ids = _supervisor(request)
        body = _body(request)
        slug = body.get("brand")
        brand = Brand.objects.filter(slug=slug, pk__in=brand_ids).first() if isinstance(slug, str) else None
        if brand is None:
            raise NotFound("brand_not_found", "There is no such brand among those you supervise.")
        amount_minor = parse_amount(body.get("amount"), brand.currency)
        tickets = services.surge_raise(
            user=request.user, brand=brand, language=body.get("language"), amount_minor=amount_minor, request=request
        )
        return Response(
            {
                "brand": brand.slug,
                "language": tickets[0].language,
                "amount": money(amount_minor, brand.currency),
                "tickets": [{"id": t.pk, "surge": money(t.surge_bonus_minor, brand.currency)} for t in tickets],
            }
        )
