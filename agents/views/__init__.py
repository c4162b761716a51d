"""Pages of the agents app, one module per audience: the agent's app, the applicant's
journey, the supervisors' home, vetting desk, quality pages, agents directory and audit log. Re-exported here for marketplace/urls.py."""

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
from .quality_supervisor import agent_quality, appeal_detail, quality_desk, review_detail, review_queue
from .supervisor import assessment_grade, supervisor_home, vetting_detail, vetting_queue
from .supervisor_audit import audit_export, audit_page
from .supervisor_directory import agent_detail, agents_directory

__all__ = [
    "agent_app",
    "agent_detail",
    "agent_quality",
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
    "vetting_detail",
    "vetting_queue",
]
