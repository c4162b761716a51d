"""REST endpoints of quality: the agent's own (`/api/v1/me/quality/` and answers to reviews
and sanctions) and the supervisors' (reviews, cases, warnings and suspensions, appeals).

Session or `Authorization: Token`. Agents reach only their own rows (every query is
filtered by the caller's agent id); supervisors only rows of brands they supervise, and
another brand's row answers 404 as if it did not exist.
"""

from typing import Any, TypeVar

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import DomainError, Forbidden, NotFound
from marketplace.models import User

from ..models import AgentProfile, Appeal, QualityFlag, Review, Sanction
from . import selectors, services

PAGE_SIZE = 50
RowT = TypeVar("RowT")


def _iso(value) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def _agent(request) -> AgentProfile:
    # Read fresh: the score and tier change behind the user object's cached profile.
    agent = AgentProfile.objects.filter(user_id=request.user.pk).first()
    if agent is None:
        raise Forbidden("not_an_agent", "Only approved agents have a quality record.")
    return agent


def _supervisor(request) -> User:
    user = request.user
    if user.is_platform_staff or user.role == User.Role.SUPERVISOR:
        return user
    raise Forbidden("forbidden", "Only supervisors review quality.")


def _shown(row: RowT | None) -> RowT:
    """A row the caller has just changed, read back through their scope."""
    if row is None:
        raise NotFound("not_found", "It is no longer there.")
    return row


