from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from agents import api as agents_api
from agents import views as agent_views
from agents.quality import api as quality_api
from marketplace import api as core_api
from marketplace import views as core_views
from payouts import api as payouts_api
from payouts import urls as payouts_urls
from tasks import api as tasks_api
from tasks import ops_api, shifts_api, views_shifts
from tasks import staffing_api as tasks_staffing_api
from tasks import views as tasks_views
from tasks import views_analytics as analytics_views
from tasks import views_ops as ops_views
from tasks import views_shift_planning as shift_planning_views
from tasks import views_staffing as tasks_staffing_views

api_v1 = [
    path("auth/token/", core_api.AuthTokenView.as_view(), name="api-auth-token"),
    path("tickets/", tasks_api.TicketListCreateView.as_view(), name="api-tickets"),
    path("tickets/<int:ticket_id>/", tasks_api.TicketDetailView.as_view(), name="api-ticket-detail"),
    path("tickets/<int:ticket_id>/cancel/", tasks_api.TicketCancelView.as_view(), name="api-ticket-cancel"),
    path("me/push-subscriptions/", agents_api.PushSubscriptionView.as_view(), name="api-push-subscriptions"),
    path("me/", shifts_api.MeView.as_view(), name="api-me"),
    path("me/bookings/", shifts_api.MyBookingsView.as_view(), name="api-me-bookings"),
    path("shifts/", shifts_api.ShiftsView.as_view(), name="api-shifts"),
    path("shifts/<int:shift_id>/bookings/", shifts_api.ShiftBookView.as_view(), name="api-shift-book"),
    path("shifts/<int:shift_id>/cancel/", shifts_api.ShiftCancelView.as_view(), name="api-shift-cancel"),
    path("bookings/<int:booking_id>/cancel/", shifts_api.BookingCancelView.as_view(), name="api-booking-cancel"),
    path("me/earnings/", payouts_api.EarningsView.as_view(), name="api-me-earnings"),
    path("me/payouts/", payouts_api.PayoutsView.as_view(), name="api-me-payouts"),
    path("me/payout-method/", payouts_api.PayoutMethodView.as_view(), name="api-me-payout-method"),
    path("me/quality/", quality_api.MeQualityView.as_view(), name="api-me-quality"),
    path(
        "me/reviews/<int:review_id>/acknowledge/",
        quality_api.MyReviewAcknowledgeView.as_view(),
        name="api-me-review-acknowledge",
    ),
    path(
        "me/reviews/<int:review_id>/dispute/", quality_api.MyReviewDisputeView.as_view(), name="api-me-review-dispute"
    ),
    path(
        "me/sanctions/<int:sanction_id>/appeal/",
        quality_api.MySanctionAppealView.as_view(),
        name="api-me-sanction-appeal",
    ),
    path("reviews/", quality_api.ReviewsView.as_view(), name="api-reviews"),
    path("reviews/<int:review_id>/score/", quality_api.ReviewScoreView.as_view(), name="api-review-score"),
    path(
        "reviews/<int:review_id>/dispute-decision/",
        quality_api.ReviewDisputeDecisionView.as_view(),
        name="api-review-dispute-decision",
    ),
    path("agents/<int:agent_id>/sanctions/", quality_api.AgentSanctionsView.as_view(), name="api-agent-sanctions"),
    path("sanctions/<int:sanction_id>/lift/", quality_api.SanctionLiftView.as_view(), name="api-sanction-lift"),
    path("appeals/", quality_api.AppealsView.as_view(), name="api-appeals"),
    path("appeals/<int:appeal_id>/decide/", quality_api.AppealDecideView.as_view(), name="api-appeal-decide"),
    path("quality-flags/", quality_api.FlagsView.as_view(), name="api-quality-flags"),
    path(
        "quality-flags/<int:flag_id>/dismiss/", quality_api.FlagDismissView.as_view(), name="api-quality-flag-dismiss"
    ),
    path("ops/tickets/<int:ticket_id>/reassign/", ops_api.ReassignView.as_view(), name="api-ops-reassign"),
    path("ops/agents/<int:agent_id>/note/", ops_api.AgentNoteView.as_view(), name="api-ops-agent-note"),
    path("ops/agents/<int:agent_id>/away/", ops_api.AgentAwayView.as_view(), name="api-ops-agent-away"),
    path("ops/intake/pause/", ops_api.IntakePauseView.as_view(), name="api-ops-intake-pause"),
    path("ops/intake/resume/", ops_api.IntakeResumeView.as_view(), name="api-ops-intake-resume"),
    path("ops/surge/", ops_api.SurgeView.as_view(), name="api-ops-surge"),
    path("staffing/", tasks_staffing_api.StaffingPlanView.as_view(), name="api-staffing"),
    path("staffing/erlang-c/", tasks_staffing_api.ErlangCView.as_view(), name="api-staffing-erlang-c"),
    path(
        "tickets/<int:ticket_id>/attachments/",
        tasks_api.TicketAttachmentUploadView.as_view(),
        name="api-ticket-attachments",
    ),
    path(
        "tickets/<int:ticket_id>/attachments/<int:attachment_id>/",
        tasks_api.TicketAttachmentView.as_view(),
        name="api-ticket-attachment",
    ),
]

