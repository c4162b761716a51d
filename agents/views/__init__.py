"""Pages of the agents app, one module per audience: the agent's app and quality screen,
the applicant's journey, the supervisors' home, vetting desk, quality pages, agents
directory and audit log. Re-exported here for marketplace/urls.py."""

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
from .quality_supervisor import appeal_detail, quality_desk, review_detail, review_queue, supervisor_agent_quality
from .supervisor import assessment_grade, supervisor_home, vetting_detail, vetting_queue
from .supervisor_audit import audit_export, audit_page
from .supervisor_directory import agent_detail, agents_directory

__all__ = [
    "agent_app",
    "agent_detail",
    "agent_quality",
    "agent_quality_acknowledge",
    "agent_quality_appeal",
    "agent_quality_dispute",
    "agents_directory",
    "appeal_detail",
    "apply_restart",
    "apply_review",
    "apply_start",
    "apply_status",
    "apply_step",
    "assessment_attempt",
    "assessment_grade",
    "assessment_start",
    "audit_export",
    "audit_page",
    "quality_desk",
    "review_detail",
    "review_queue",
    "supervisor_home",
    "service_worker",
    "supervisor_agent_quality",
    "vetting_detail",
    "vetting_queue",
]