def _body(request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DomainError("invalid_body", "The body must be a JSON object.", status=400)
    return request.data


# --- Shapes (shared with the pages' JSON-free templates through the same selectors) ---------


def rating_dict(resolution) -> dict[str, Any]:
    return {
        "ticket_id": resolution.ticket_id,
        "subject": resolution.ticket.subject,
        "brand": resolution.ticket.brand.slug,
        "score": resolution.rating,
        "comment": resolution.rating_comment,
        "rated_at": _iso(resolution.rated_at),
        "reopened": resolution.outcome == "reopened",
    }


def review_dict(review: Review, *, for_supervisor: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": review.pk,
        "ticket_id": review.ticket_id,
        "brand": review.brand.slug,
        "reason": review.reason,
        "status": review.state,
        "created_at": _iso(review.created_at),
        "scores": (
            {name: getattr(review, name) for name in Review.CRITERIA} if review.state != Review.State.OPEN else None
        ),
        "weights": review.weights or None,
        "percent": str(review.percent) if review.percent is not None else None,
        "feedback": review.feedback,
        "scored_at": _iso(review.scored_at),
        "response": review.agent_response or None,
        "agent_comment": review.agent_comment,
        "dispute": (
            {
                "decision": review.dispute_decision,
                "note": review.dispute_note,
                "decided_at": _iso(review.dispute_decided_at),
            }
            if review.dispute_decision
            else None
        ),
    }
    if for_supervisor:
        data["agent"] = {"id": review.agent_id, "display_name": review.agent.display_name}
        data["subject"] = review.ticket.subject
        data["rating"] = review.resolution.rating
        data["scored_by"] = review.scored_by_id
    return data


def sanction_dict(sanction: Sanction) -> dict[str, Any]:
    appeal = getattr(sanction, "appeal", None)
    return {
        "id": sanction.pk,
        "kind": sanction.kind,
        "reason": sanction.reason,
        "reason_label": str(Sanction.Reason(sanction.reason).label),
        "note": sanction.note,
        "brand": sanction.brand.slug,
        "status": sanction.state,
        "created_at": _iso(sanction.created_at),
        "ended_at": _iso(sanction.ended_at),
        "evidence": [{"ticket_id": t.pk, "subject": t.subject} for t in sanction.evidence.all()],
        "appeal": (
            {
                "id": appeal.pk,
                "status": appeal.state,
                "statement": appeal.statement,
                "decision_note": appeal.decision_note,
                "created_at": _iso(appeal.created_at),
                "decided_at": _iso(appeal.decided_at),
            }
            if appeal is not None
            else None
        ),
        "can_appeal": appeal is None and sanction.state == Sanction.State.ACTIVE,
    }


def appeal_dict(appeal: Appeal) -> dict[str, Any]:
    sanction = appeal.sanction
    return {
        "id": appeal.pk,
        "status": appeal.state,
        "statement": appeal.statement,
        "created_at": _iso(appeal.created_at),
        "decision_note": appeal.decision_note,
        "decided_at": _iso(appeal.decided_at),
        "sanction": {
            "id": sanction.pk,
            "kind": sanction.kind,
            "reason": sanction.reason,
            "note": sanction.note,
            "brand": sanction.brand.slug,
            "issued_by": sanction.issued_by_id,
            "agent": {"id": sanction.agent_id, "display_name": sanction.agent.display_name},
        },
    }


def flag_dict(flag: QualityFlag) -> dict[str, Any]:
    return {
        "id": flag.pk,
        "kind": flag.kind,
        "status": flag.state,
        "detail": flag.detail,
        "created_at": _iso(flag.created_at),
        "agent": {"id": flag.agent_id, "display_name": flag.agent.display_name},
    }


def agent_quality_dict(agent: AgentProfile) -> dict[str, Any]:
    """What `GET /api/v1/me/quality/` answers (and what the agent's quality screen shows)."""
    inputs, standing = selectors.agent_standing(agent)
    return {
        "score": str(agent.quality_score),
        "tier": agent.tier,
        "capacity": agent.capacity,
        "next_tier": selectors.next_tier(agent, standing, inputs),
        "ratings": [rating_dict(r) for r in selectors.agent_ratings(agent)],
        "reviews": [review_dict(r) for r in selectors.agent_reviews(agent)],
        "score_history": [
            {
                "at": _iso(c.at),
                "before": str(c.before),
                "after": str(c.after),
                "cause": c.cause,
                "ticket_id": c.ticket_id,
                "detail": c.detail,
            }
            for c in selectors.agent_score_history(agent)
        ],
        "sanctions": [sanction_dict(s) for s in selectors.agent_sanctions(agent)],
        "suspended": agent.suspended,
    }


_ANY = OpenApiTypes.OBJECT


class MeQualityView(APIView):
    @extend_schema(
        summary="The agent's quality record",
        responses={
            200: inline_serializer(
                "Quality",
                {
                    "score": serializers.CharField(help_text="1-5 with three decimals"),
                    "tier": serializers.ChoiceField(choices=AgentProfile.Tier.values),
                    "capacity": serializers.IntegerField(),
                    "next_tier": serializers.JSONField(allow_null=True, help_text='{"name", "needs": [...]} or null'),
                    "ratings": serializers.ListField(child=serializers.JSONField()),
                    "reviews": serializers.ListField(child=serializers.JSONField()),
                    "score_history": serializers.ListField(child=serializers.JSONField()),
                    "sanctions": serializers.ListField(child=serializers.JSONField()),
                    "suspended": serializers.BooleanField(),
                },
            )
        },
    )
    def get(self, request):
        return Response(agent_quality_dict(_agent(request)))


class MyReviewAcknowledgeView(APIView):
    @extend_schema(summary="Acknowledge a QA review", request=None, responses={200: _ANY})
    def post(self, request, review_id: int):
        review = services.review_acknowledge(agent=_agent(request), review_id=review_id, request=request)
        return Response(review_dict(review))


class MyReviewDisputeView(APIView):
    @extend_schema(
        summary="Dispute a QA review",
        request=inline_serializer("DisputeIn", {"comment": serializers.CharField()}),
        responses={200: _ANY},
    )
    def post(self, request, review_id: int):
        body = _body(request)
        review = services.review_dispute(
            agent=_agent(request), review_id=review_id, comment=body.get("comment"), request=request
        )
        return Response(review_dict(review))


class MySanctionAppealView(APIView):
    @extend_schema(
        summary="Appeal a warning or suspension",
        request=inline_serializer("AppealIn", {"statement": serializers.CharField()}),
        responses={201: _ANY},
    )
    def post(self, request, sanction_id: int):
        body = _body(request)
        appeal = services.appeal_file(
            agent=_agent(request), sanction_id=sanction_id, statement=body.get("statement"), request=request
        )
        return Response(
            {
                "id": appeal.pk,
                "sanction_id": sanction_id,
                "status": appeal.state,
                "created_at": _iso(appeal.created_at),
            },
            status=status.HTTP_201_CREATED,
        )


class ReviewPagination(CursorPagination):
    page_size = PAGE_SIZE
    ordering = ("created_at", "pk")


class ReviewsView(APIView):
    @extend_schema(
        summary="QA reviews of the brands you supervise",
        parameters=[
            OpenApiParameter("status", str, enum=list(selectors.REVIEW_FILTERS)),
            OpenApiParameter("brand", str, description="brand slug"),
        ],
        responses={
            200: inline_serializer(
                "ReviewPage",
                {
                    "results": serializers.ListField(child=serializers.JSONField()),
                    "next": serializers.CharField(allow_null=True),
                },
            )
        },
    )
    def get(self, request):
        user = _supervisor(request)
        wanted = request.query_params.get("status", "open")
        if wanted not in selectors.REVIEW_FILTERS:
            raise DomainError(
                "invalid_status",
                f"status must be one of {', '.join(selectors.REVIEW_FILTERS)}.",
                status=422,
                fields={"status": list(selectors.REVIEW_FILTERS)},
            )
        qs = selectors.review_queue(user, status=wanted, brand=request.query_params.get("brand", "").strip())
        paginator = ReviewPagination()
        rows = paginator.paginate_queryset(qs, request, view=self) or []
        return Response(
            {"results": [review_dict(r, for_supervisor=True) for r in rows], "next": paginator.get_next_link()}
        )


class ReviewScoreView(APIView):
    @extend_schema(
        summary="Score a QA review",
        request=inline_serializer(
            "ReviewScoreIn",
            {
                "scores": inline_serializer(
                    "Scorecard", {name: serializers.IntegerField(min_value=0, max_value=4) for name in Review.CRITERIA}
                ),
                "feedback": serializers.CharField(),
            },
        ),
        responses={200: _ANY},
    )
    def post(self, request, review_id: int):
        user = _supervisor(request)
        body = _body(request)
        review = services.review_score(
            user=user, review_id=review_id, scores=body.get("scores"), feedback=body.get("feedback"), request=request
        )
        return Response(review_dict(_shown(selectors.review_for(user, review.pk)), for_supervisor=True))


class ReviewDisputeDecisionView(APIView):
    @extend_schema(
        summary="Decide an agent's dispute of a review",
        request=inline_serializer(
            "DisputeDecisionIn",
            {"decision": serializers.ChoiceField(choices=["upheld", "voided"]), "note": serializers.CharField()},
        ),
        responses={200: _ANY},
    )
    def post(self, request, review_id: int):
        user = _supervisor(request)
        body = _body(request)
        review = services.review_dispute_decide(
            user=user, review_id=review_id, decision=body.get("decision"), note=body.get("note"), request=request
        )
        return Response(review_dict(_shown(selectors.review_for(user, review.pk)), for_supervisor=True))


class AgentSanctionsView(APIView):
    @extend_schema(
        summary="Warn or suspend an agent",
        request=inline_serializer(
            "SanctionIn",
            {
                "kind": serializers.ChoiceField(choices=Sanction.Kind.values),
                "reason": serializers.ChoiceField(choices=Sanction.Reason.values),
                "note": serializers.CharField(),
                "tickets": serializers.ListField(child=serializers.IntegerField()),
                "flag_id": serializers.IntegerField(required=False),
            },
        ),
        responses={201: _ANY},
    )
    def post(self, request, agent_id: int):
        user = _supervisor(request)
        body = _body(request)
        flag_id = body.get("flag_id")
        if flag_id is not None and (isinstance(flag_id, bool) or not isinstance(flag_id, int)):
            raise DomainError("invalid_flag", "flag_id must be a case id.", status=422, fields={"flag_id": ["An id."]})
        sanction = services.sanction_issue(
            user=user,
            agent_id=agent_id,
            kind=body.get("kind"),
            reason=body.get("reason"),
            note=body.get("note"),
            ticket_ids=body.get("tickets"),
            flag_id=flag_id,
            request=request,
        )
        return Response(sanction_dict(sanction), status=status.HTTP_201_CREATED)


class SanctionLiftView(APIView):
    @extend_schema(
        summary="Lift a warning or suspension",
        request=inline_serializer("LiftIn", {"note": serializers.CharField()}),
        responses={200: _ANY},
    )
    def post(self, request, sanction_id: int):
        user = _supervisor(request)
        sanction = services.sanction_lift(
            user=user, sanction_id=sanction_id, note=_body(request).get("note"), request=request
        )
        return Response(sanction_dict(sanction))


class AppealsView(APIView):
    @extend_schema(
        summary="Open appeals of the brands you supervise",
        responses={
            200: inline_serializer("AppealList", {"results": serializers.ListField(child=serializers.JSONField())})
        },
    )
    def get(self, request):
        user = _supervisor(request)
        return Response({"results": [appeal_dict(a) for a in selectors.open_appeals(user)], "next": None})


class AppealDecideView(APIView):
    @extend_schema(
        summary="Decide an appeal",
        request=inline_serializer(
            "AppealDecisionIn",
            {"decision": serializers.ChoiceField(choices=["upheld", "overturned"]), "note": serializers.CharField()},
        ),
        responses={200: _ANY},
    )
    def post(self, request, appeal_id: int):
        user = _supervisor(request)
        body = _body(request)
        appeal = services.appeal_decide(
            user=user, appeal_id=appeal_id, decision=body.get("decision"), note=body.get("note"), request=request
        )
        return Response(appeal_dict(_shown(selectors.appeal_for(user, appeal.pk))))


class FlagsView(APIView):
    @extend_schema(
        summary="Open quality cases of the agents you supervise",
        responses={
            200: inline_serializer("FlagList", {"results": serializers.ListField(child=serializers.JSONField())})
        },
    )
    def get(self, request):
        user = _supervisor(request)
        return Response({"results": [flag_dict(f) for f in selectors.open_flags(user)], "next": None})


class FlagDismissView(APIView):
    @extend_schema(
        summary="Close a quality case without action",
        request=inline_serializer("FlagDismissIn", {"note": serializers.CharField()}),
        responses={200: _ANY},
    )
    def post(self, request, flag_id: int):
        user = _supervisor(request)
        flag = services.flag_dismiss(user=user, flag_id=flag_id, note=_body(request).get("note"), request=request)
        return Response(flag_dict(flag))
