from typing import Any


def error_body(code: str, message: str, fields: Any = None) -> dict:
    """The body of every API error: `{"error": {"code", "message", "fields"?}}`."""
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


class DomainError(Exception):
    """A refusal by a service: a stable machine code plus a human message.

    REST turns it into `{"error": {"code", "message"}}` with `status`; websockets into an
    `error` frame with the same code. Raising it inside `transaction.atomic()` rolls back,
    so a refused action changes nothing.
    """

    status = 400
    # Seconds after which a retry may succeed; REST sends it as `Retry-After`.
    retry_after: int | None = None

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        fields: dict | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409
