"""The supervisors' pay pages, included under /supervisor/ by the project's URLs."""

from django.urls import path

from .views import supervisor as views

supervisor_pages = [
    path("payouts/", views.payouts_home, name="supervisor-payouts"),
    path("payouts/export.csv", views.earnings_export, name="supervisor-payouts-export"),
    path("payouts/batches/<int:batch_id>/", views.batch_detail, name="supervisor-payout-batch"),
    path("payouts/batches/<int:batch_id>/approve/", views.batch_approve, name="supervisor-payout-batch-approve"),
    path("payouts/batches/<int:batch_id>/reject/", views.batch_reject, name="supervisor-payout-batch-reject"),
    path("payouts/batches/<int:batch_id>/bank-file/", views.batch_bank_file, name="supervisor-payout-batch-bank-file"),
    path("payouts/bank-files/", views.bank_file_create, name="supervisor-bank-file-create"),
    path(
        "payouts/bank-files/<int:bank_file_id>/download/",
        views.bank_file_download,
        name="supervisor-bank-file-download",
    ),
    path(
        "payouts/bank-files/<int:bank_file_id>/confirm-paid/",
        views.bank_file_confirm,
        name="supervisor-bank-file-confirm",
    ),
    path("payouts/<int:payout_id>/fail/", views.payout_fail, name="supervisor-payout-fail"),
]

# What include("payouts.supervisor_urls") reads.
urlpatterns = supervisor_pages
