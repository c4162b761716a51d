"""The agent's pay pages, included under /agent/ by the project's URLs."""

from django.urls import path

from .views import agent, statements

agent_pages = [
    path("earnings/", agent.earnings, name="agent-earnings"),
    path("earnings/cash-out/", agent.cashout, name="agent-cashout"),
    path("earnings/statement/<str:month>.csv", statements.statement_csv, name="agent-statement-csv"),
    path("earnings/statement/<str:month>.pdf", statements.statement_pdf, name="agent-statement-pdf"),
    path("payout-method/", agent.payout_method, name="agent-payout-method"),
]
