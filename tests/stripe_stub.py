"""A local stand-in for the Stripe endpoints the payouts use: `POST /v1/transfers`, and
`GET /v1/transfers?transfer_group=` (the look-up before re-sending an old payout).

It answers as Stripe does, well enough for the `stripe` library to parse every answer:
a transfer object on success, `{"error": {...}}` with Stripe's status codes otherwise. Like
Stripe it keeps the first answer under each `Idempotency-Key`: a repeated key gets that
answer again (header `Idempotent-Replayed: true`) and creates nothing; the same key with
other parameters is a 400 `idempotency_error`; the same key while its first request is still
being handled is a 409.

It runs in a thread of the test process on 127.0.0.1 and a free port, so a worker process
started by the test can use it too, and it outlives a worker that is killed. Everything is
recorded: every request (its key, parameters and the status answered) and every transfer
created. A test can make it answer 500 (a number of times, or always), refuse every new
transfer with Stripe's 400 "No such destination", answer after a delay, or hold the answer
to the next request after a number of transfers (the transfer is made, the answer waits:
the moment a worker is killed "with a request in the air").

    with StripeStub.running() as stub:
        settings.STRIPE_API_BASE = stub.base
"""

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_payouts_stub"


@dataclass
class Recorded:
    """One request as the stub saw it."""

    key: str
    params: dict[str, Any]
    status: int = 0  # 0 while it is being answered
    replayed: bool = False


@dataclass
class _Stored:
    params: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)


def _params(form: str) -> dict[str, Any]:
    """Stripe's form encoding back to a dict: `metadata[payout_id]=7` -> {"metadata": {"payout_id": "7"}}."""
    out: dict[str, Any] = {}
    for name, value in parse_qsl(form, keep_blank_values=True):
        if "[" in name and name.endswith("]"):
            outer, inner = name[:-1].split("[", 1)
            out.setdefault(outer, {})[inner] = value
        else:
            out[name] = value
    return out


