"""The supervisors' vetting queue filters and pages in the database: a long queue costs one
count and one page of rows, whatever its length."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import selectors
from agents.models import Application
from marketplace.models import User

from .factories import UserFactory
from .test_applications import answers_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _supervisors_without_mfa(settings):
    settings.SUPERVISOR_MFA_REQUIRED = False


def sent_application(brand, *, email: str, status=Application.Status.SUBMITTED, languages=("sv", "en")) -> Application:
    answers = answers_for(brand)
    answers["languages"]["languages"] = [{"code": code, "proficiency": "fluent"} for code in languages]
    return Application.objects.create(
        user=UserFactory(email=email, role=User.Role.APPLICANT),
        answers=answers,
        status=status,
        submitted_at=timezone.now(),
    )


def queue_ids(client, query: str = "") -> list[int]:
    return [
        row["application"].pk for row in client.get(f"/supervisor/applications/{query}").context["page"].object_list
    ]


def test_the_queue_reads_one_page_of_rows_from_the_database(client, supervisor, brand):
    for n in range(30):
        sent_application(brand, email=f"a{n}@example.test")
    client.force_login(supervisor)

    with CaptureQueriesContext(connection) as queries:
        page = client.get("/supervisor/applications/?page=2").context["page"]

    assert page.number == 2 and page.paginator.count == 30 and len(page.object_list) == 5
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "agents_application"' in q["sql"]]
    rows = [sql for sql in reads if "COUNT(" not in sql]
    # Only the second page's rows are read (the count is one more query), never all 30.
    assert rows and all(" LIMIT 5 OFFSET 25" in sql for sql in rows), rows


def test_page_links_keep_the_filters(client, supervisor, brand):
    for n in range(26):
        sent_application(brand, email=f"b{n}@example.test")
    client.force_login(supervisor)

    page = client.get("/supervisor/applications/?status=open&language=sv").content.decode()

    assert 'href="?status=open&amp;brand=&amp;language=sv&amp;page=2"' in page
    assert len(client.get("/supervisor/applications/?status=open&language=sv&page=2").context["page"].object_list) == 1


def test_filter_values_in_page_links_are_url_encoded(client, supervisor, brand):
    for n in range(26):
        sent_application(brand, email=f"c{n}@example.test")
    client.force_login(supervisor)

    # An unknown status shows every sent application; the link must carry it as one value.
    page = client.get("/supervisor/applications/", {"status": "open&page=9"}).content.decode()

    assert "status=open%26page%3D9&amp;brand=&amp;language=&amp;page=2" in page


def test_the_brand_filter_keeps_applicants_of_that_brand(client, supervisor, brand, other_brand):
    other_brand.supervisors.add(supervisor)
    ours = sent_application(brand, email="ours@example.test")
    theirs = sent_application(other_brand, email="theirs@example.test")
    client.force_login(supervisor)

    assert queue_ids(client) == [ours.pk, theirs.pk]
    assert queue_ids(client, f"?brand={other_brand.pk}") == [theirs.pk]


def test_a_brand_filter_outside_the_supervisors_brands_shows_nothing(client, supervisor, brand, other_brand):
    sent_application(brand, email="ours@example.test")
    sent_application(other_brand, email="theirs@example.test")
    client.force_login(supervisor)

    assert queue_ids(client, f"?brand={other_brand.pk}") == []


def test_the_status_filter_chooses_between_waiting_decided_and_all(client, supervisor, brand):
    waiting = sent_application(brand, email="w@example.test")
    asked = sent_application(brand, email="i@example.test", status=Application.Status.INFO_REQUESTED)
    approved = sent_application(brand, email="a@example.test", status=Application.Status.APPROVED)
    sent_application(brand, email="d@example.test", status=Application.Status.DRAFT)
    client.force_login(supervisor)

    assert queue_ids(client) == [waiting.pk, asked.pk]
    assert queue_ids(client, "?status=approved") == [approved.pk]
    assert queue_ids(client, "?status=all") == [waiting.pk, asked.pk, approved.pk]


def test_the_language_filter_matches_a_whole_code_only(client, supervisor, brand):
    swedish = sent_application(brand, email="sv@example.test", languages=("sv",))
    sent_application(brand, email="en@example.test", languages=("en",))
    client.force_login(supervisor)

    assert queue_ids(client, "?language=sv") == [swedish.pk]
    assert queue_ids(client, "?language=s") == []


def test_an_application_without_brand_answers_is_in_no_queue(supervisor, brand):
    broken = sent_application(brand, email="x@example.test")
    Application.objects.filter(pk=broken.pk).update(answers={"profile": {"display_name": "X"}})

    assert list(selectors.vetting_applications(user=supervisor, status="all")) == []


def test_a_supervisor_of_no_brand_sees_an_empty_queue(client, brand):
    sent_application(brand, email="y@example.test")
    lonely = UserFactory(email="lonely@example.test", role=User.Role.SUPERVISOR)
    client.force_login(lonely)

    assert queue_ids(client) == []
