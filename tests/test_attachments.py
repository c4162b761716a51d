"""Files in a chat: images and PDFs from both sides, checked by their content, stored
through the storage API and downloaded only by the chat's customer, its agent or a
supervisor of its brand."""

import io

import pytest
from channels.db import database_sync_to_async
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from tasks import services
from tasks.models import Attachment, Message
from tasks.realtime import agent_group, customer_group

from .chat import assign, assigned_ticket
from .factories import TicketFactory
from .windows import away_from_window_edge
from .ws import agent_socket, customer_socket, drain, everything_sent

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def chat(db, agent, brand):
    return assign(agent, brand)


def customer_upload(ticket, name: str, content: bytes, content_type: str = "application/octet-stream"):
    return Client().post(f"/chat/{ticket.customer_token}/attachments/", {"file": upload(name, content, content_type)})


def agent_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- sending ----------------------------------------------------------------------------------


def test_customer_sends_an_image_shown_through_their_chat_link(chat):
    response = customer_upload(chat, "receipt.png", png(), "image/png")
    assert response.status_code == 201, response.content
    frame = response.json()
    attachment = Attachment.objects.get()
    assert frame["type"] == "message" and frame["sender"] == "customer" and frame["text"] == ""
    assert frame["attachment"] == {
        "url": f"/chat/{chat.customer_token}/attachments/{attachment.pk}/",
        "name": "receipt.png",
        "content_type": "image/png",
        "size": len(png()),
    }
    assert default_storage.exists(attachment.storage_name)
    assert "receipt" not in attachment.storage_name  # a random name on disk
    assert Message.objects.get(attachment=attachment).ticket_id == chat.pk


