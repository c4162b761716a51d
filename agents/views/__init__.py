"""Pages of the agents app, one module per audience: the agent's app and quality screen,
the applicant's journey, the supervisors' vetting desk. Re-exported here for marketplace/urls.py."""

from .agent import agent_app, service_worker
from .applicant import (
    apply_restart,
    apply_review,
    apply_start,
    apply_status,
    apply_step,
    assessment_attempt,
    assessment_start,
)
from .quality_agent import agent_quality, agent_quality_acknowledge, agent_quality_appeal, agent_quality_dispute
from .supervisor import assessment_grade, supervisor_home, vetting_detail, vetting_queue

__all__ = [
    "agent_app",
    "agent_quality",
    "agent_quality_acknowledge",
    "agent_quality_appeal",
    "agent_quality_dispute",
    "apply_restart",
    "apply_review",
    "apply_start",
    "apply_status",
    "apply_step",
    "assessment_attempt",
    "assessment_grade",
    "assessment_start",
    "supervisor_home",
    "service_worker",
    "vetting_detail",
    "vetting_queue",
]
