"""REST endpoints: brand systems hand a conversation over and follow its status; agents send
files in their chats, and agents and supervisors download them."""

import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import AgentSkill
from marketplace.adapters import site_url
from marketplace.api import BrandApiKeyAuthentication, BrandThrottle, IsBrand
from marketplace.errors import DomainError, NotFound, error_body
from marketplace.idempotency import idempotent_response
from marketplace.masking import mask_sensitive

from . import frames, selectors, services
from .models import Customer, Ticket
from .views import TooManyUploads, attachment_response, upload_refusal, uploaded_file

LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
PRIORITIES = {label: value for value, label in Ticket.Priority.choices}


def _column_length(model, field: str) -> int:
    """A serializer field is never longer than the column it ends up in (else a 500)."""
    return model._meta.get_field(field).max_length


def _no_payment_data(value: str) -> str:
    if mask_sensitive(value) != value:
        raise serializers.ValidationError("This looks like a card number or IBAN; send a category code.")
    return value


class CustomerSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=_column_length(Customer, "external_id"))
    name = serializers.CharField(max_length=_column_length(Customer, "name"))
    email = serializers.EmailField(max_length=_column_length(Customer, "email"), required=False, allow_blank=True)


class TranscriptTurnSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["customer", "bot"])
    text = serializers.CharField(max_length=settings.MESSAGE_MAX_CHARS)
    at = serializers.DateTimeField(required=False, allow_null=True)


class TicketCreateSerializer(serializers.Serializer):
    customer = CustomerSerializer()
    # Only the primary subtag (2-3 letters) is stored, so 35 characters fit the 8 of the column.
    language = serializers.CharField(
        max_length=35,
        validators=[RegexValidator(LANGUAGE_TAG, "Use a BCP-47 language tag such as en, sv or pt-BR.")],
        help_text="BCP-47 tag; its primary subtag is used (en-GB -> en)",
    )
    subject = serializers.CharField(max_length=_column_length(Ticket, "subject"))
    category = serializers.SlugField(max_length=_column_length(Ticket, "category"), required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=list(PRIORITIES), required=False, default="normal")
    # Tags are matched against agents' skill codes.
    tags = serializers.ListField(
        child=serializers.SlugField(max_length=_column_length(AgentSkill, "code")), required=False, max_length=20
    )
    # With many=True, DRF hands max_length to the list; the stubs' Serializer signature lacks it.
    transcript = TranscriptTurnSerializer(many=True, required=False, max_length=500)  # type: ignore[call-arg]
    summary = serializers.CharField(max_length=settings.MESSAGE_MAX_CHARS, required=False, allow_blank=True)

    def validate_language(self, value: str) -> str:
        return value.split("-")[0].lower()

    # Category and tags are codes, not free text, so they are refused rather than masked:
    # a dashed card number is a valid slug.
    def validate_category(self, value: str) -> str:
        return _no_payment_data(value)

    def validate_tags(self, value: list[str]) -> list[str]:
        return [_no_payment_data(tag) for tag in value]

    def validate_priority(self, value: str) -> int:
        return PRIORITIES[value]

    def to_internal_value(self, data):
        result = super().to_internal_value(data)
        for turn in result.get("transcript") or []:
            if turn.get("at") is not None:
                turn["at"] = turn["at"].isoformat()
        return result


class TicketCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    customer_token = serializers.CharField()
    customer_chat_url = serializers.URLField()


class AgentNameSerializer(serializers.Serializer):
    display_name = serializers.CharField()


class TicketSerializer(serializers.ModelSerializer):
    agent = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = ["id", "status", "language", "agent", "created_at", "assigned_at", "resolved_at", "rating"]

    @extend_schema_field(AgentNameSerializer(allow_null=True))
    def get_agent(self, ticket) -> dict | None:
        return {"display_name": ticket.agent.display_name} if ticket.agent_id else None


class TicketListCreateView(APIView):
    authentication_classes = [BrandApiKeyAuthentication]
    permission_classes = [IsBrand]
    throttle_classes = [BrandThrottle]

    @extend_schema(
        request=TicketCreateSerializer,
        responses={201: TicketCreatedSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Retries with the same key get the first response back",
            )
        ],
    )
    def post(self, request):
        serializer = TicketCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (1 <= len(key) <= 255):
            raise DomainError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters.")

        def create() -> tuple[int, dict]:
            ticket = services.ticket_create(brand=request.auth, data=serializer.validated_data)
            return status.HTTP_201_CREATED, {
                "id": ticket.pk,
                "status": ticket.status,
                "customer_token": ticket.customer_token,
                "customer_chat_url": site_url(reverse("customer-chat", args=[ticket.customer_token])),
            }

        code, body = idempotent_response(brand=request.auth, key=key, payload=serializer.validated_data, respond=create)
        return Response(body, status=code)


class TicketDetailView(APIView):
    authentication_classes = [BrandApiKeyAuthentication]
    permission_classes = [IsBrand]
    throttle_classes = [BrandThrottle]

    @extend_schema(responses={200: TicketSerializer})
    def get(self, request, ticket_id: int):
        ticket = Ticket.objects.select_related("agent").filter(pk=ticket_id, brand=request.auth).first()
        if ticket is None:
            raise NotFound("ticket_not_found", "There is no such ticket for this brand.")
        return Response(TicketSerializer(ticket).data)


class TicketCancelView(APIView):
    """Withdraw a conversation (the customer left, or the AI assistant solved it after all)."""

    authentication_classes = [BrandApiKeyAuthentication]
    permission_classes = [IsBrand]
    throttle_classes = [BrandThrottle]

    @extend_schema(request=None, responses={200: TicketSerializer})
    def post(self, request, ticket_id: int):
        ticket = services.ticket_cancel(ticket_id=ticket_id, brand=request.auth)
        return Response(TicketSerializer(ticket).data)


# --- Chat attachments (agents and supervisors) -------------------------------------------------


class _AnyAccept(BaseContentNegotiation):
    """A file download answers whatever the browser's Accept says (an <img> asks for image/*)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An image (JPEG, PNG, WebP, GIF) or a PDF")


class TicketAttachmentUploadView(APIView):
    """A file sent by the agent working the chat (session or Token)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": AttachmentUploadSerializer}, responses={201: dict})
    def post(self, request, ticket_id: int):
        agent = selectors.agent_for_user(request.user)
        if agent is None:
            raise DomainError("forbidden", "Only agents send files in a chat.", status=403)
        refusal = upload_refusal(request, f"agent:{ticket_id}")
        if refusal is not None:
            response = Response(error_body(refusal.code, refusal.message), status=refusal.status)
            if isinstance(refusal, TooManyUploads):
                response["Retry-After"] = str(refusal.retry_after)
            return response
        message = services.attachment_send_agent(agent=agent, ticket_id=ticket_id, upload=uploaded_file(request))
        return Response(frames.message_frame(message), status=status.HTTP_201_CREATED)


class TicketAttachmentView(APIView):
    """Download a chat's file: the agent working the chat or a supervisor of its brand."""

    permission_classes = [IsAuthenticated]
    content_negotiation_class = _AnyAccept

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, ticket_id: int, attachment_id: int):
        attachment = selectors.user_attachment(request.user, ticket_id, attachment_id)
        if attachment is None:
            raise NotFound("attachment_not_found", "There is no such file in a chat of yours.")
        return attachment_response(attachment)
