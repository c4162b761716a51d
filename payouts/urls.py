"""The agent's pay pages, included under /agent/ by the project's URLs."""

from django.urls import path

from . import views

agent_pages = [
    path("earnings/", views.earnings, name="agent-earnings"),
    path("earnings/cash-out/", views.cashout, name="agent-cashout"),
    path("earnings/statement/<str:month>.csv", views.statement_csv, name="agent-statement-csv"),
    path("earnings/statement/<str:month>.pdf", views.statement_pdf, name="agent-statement-pdf"),
    path("payout-method/", views.payout_method, name="agent-payout-method"),
]
