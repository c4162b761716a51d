"""REST endpoints of the agent app: the browser's Web Push subscription."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.errors import Forbidden

from . import selectors, services
from .models import AgentProfile, PushSubscription


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.CharField(max_length=200, help_text="The browser's P-256 public key, base64url")
    auth = serializers.CharField(max_length=100, help_text="The browser's 16-byte auth secret, base64url")


class PushSubscriptionInSerializer(serializers.Serializer):
    """What `PushSubscription.toJSON()` gives in the browser (`expirationTime` is ignored)."""

    endpoint = serializers.CharField(max_length=PushSubscription._meta.get_field("endpoint").max_length)
    keys = PushKeysSerializer()


class PushSubscriptionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.CharField()
    created_at = serializers.DateTimeField()


class PushSubscriptionDeleteSerializer(serializers.Serializer):
    endpoint = serializers.CharField(max_length=PushSubscription._meta.get_field("endpoint").max_length)


def _agent(request) -> AgentProfile:
    agent = selectors.agent_for_user(user=request.user)
    if agent is None:
        raise Forbidden("not_an_agent", "Only approved agents receive offers.")
    return agent


class PushSubscriptionView(APIView):
    """Session (the agent app) or `Authorization: Token`; agents only."""

    @extend_schema(
        request=PushSubscriptionInSerializer,
        responses={
            201: PushSubscriptionOutSerializer,
            200: OpenApiResponse(PushSubscriptionOutSerializer, description="the endpoint was already stored"),
        },
    )
    def post(self, request):
        agent = _agent(request)
        data = PushSubscriptionInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription, created = services.push_subscription_save(
            agent=agent,
            endpoint=data.validated_data["endpoint"],
            p256dh=data.validated_data["keys"]["p256dh"],
            auth=data.validated_data["keys"]["auth"],
            user_agent=request.headers.get("User-Agent", ""),
        )
        body = PushSubscriptionOutSerializer(subscription).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=PushSubscriptionDeleteSerializer, responses={204: None})
    def delete(self, request):
        agent = _agent(request)
        data = PushSubscriptionDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.push_subscription_delete(agent=agent, endpoint=data.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)