urlpatterns = [
    path("", core_views.landing, name="landing"),
    path("after-login/", core_views.after_login, name="after-login"),
    path("after-two-factor-setup/", core_views.after_two_factor_setup, name="after-two-factor-setup"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", core_views.javascript_catalog, name="javascript-catalog"),
    path("agent/", agent_views.agent_app, name="agent-app"),
    path("agent/sw.js", agent_views.service_worker, name="agent-sw"),
    path("agent/", include(payouts_urls.agent_pages)),
    path("agent/shifts/", views_shifts.shifts, name="agent-shifts"),
    path("agent/shifts/<int:shift_id>/book/", views_shifts.shift_book, name="agent-shift-book"),
    path("agent/bookings/<int:booking_id>/cancel/", views_shifts.booking_cancel, name="agent-booking-cancel"),
    path("agent/quality/", agent_views.agent_quality, name="agent-quality"),
    path(
        "agent/quality/reviews/<int:review_id>/acknowledge/",
        agent_views.agent_quality_acknowledge,
        name="agent-quality-acknowledge",
    ),
    path(
        "agent/quality/reviews/<int:review_id>/dispute/",
        agent_views.agent_quality_dispute,
        name="agent-quality-dispute",
    ),
    path(
        "agent/quality/sanctions/<int:sanction_id>/appeal/",
        agent_views.agent_quality_appeal,
        name="agent-quality-appeal",
    ),
    path("apply/", agent_views.apply_start, name="apply-start"),
    path("apply/review/", agent_views.apply_review, name="apply-review"),
    path("apply/status/", agent_views.apply_status, name="apply-status"),
    path("apply/restart/", agent_views.apply_restart, name="apply-restart"),
    path("apply/assessment/<int:brand_id>/start/", agent_views.assessment_start, name="assessment-start"),
    path("apply/assessment/attempt/<int:attempt_id>/", agent_views.assessment_attempt, name="assessment-attempt"),
    path("apply/<slug:step>/", agent_views.apply_step, name="apply-step"),
    path("supervisor/", agent_views.supervisor_home, name="supervisor-home"),
    path("supervisor/applications/", agent_views.vetting_queue, name="vetting-queue"),
    path("supervisor/applications/<int:pk>/", agent_views.vetting_detail, name="vetting-detail"),
    path("supervisor/assessments/<int:attempt_id>/grade/", agent_views.assessment_grade, name="assessment-grade"),
    path("supervisor/tickets/<int:ticket_id>/", tasks_views.supervisor_ticket, name="supervisor-ticket"),
    path("supervisor/quality/", agent_views.quality_desk, name="supervisor-quality"),
    path("supervisor/reviews/", agent_views.review_queue, name="supervisor-reviews"),
    path("supervisor/reviews/<int:review_id>/", agent_views.review_detail, name="supervisor-review"),
    path("supervisor/agents/", agent_views.agents_directory, name="supervisor-agents"),
    path("supervisor/agents/<int:agent_id>/", agent_views.agent_detail, name="supervisor-agent"),
    path(
        "supervisor/agents/<int:agent_id>/quality/",
        agent_views.supervisor_agent_quality,
        name="supervisor-agent-quality",
    ),
    path("supervisor/audit/", agent_views.audit_page, name="supervisor-audit"),
    path("supervisor/audit/export.csv", agent_views.audit_export, name="supervisor-audit-export"),
    path("supervisor/appeals/<int:appeal_id>/", agent_views.appeal_detail, name="supervisor-appeal"),
    path("supervisor/live/", ops_views.supervisor_live, name="supervisor-live"),
    path("supervisor/staffing/", tasks_staffing_views.staffing_page, name="supervisor-staffing"),
    path("supervisor/analytics/", analytics_views.analytics_page, name="supervisor-analytics"),
    path("supervisor/analytics/tickets/", analytics_views.analytics_tickets, name="supervisor-analytics-tickets"),
    path("supervisor/shifts/", shift_planning_views.shift_planning, name="supervisor-shifts"),
    path("supervisor/shifts/<int:shift_id>/edit/", shift_planning_views.shift_edit, name="supervisor-shift-edit"),
    path("supervisor/shifts/<int:shift_id>/boost/", shift_planning_views.shift_boost, name="supervisor-shift-boost"),
    path("supervisor/shifts/<int:shift_id>/cancel/", shift_planning_views.shift_cancel, name="supervisor-shift-cancel"),
    path("supervisor/", include("payouts.supervisor_urls")),
    path("chat/<str:token>/", tasks_views.customer_chat, name="customer-chat"),
    path("chat/<str:token>/attachments/", tasks_views.customer_attachment_upload, name="customer-attachments"),
    path(
        "chat/<str:token>/attachments/<int:attachment_id>/",
        tasks_views.customer_attachment,
        name="customer-attachment",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", core_api.healthz, name="healthz"),
]

handler404 = "marketplace.views.not_found"
