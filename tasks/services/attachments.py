"""Files sent in a chat: an image (JPEG, PNG, WebP, GIF) or a PDF, as a message of its own.

The type is read from the file's first bytes, never from its name or the browser's content
type, and images must open in Pillow as the type their first bytes claim: a renamed
program or a web page is refused. Files are stored through Django's storage API under a
random name; the name the sender gave is kept (masked) only to show and to download as.
"""

import os
import unicodedata
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from PIL import Image

from agents.models import AgentProfile
from marketplace.errors import Conflict, DomainError
from marketplace.masking import mask_sensitive

from ..models import Attachment, Message, Ticket
from ..notify import notify_message
from .conversation import _agent_ticket

NAME_MAX_CHARS = 200


@dataclass(frozen=True)
class Kind:
    content_type: str
    extension: str
    pillow_format: str | None  # None: not an image


def _sniff(head: bytes) -> Kind | None:
    if head.startswith(b"\xff\xd8\xff"):
        return Kind("image/jpeg", "jpg", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind("image/png", "png", "PNG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Kind("image/gif", "gif", "GIF")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind("image/webp", "webp", "WEBP")
    if head.startswith(b"%PDF-"):
        return Kind("application/pdf", "pdf", None)
    return None


def attachment_kind(upload: "UploadedFile[bytes]") -> Kind:
    """The file's type from its content; refuses what is too large or not allowed."""
    size = upload.size or 0
    if size > settings.ATTACHMENT_MAX_BYTES:
        raise DomainError(
            "attachment_too_large",
            f"Files are limited to {settings.ATTACHMENT_MAX_BYTES} bytes ({size} sent).",
            status=413,
        )
    refused = DomainError(
        "attachment_type_not_allowed", "Only images (JPEG, PNG, WebP, GIF) and PDF files can be sent.", status=415
    )
    upload.seek(0)
    kind = _sniff(upload.read(16))
    if kind is None or size == 0:
        raise refused
    if kind.pillow_format is not None:
        upload.seek(0)
        try:
            with Image.open(upload, formats=[kind.pillow_format]) as image:
                image.verify()
        except Exception:  # Pillow raises many kinds of errors on a broken file
            raise refused from None
    upload.seek(0)
    return kind


def attachment_name(name: str | None) -> str:
    """The sender's file name as shown: no folders, no control characters, payment data
    masked, at most NAME_MAX_CHARS."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C" or ch == " ").strip()
    base = mask_sensitive(base) or "attachment"
    if len(base) > NAME_MAX_CHARS:
        stem, dot, extension = base.rpartition(".")
        keep = f"{dot}{extension}" if dot and len(extension) <= 10 else ""
        base = base[: NAME_MAX_CHARS - len(keep)] + keep
    return base


def _store(ticket_id: int, upload: "UploadedFile[bytes]", kind: Kind) -> Attachment:
    name = default_storage.save(f"attachments/{ticket_id}/{uuid.uuid4().hex}.{kind.extension}", upload)
    return Attachment(
        storage_name=name,
        original_name=attachment_name(upload.name),
        content_type=kind.content_type,
        size=upload.size or 0,
    )


def attachment_send_customer(*, ticket: Ticket, upload: "UploadedFile[bytes]") -> Message:
    """The customer sends a file in their open chat. The file is stored first; if the
    message is then refused (the chat is over) it is deleted again. Locks the ticket row."""
    kind = attachment_kind(upload)
    attachment = _store(ticket.pk, upload, kind)
    try:
        with transaction.atomic():
            locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
            if not locked.is_open:
                raise Conflict("ticket_not_open", f"This conversation is {locked.status}; reopen it to write again.")
            attachment.save()
            message = Message.objects.create(ticket=locked, sender=Message.Sender.CUSTOMER, attachment=attachment)
            working = locked.agent_id if locked.status == Ticket.Status.ASSIGNED else None
            notify_message(message=message, agent_id=working)
    except BaseException:
        default_storage.delete(attachment.storage_name)
        raise
    return message


def attachment_send_agent(*, agent: AgentProfile, ticket_id: int, upload: "UploadedFile[bytes]") -> Message:
    """The agent sends a file in a chat assigned to them; as attachment_send_customer."""
    kind = attachment_kind(upload)
    # Refuse an outsider before anything is written to storage; the check is repeated under
    # the lock below, since the chat may end while the file is being stored.
    with transaction.atomic():
        _agent_ticket(agent, ticket_id)
    attachment = _store(ticket_id, upload, kind)
    try:
        with transaction.atomic():
            ticket = _agent_ticket(agent, ticket_id)
            attachment.save()
            message = Message.objects.create(
                ticket=ticket, sender=Message.Sender.AGENT, author_id=agent.user_id, attachment=attachment
            )
            notify_message(message=message, agent_id=agent.pk)
    except BaseException:
        default_storage.delete(attachment.storage_name)
        raise
    return message
