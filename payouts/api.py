"""REST endpoints of the agent's money: earnings, cash-outs and the payout method.

Session (the agent app) or `Authorization: Token`; agents only, and only their own money:
every query is filtered by the caller's own agent id, so there is no id to guess.
"""

import base64
import binascii

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from marketplace.errors import DomainError, Forbidden

from . import selectors, services
from .models import Payout, PayoutMethod
from .services.terms import agent_currencies

PAGE_SIZE = 50


def _agent(request):
    """The caller's agent profile (through the user's reverse accessor: this app does not
    import agents), or 403 not_an_agent."""
    agent = getattr(request.user, "agent_profile", None)
    if agent is None:
        raise Forbidden("not_an_agent", "Only approved agents have earnings.")
    return agent


def _currency(request, agent_id: int) -> str:
    currencies = agent_currencies(agent_id=agent_id)
    asked = request.query_params.get("currency", "").strip().upper()
    if asked:
        if asked not in currencies:
            raise DomainError("currency_mismatch", f"You have no earnings in {asked}.", status=422)
        return asked
    return currencies[0] if currencies else "SEK"


class MoneySerializer(serializers.Serializer):
    amount = serializers.CharField(help_text='Decimal string in the major unit, such as "60.00"')
    currency = serializers.CharField()


class EntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["case", "reversal", "floor_topup", "compensation"])
    amount = MoneySerializer()
    ticket_id = serializers.IntegerField(allow_null=True, help_text="null for a shift's earning")
    shift_id = serializers.IntegerField(allow_null=True, help_text="the shift of a floor top-up or compensation")
    status = serializers.ChoiceField(choices=["pending", "available", "paid", "reversed"])
    available_at = serializers.DateTimeField()
    explanation = serializers.CharField()
    hold_reason = serializers.CharField(allow_null=True)
    calculation = serializers.DictField(allow_null=True)
    rating = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class EarningsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    pending = MoneySerializer()
    available = MoneySerializer()
    in_payout = MoneySerializer()
    paid_out = MoneySerializer()
    today = MoneySerializer()
    this_week = MoneySerializer()
    entries = EntrySerializer(many=True)
    next = serializers.CharField(allow_null=True)


def _cursor(raw: str) -> int | None:
    if not raw:
        return None
    try:
        decoded = base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)).decode()
        if not decoded.startswith("e") or not decoded[1:].isdigit():
            raise ValueError
        return int(decoded[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DomainError("invalid_cursor", "This cursor is not one we gave out.", status=400) from None


def _encode_cursor(earning_id: int) -> str:
    return base64.urlsafe_b64encode(f"e{earning_id}".encode()).decode().rstrip("=")


class EarningsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("currency", str, description="ISO 4217 code; default: the agent's first currency"),
            OpenApiParameter("cursor", str, description="From `next`"),
        ],
        responses={200: EarningsSerializer},
    )
    def get(self, request):
        agent = _agent(request)
        currency = _currency(request, agent.pk)
        before = _cursor(request.query_params.get("cursor", ""))
        summary = selectors.earnings_summary(agent_id=agent.pk, currency=currency)
        lines = [line for line in summary.lines if before is None or line.earning.pk < before]
        page = lines[:PAGE_SIZE]
        nxt = None
        if len(lines) > PAGE_SIZE:
            query = request.query_params.copy()
            query["cursor"] = _encode_cursor(page[-1].earning.pk)
            nxt = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        body = {
            "currency": currency,
            "pending": selectors.money(summary.pending, currency),
            "available": selectors.money(summary.available, currency),
            "in_payout": selectors.money(summary.in_payout, currency),
            "paid_out": selectors.money(summary.paid_out, currency),
            "today": selectors.money(summary.today, currency),
            "this_week": selectors.money(summary.this_week, currency),
            "entries": [selectors.entry_dict(line) for line in page],
            "next": nxt,
        }
        return Response(body)


class PayoutRequestSerializer(serializers.Serializer):
    amount = serializers.CharField(max_length=30, help_text='Decimal string, such as "150.00"')
    currency = serializers.CharField(
        max_length=3, required=False, help_text="Needed only when the agent is paid in several currencies"
    )


class PayoutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Payout.Status.values)
    amount = MoneySerializer()
    fee = MoneySerializer()
    net = MoneySerializer(help_text="What reaches the agent: amount - fee")
    method = inline_serializer("PayoutMethodRef", {"kind": serializers.CharField(), "masked": serializers.CharField()})
    weekly = serializers.BooleanField()
    reference = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)


class PayoutPagination(CursorPagination):
    page_size = PAGE_SIZE
    ordering = "-pk"


class PayoutsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="A retry returns the first payout",
            )
        ],
        request=PayoutRequestSerializer,
        responses={
            201: PayoutSerializer,
            200: OpenApiResponse(PayoutSerializer, description="a retry with the same Idempotency-Key and body"),
        },
    )
    def post(self, request):
        agent = _agent(request)
        data = PayoutRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payout, created = services.payout_request(
            agent_id=agent.pk,
            amount=data.validated_data["amount"],
            currency=(data.validated_data.get("currency") or "").upper() or None,
            key=request.headers.get("Idempotency-Key", ""),
            suspended=agent.suspended,
        )
        payout.refresh_from_db()
        return Response(
            selectors.payout_dict(payout), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        parameters=[OpenApiParameter("cursor", str, description="From `next`")],
        responses={
            200: inline_serializer(
                "PayoutPage", {"results": PayoutSerializer(many=True), "next": serializers.CharField(allow_null=True)}
            )
        },
    )
    def get(self, request):
        agent = _agent(request)
        paginator = PayoutPagination()
        rows = paginator.paginate_queryset(
            Payout.objects.filter(agent_id=agent.pk).select_related("method"), request, view=self
        )
        return Response({"results": [selectors.payout_dict(p) for p in rows or []], "next": paginator.get_next_link()})


class PayoutMethodInSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=200,
        write_only=True,
        help_text="The agent's current password: where the money goes is not changed by a token alone",
    )
    kind = serializers.ChoiceField(choices=PayoutMethod.Kind.values)
    holder_name = serializers.CharField(max_length=70)
    iban = serializers.CharField(max_length=50, required=False, allow_blank=True)
    bic = serializers.CharField(max_length=20, required=False, allow_blank=True)
    stripe_account = serializers.CharField(max_length=64, required=False, allow_blank=True)


class PayoutMethodOutSerializer(serializers.Serializer):
    kind = serializers.CharField()
    holder_name = serializers.CharField()
    masked = serializers.CharField()
    created_at = serializers.DateTimeField()


def _method_dict(method: PayoutMethod) -> dict:
    return {
        "kind": method.kind,
        "holder_name": method.holder_name,
        "masked": method.masked,
        "created_at": method.created_at,
    }


class PasswordCheckThrottle(SimpleRateThrottle):
    scope = "auth_token_account"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "payout_method_password", "ident": request.user.pk}


class PayoutMethodView(APIView):
    """The agent's payout method: shown masked, replaced whole (the previous one is kept on
    record for the payouts that used it)."""

    @extend_schema(responses={200: PayoutMethodOutSerializer, 404: OpenApiResponse(description="no method yet")})
    def get(self, request):
        agent = _agent(request)
        method = services.payout_method_active(agent_id=agent.pk)
        if method is None:
            raise DomainError("no_payout_method", "No payout method yet.", status=404)
        return Response(PayoutMethodOutSerializer(_method_dict(method)).data)

    def get_throttles(self):
        # A stolen token must not turn this into a password oracle: tries count per account
        # like the token login's.
        return [PasswordCheckThrottle()] if self.request.method == "PUT" else []

    @extend_schema(request=PayoutMethodInSerializer, responses={200: PayoutMethodOutSerializer})
    def put(self, request):
        agent = _agent(request)
        data = PayoutMethodInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if not request.user.check_password(fields.pop("password")):
            raise Forbidden("reauthentication_required", "Enter your current password to change where you are paid.")
        method = services.payout_method_set(agent_id=agent.pk, **fields)
        return Response(PayoutMethodOutSerializer(_method_dict(method)).data)
