from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from agents.models import AgentProfile


@login_required
def agent_app(request):
    agent = AgentProfile.objects.filter(user=request.user).prefetch_related("brands", "languages").first()
    if agent is None:
        return render(request, "agent/not_agent.html", status=403)
    return render(request, "agent/app.html", {"agent": agent, "ws_path": "/ws/agent/"})
