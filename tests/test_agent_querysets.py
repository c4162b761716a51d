"""The one definition of "an agent who can take work" and of "an agent online"."""

import pytest

from agents.models import AgentProfile

from .factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("change", "can_take_work", "online"),
    [
        ({}, True, True),
        ({"status": AgentProfile.Status.AWAY}, False, True),
        ({"status": AgentProfile.Status.OFFLINE}, False, False),
        ({"suspended": True}, False, False),
        ({"connections": 0}, False, False),
        ({"load": 2, "capacity": 2}, False, True),
    ],
    ids=["ready", "away", "offline", "suspended", "no-socket", "full"],
)
def test_each_condition_decides_who_can_take_work_and_who_is_online(brand, change, can_take_work, online):
    agent = AgentFactory(brands=[brand], available=True, capacity=2)
    AgentProfile.objects.filter(pk=agent.pk).update(**change)

    assert AgentProfile.objects.can_take_work().filter(pk=agent.pk).exists() is can_take_work
    assert AgentProfile.objects.online().filter(pk=agent.pk).exists() is online