def test_agent_sends_a_pdf_over_the_api(chat, agent):
    response = agent_client(agent.user).post(
        f"/api/v1/tickets/{chat.pk}/attachments/", {"file": upload("steps.pdf", PDF)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    attachment = Attachment.objects.get()
    assert response.json()["attachment"]["url"] == f"/api/v1/tickets/{chat.pk}/attachments/{attachment.pk}/"
    assert attachment.content_type == "application/pdf"
    assert Message.objects.get(attachment=attachment).sender == "agent"


def test_agent_sends_with_a_login_token(chat, agent):
    from marketplace.services import api_token_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=agent.user)[0]}")
    response = client.post(
        f"/api/v1/tickets/{chat.pk}/attachments/", {"file": upload("a.png", png())}, format="multipart"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("photo.png", b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "image/png"),  # a program, renamed
        ("statement.pdf", b"<!doctype html><script>alert(1)</script>", "application/pdf"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8, "image/png"),
        ("empty.gif", b"", "image/gif"),
    ],
)
def test_a_file_whose_content_is_not_an_image_or_pdf_is_refused(chat, name, content, content_type):
    response = customer_upload(chat, name, content, content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "attachment_type_not_allowed"
    assert not Attachment.objects.exists() and not Message.objects.exists()


def test_a_file_over_the_limit_is_refused_with_413(chat, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    response = customer_upload(chat, "big.png", png((64, 64)), "image/png")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "attachment_too_large"
    assert not Attachment.objects.exists()


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(chat, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    response = customer_upload(chat, "big.pdf", PDF + b"x" * 200_000)
    assert response.status_code == 413


def test_a_card_number_in_the_file_name_is_masked(chat):
    response = customer_upload(chat, "../card 4111 1111 1111 1111.png", png(), "image/png")
    assert response.status_code == 201
    name = Attachment.objects.get().original_name
    assert "4111 1111" not in name and name.endswith("1111.png") and "/" not in name


def test_upload_without_a_file_is_invalid(chat):
    response = Client().post(f"/chat/{chat.customer_token}/attachments/", {})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_customer_cannot_send_into_a_finished_chat(chat, agent):
    services.ticket_resolve(agent=agent, ticket_id=chat.pk)
    response = customer_upload(chat, "late.png", png(), "image/png")
    assert response.status_code == 409 and response.json()["error"]["code"] == "ticket_not_open"
    assert not Attachment.objects.exists()


def test_uploads_are_rate_limited_per_chat(chat, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "attachments": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    away_from_window_edge(60)
    codes = [customer_upload(chat, f"{n}.png", png(), "image/png").status_code for n in range(3)]
    assert codes == [201, 201, 429]
    refused = customer_upload(chat, "x.png", png(), "image/png")
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused["Retry-After"]) >= 1


# --- who may send ------------------------------------------------------------------------------


class RecordingStorage(FileSystemStorage):
    """The file-system storage, noting every file written through it."""

    written: list[str] = []

    def _save(self, name, content):
        RecordingStorage.written.append(name)
        return super()._save(name, content)


def test_outsider_agent_cannot_send_into_another_agents_chat(chat, agent2, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "tests.test_attachments.RecordingStorage"}}
    RecordingStorage.written = []
    response = agent_client(agent2.user).post(
        f"/api/v1/tickets/{chat.pk}/attachments/", {"file": upload("a.png", png())}, format="multipart"
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "ticket_not_found"
    assert not Attachment.objects.exists()
    assert RecordingStorage.written == []  # refused before anything was written, not written and deleted


def test_anonymous_and_non_agents_cannot_send_as_an_agent(chat, supervisor):
    anonymous = APIClient().post(f"/api/v1/tickets/{chat.pk}/attachments/", {"file": upload("a.png", png())})
    assert anonymous.status_code == 401
    other = agent_client(supervisor).post(
        f"/api/v1/tickets/{chat.pk}/attachments/", {"file": upload("a.png", png())}, format="multipart"
    )
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"


def test_an_unknown_chat_link_cannot_send(db):
    response = Client().post("/chat/not-a-token/attachments/", {"file": upload("a.png", png())})
    assert response.status_code == 404 and response.json()["error"]["code"] == "ticket_not_found"


# --- downloading -------------------------------------------------------------------------------


@pytest.fixture
def image(chat):
    customer_upload(chat, "receipt.png", png(), "image/png")
    return Attachment.objects.get()


def test_customer_downloads_an_image_inline_with_its_checked_type(chat, image):
    response = Client().get(f"/chat/{chat.customer_token}/attachments/{image.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert b"".join(response.streaming_content) == png()


def test_a_pdf_is_downloaded_as_an_attachment(chat, agent):
    agent_client(agent.user).post(
        f"/api/v1/tickets/{chat.pk}/attachments/", {"file": upload("steps.pdf", PDF)}, format="multipart"
    )
    pdf = Attachment.objects.get()
    response = Client().get(f"/chat/{chat.customer_token}/attachments/{pdf.pk}/")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment") and "steps.pdf" in response["Content-Disposition"]


def test_the_agent_and_a_brand_supervisor_download_through_the_api(chat, image, agent, supervisor):
    url = f"/api/v1/tickets/{chat.pk}/attachments/{image.pk}/"
    client = Client()
    client.force_login(agent.user)
    # What a browser's <img> asks for.
    response = client.get(url, HTTP_ACCEPT="image/avif,image/webp,image/*,*/*;q=0.8")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert agent_client(supervisor).get(url).status_code == 200


def test_another_chat_link_cannot_download(chat, image, brand):
    other = TicketFactory(brand=brand)
    response = Client().get(f"/chat/{other.customer_token}/attachments/{image.pk}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "attachment_not_found"


def test_another_agent_cannot_download(chat, image, agent2, outsider_agent):
    for user in (agent2.user, outsider_agent.user):
        response = agent_client(user).get(f"/api/v1/tickets/{chat.pk}/attachments/{image.pk}/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "attachment_not_found"


def test_anonymous_cannot_download_through_the_api(chat, image):
    assert APIClient().get(f"/api/v1/tickets/{chat.pk}/attachments/{image.pk}/").status_code == 401


def test_the_file_is_not_reachable_under_a_public_media_url(chat, image):
    assert Client().get(f"/media/{image.storage_name}").status_code == 404


# --- the frame -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_both_sockets_receive_the_message_with_their_own_download_link(agent, brand):
    ticket = await assigned_ticket(agent, brand)
    agent_ws = await agent_socket(agent.user)
    customer = await customer_socket(ticket.customer_token)
    await drain(agent_ws)
    await drain(customer)
    sent = await database_sync_to_async(services.attachment_send_customer)(
        ticket=ticket, upload=upload("receipt.png", png(), "image/png")
    )
    to_agent = [f for f in await everything_sent(agent_ws, agent_group(agent.pk)) if f["type"] == "message"]
    to_customer = [f for f in await everything_sent(customer, customer_group(ticket.pk)) if f["type"] == "message"]
    assert to_agent[0]["id"] == to_customer[0]["id"] == sent.pk
    assert to_agent[0]["attachment"]["url"] == f"/api/v1/tickets/{ticket.pk}/attachments/{sent.attachment_id}/"
    assert to_customer[0]["attachment"]["url"] == f"/chat/{ticket.customer_token}/attachments/{sent.attachment_id}/"
    assert ticket.customer_token not in str(to_agent)  # the chat link is the customer's credential

    # And after a reconnect, in the snapshots.
    await agent_ws.disconnect()
    again = await agent_socket(agent.user)
    snapshot = await everything_sent(again, agent_group(agent.pk))
    assigned = next(f for f in snapshot if f["type"] == "ticket.assigned")
    assert assigned["ticket"]["messages"][-1]["attachment"]["name"] == "receipt.png"
    await again.disconnect()
    await customer.disconnect()