def _error(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


class StripeStub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, _Stored] = {}
        self.requests: list[Recorded] = []
        self.transfers: list[dict[str, Any]] = []
        self.lookups: list[str] = []  # transfer_group of each GET /v1/transfers
        self.delay_seconds = 0.0
        self._fail_500: int | None = 0  # None: always
        self._refuse = False
        self._hold_after: int | None = None
        self.held = threading.Event()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # --- Set-up by the test ---------------------------------------------------------------

    @classmethod
    @contextmanager
    def running(cls) -> Iterator["StripeStub"]:
        stub = cls()
        stub_handler = type("Handler", (_Handler,), {"stub": stub})
        server = ThreadingHTTPServer(("127.0.0.1", 0), stub_handler)
        server.daemon_threads = True
        stub._server = server
        thread = threading.Thread(target=server.serve_forever, name="stripe-stub", daemon=True)
        thread.start()
        try:
            yield stub
        finally:
            stub._release.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

    @property
    def base(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer_500(self, times: int | None = 1) -> None:
        """The next `times` requests (None: every one) get a 500 and change nothing, as when
        Stripe fails before it starts on a request; such an answer is not kept under its key."""
        self._fail_500 = times

    def refuse_destination(self, refuse: bool = True) -> None:
        """Every new transfer is refused: 400 invalid_request_error "No such destination"."""
        self._refuse = refuse

    def answer_after(self, seconds: float) -> None:
        """Make each transfer, then wait `seconds` before answering."""
        self.delay_seconds = seconds

    def hold_after(self, transfers: int) -> None:
        """Once `transfers` transfers exist, the next new one is made but its answer is held
        (`held` is set) until `release()`."""
        self._hold_after = transfers

    def release(self) -> None:
        self._release.set()

    # --- What it saw ----------------------------------------------------------------------

    def keys_sent(self) -> list[str]:
        with self._lock:
            return [r.key for r in self.requests]

    def transfer_count(self) -> int:
        with self._lock:
            return len(self.transfers)

    # --- Answering ------------------------------------------------------------------------

    def handle(self, *, key: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, body, extra headers) for one POST /v1/transfers."""
        record = Recorded(key=key, params=params)
        with self._lock:
            self.requests.append(record)
            if self._fail_500 is None or self._fail_500 > 0:
                if self._fail_500:
                    self._fail_500 -= 1
                record.status = 500
                return 500, _error("api_error", "An unknown error occurred on Stripe's side."), {}
            stored = self._by_key.get(key) if key else None
            if stored is not None:
                if stored.params != params:
                    record.status = 400
                    return (
                        400,
                        _error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request.",
                        ),
                        {},
                    )
                if not stored.done.is_set():
                    record.status = 409
                    return (
                        409,
                        _error(
                            "idempotency_error",
                            "There is currently another in-progress request using this Stripe API key (and "
                            "idempotency key if applicable). Please try again later.",
                        ),
                        {},
                    )
                record.status, record.replayed = stored.status, True
                return stored.status, stored.body, {"Idempotent-Replayed": "true"}
            stored = _Stored(params=params)
            if key:
                self._by_key[key] = stored
            if self._refuse:
                destination = params.get("destination", "")
                stored.status = 400
                stored.body = _error(
                    "invalid_request_error",
                    f"No such destination: '{destination}'",
                    code="resource_missing",
                    param="destination",
                )
            else:
                stored.status, stored.body = 200, self._create(params)
            hold = self._hold_after is not None and stored.status == 200 and len(self.transfers) > self._hold_after
            if hold:
                self._hold_after = None
        # The transfer exists from here on; only the answer waits.
        if hold:
            self.held.set()
            self._release.wait(timeout=60)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        with self._lock:
            stored.done.set()
            record.status = stored.status
        return stored.status, stored.body, {}

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        """Inside the lock: make one transfer, shaped as Stripe's."""
        transfer_id = f"tr_{secrets.token_hex(12)}"
        transfer = {
            "id": transfer_id,
            "object": "transfer",
            "amount": int(params["amount"]),
            "amount_reversed": 0,
            "balance_transaction": f"txn_{secrets.token_hex(12)}",
            "created": int(time.time()),
            "currency": params["currency"],
            "description": params.get("description"),
            "destination": params["destination"],
            "destination_payment": f"py_{secrets.token_hex(12)}",
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": None,
            "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers.append(transfer)
        return transfer


class _Handler(BaseHTTPRequestHandler):
    stub: StripeStub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode()
        if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            self._answer(401, _error("invalid_request_error", "Invalid API Key provided."), {})
            return
        if self.path != "/v1/transfers":
            self._answer(404, _error("invalid_request_error", f"Unrecognized request URL (POST: {self.path})."), {})
            return
        status, body, headers = self.stub.handle(key=self.headers.get("Idempotency-Key", ""), params=_params(form))
        self._answer(status, body, {"Idempotency-Key": self.headers.get("Idempotency-Key", ""), **headers})

    def do_GET(self) -> None:
        """`GET /v1/transfers?transfer_group=…`: the transfers made for one payout."""
        if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
            self._answer(401, _error("invalid_request_error", "Invalid API Key provided."), {})
            return
        path, _, query = self.path.partition("?")
        if path != "/v1/transfers":
            self._answer(404, _error("invalid_request_error", f"Unrecognized request URL (GET: {path})."), {})
            return
        group = dict(parse_qsl(query)).get("transfer_group")
        with self.stub._lock:
            self.stub.lookups.append(group or "")
            found = [t for t in self.stub.transfers if group is None or t["transfer_group"] == group]
        body = {"object": "list", "data": found, "has_more": False, "url": "/v1/transfers"}
        self._answer(200, body, {})

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # The caller is gone (a killed worker): what Stripe did stands; nobody hears it.
            self.close_connection = True
