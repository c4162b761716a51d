from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import get_language_info
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agents.views.supervisor import supervisor_required
from marketplace.api import BrandThrottle
from marketplace.errors import DomainError, error_body
from marketplace.i18n import supported_language

from . import frames, selectors, services
from .models import Attachment, Ticket

# The priority names are the API's words (machine contract); people read these.
PRIORITY_LABELS: dict[int, Promise] = {
    Ticket.Priority.LOW: _("low"),
    Ticket.Priority.NORMAL: _("normal"),
    Ticket.Priority.HIGH: _("high"),
    Ticket.Priority.URGENT: _("urgent"),
}

# Multipart framing around the file: a body this much larger than the limit cannot hold an
# acceptable file, so it is refused before it is read.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def customer_chat(request, token: str):
    """The customer's chat. The token in the URL is the only key to this one ticket."""
    ticket = Ticket.objects.select_related("brand").filter(customer_token=token).first()
    if ticket is None:
        return render(request, "chat/invalid.html", status=404)
    # The page speaks the ticket's language where a translation exists, unless the customer
    # picked one with the switcher; LocaleMiddleware then labels the response with it.
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
        language = supported_language(ticket.language)
        if language:
            translation.activate(language)
    context = {
        "ticket": ticket,
        "ws_path": f"/ws/customer/{token}/",
        "language_name": language_name(ticket.language),
        "attachment_max_bytes": settings.ATTACHMENT_MAX_BYTES,
        "window_open": selectors.customer_window_open(ticket),
    }
    return render(request, "chat/customer.html", context)


def language_name(code: str) -> str:
    """Name of a language tag, in the page's language, for "nobody who speaks ... is
    online"; the tag itself for languages Django does not know."""
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


@supervisor_required
def supervisor_ticket(request, ticket_id: int):
    """One ticket of a brand the supervisor supervises (the link in the "found no agent in
    time" e-mail): its matching, what widening did, and where it stands. Not the
    conversation: that is the customer's and the agent's."""
    ticket = selectors.supervisor_ticket(user=request.user, ticket_id=ticket_id)
    if ticket is None:
        raise Http404
    return render(
        request,
        "supervisor/ticket.html",
        {
            "ticket": ticket,
            "priority": PRIORITY_LABELS.get(ticket.priority, ticket.priority_name),
            "matching": selectors.widening_summary(ticket),
            "events": list(ticket.events.all()),
        },
    )


class AttachmentThrottle(BrandThrottle):
    """Uploads per chat and side (THROTTLE_ATTACHMENTS), in fixed windows like the brand API."""

    scope = "attachments"

    def __init__(self, ident: str):
        super().__init__()
        self.ident = ident

    def throttle_ident(self, request, view) -> object:
        return self.ident


class TooManyUploads(DomainError):
    def __init__(self, retry_after: int):
        super().__init__("rate_limited", "Too many files sent in this chat; wait a moment.", status=429)
        self.retry_after = retry_after


def upload_refusal(request: HttpRequest, throttle_ident: str) -> DomainError | None:
    """Why an upload is refused before its body is read: too many uploads, a body too
    large to hold an acceptable file, or no file part."""
    throttle = AttachmentThrottle(throttle_ident)
    if not throttle.allow_request(request, None):
        return TooManyUploads(retry_after=max(1, int(throttle.wait() + 0.999)))
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.ATTACHMENT_MAX_BYTES + UPLOAD_OVERHEAD_BYTES:
        return DomainError(
            "attachment_too_large", f"Files are limited to {settings.ATTACHMENT_MAX_BYTES} bytes.", status=413
        )
    return None


def uploaded_file(request: HttpRequest):
    upload = request.FILES.get("file")
    if upload is None:
        raise DomainError("invalid", "Send the file as the multipart field `file`.", fields={"file": ["Required."]})
    return upload


def attachment_response(attachment: Attachment) -> FileResponse:
    """The file with its checked type: images inline, PDFs as a download. nosniff and a
    sandboxing policy, so a browser never runs it as a page."""
    response = FileResponse(
        default_storage.open(attachment.storage_name, "rb"),
        content_type=attachment.content_type,
        as_attachment=not attachment.is_image,
        filename=attachment.original_name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _error(exc: DomainError) -> JsonResponse:
    response = JsonResponse(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, TooManyUploads):
        response["Retry-After"] = str(exc.retry_after)
    return response


# The chat link is the customer's only credential and it is in the path: no cookie or other
# ambient authority is involved, so a forged cross-site request needs the token itself, and
# whoever has it may send files anyway. Hence no CSRF token is asked for.
@csrf_exempt
@require_POST
def customer_attachment_upload(request: HttpRequest, token: str) -> HttpResponse:
    """A file sent by the customer: 201 with the message frame, or the error shape."""
    ticket = selectors.customer_ticket(token)
    if ticket is None:
        return _error(DomainError("ticket_not_found", "This chat link is not valid.", status=404))
    refusal = upload_refusal(request, f"customer:{ticket.pk}")
    if refusal is not None:
        return _error(refusal)
    try:
        message = services.attachment_send_customer(ticket=ticket, upload=uploaded_file(request))
    except DomainError as exc:
        return _error(exc)
    return JsonResponse(frames.message_frame(message, customer_token=ticket.customer_token), status=201)


@require_GET
def customer_attachment(request: HttpRequest, token: str, attachment_id: int) -> HttpResponseBase:
    attachment = selectors.customer_attachment(token, attachment_id)
    if attachment is None:
        return _error(DomainError("attachment_not_found", "This chat has no such file.", status=404))
    return attachment_response(attachment)
