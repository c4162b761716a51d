"""docs/contract.md stays true to the code: every error code the apps raise, every REST
route and method, every page, every client and server frame with its fields, every close
code and the demo data appear in it, so neither side can change without the other.

The sources are read with `ast`, not imported, wherever the facts are literals in them:
a code added in any module (a new service module included) is found without registering
it here.
"""

import ast
import re
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "contract.md"
APPS = ("marketplace", "agents", "tasks", "payouts")

# Callables that take an error code, and the position of the code among their arguments.
CODE_TAKERS = {
    "DomainError": 0,
    "NotFound": 0,
    "Conflict": 0,
    "Forbidden": 0,
    "error_body": 0,
    "refuse": 0,
    "send_error": 1,
}
# Sent by the REST error handler for any framework error without a code of its own; it is
# a default argument, not a literal any parser can tell from other strings.
CODES_NOT_LITERAL_IN_SOURCES = {"error"}
# Frames built for a group no routed socket joins: nobody outside the server can receive
# them. A socket that serves them gets its own section in the contract (the route check
# below asks for it), and they leave this set. The operations group's `ticket.changed` and
# `agent.changed` left it with `/ws/supervisor/`.
FRAMES_ON_NO_SOCKET: set[str] = set()


# --- Reading the sources ---------------------------------------------------------------------


def app_sources() -> dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(), filename=str(path))
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _argument(call: ast.Call, position: int | None, keyword: str) -> ast.expr | None:
    """The argument given for a parameter, by position (None: keyword-only) or keyword."""
    if position is not None and len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _code_calls(tree: ast.AST):
    """(call, the expression passed as its code) for every call of a code taker."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) in CODE_TAKERS:
            code = _argument(node, CODE_TAKERS[_callee(node)], "code")
            if code is not None:
                yield node, code


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[list[str], dict[str, str]]:
    """Positional parameter names as callers count them (without self/cls), and the
    literal defaults by name."""
    args = function.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    if positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    defaults = {}
    all_positional = args.posonlyargs + args.args
    for arg, default in zip(all_positional[len(all_positional) - len(args.defaults) :], args.defaults, strict=True):
        if _literal(default) is not None:
            defaults[arg.arg] = _literal(default)
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        if _literal(default) is not None:
            defaults[arg.arg] = _literal(default)
    return positional, defaults


def _templates(trees) -> dict[str, list[tuple[str, int | None, str, str, str | None]]]:
    """Helpers that build a code from one of their parameters: `_id_field(frame, name)`
    raising `DomainError(f"invalid_{name}")`, `_text_field(..., code="invalid_text")` raising
    `DomainError(code)`. Per helper name: (parameter, position, prefix, suffix, default)."""
    templates: dict[str, list] = {}
    for tree in trees:
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            positional, defaults = _parameters(function)
            names = set(positional) | {a.arg for a in function.args.kwonlyargs}
            for _, code in _code_calls(function):
                if isinstance(code, ast.Name) and code.id in names:
                    parameter, prefix, suffix = code.id, "", ""
                elif isinstance(code, ast.JoinedStr):
                    holes = [v for v in code.values if isinstance(v, ast.FormattedValue)]
                    if len(holes) != 1 or not isinstance(holes[0].value, ast.Name) or holes[0].value.id not in names:
                        continue
                    at = code.values.index(holes[0])
                    parameter = holes[0].value.id
                    prefix = "".join(_literal(v) or "" for v in code.values[:at])
                    suffix = "".join(_literal(v) or "" for v in code.values[at + 1 :])
                else:
                    continue
                position = positional.index(parameter) if parameter in positional else None
                templates.setdefault(function.name, []).append(
                    (parameter, position, prefix, suffix, defaults.get(parameter))
                )
    return templates


def _codes_from_helpers(trees) -> set[str]:
    codes = set()
    templates = _templates(trees)
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _callee(node) not in templates:
                continue
            for parameter, position, prefix, suffix, default in templates[_callee(node)]:
                passed = _argument(node, position, parameter)
                value = _literal(passed) if passed is not None else default
                if value is not None:
                    codes.add(prefix + value + suffix)
    return codes


def _codes_in_error_dicts(tree: ast.AST) -> set[str]:
    """Error bodies and frames written as dict literals: {"code": "...", "message": ...}."""
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = {_literal(k): v for k, v in zip(node.keys, node.values, strict=True) if k is not None}
            if "message" in keys and _literal(keys.get("code")) is not None:
                codes.add(_literal(keys["code"]))
    return codes


def _codes_of_framework_errors(tree: ast.AST) -> set[str]:
    """The values of the `_CODES` map (framework exception -> code) of the REST error handler."""
    codes = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and any(isinstance(t, ast.Name) and t.id == "_CODES" for t in node.targets)
        ):
            codes |= {_literal(v) for v in node.value.values if _literal(v) is not None}
    return codes


def raised_codes() -> set[str]:
    trees = list(app_sources().values())
    codes = _codes_from_helpers(trees)
    for tree in trees:
        codes |= {_literal(code) for _, code in _code_calls(tree) if _literal(code) is not None}
        codes |= _codes_in_error_dicts(tree)
        codes |= _codes_of_framework_errors(tree)
    return codes


def _dicts_with_type(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = {_literal(k): v for k, v in zip(node.keys, node.values, strict=True) if k is not None}
            frame_type = _literal(keys.get("type"))
            # ASGI messages and the channel layer's envelope around a frame are not frames.
            if frame_type and not frame_type.startswith("websocket.") and "frame" not in keys:
                yield node, frame_type


def _tasks_sources() -> list[ast.Module]:
    return [tree for path, tree in app_sources().items() if path.relative_to(ROOT).parts[0] == "tasks"]


def _is_frame_builder_module(path: Path) -> bool:
    parts = path.relative_to(ROOT).parts
    return parts[0] == "tasks" and (parts[-1] == "frames.py" or "frames" in parts[:-1])


def server_frame_types() -> set[str]:
    return {
        frame_type
        for tree in _tasks_sources()
        for _, frame_type in _dicts_with_type(tree)
        if frame_type not in FRAMES_ON_NO_SOCKET
    }


def server_frame_fields() -> set[str]:
    """Every key a server frame can carry: the keys of every dict the frame builders write
    (nested ones and shared parts such as `pay` included), keys they add later
    (`frame["rating"] = ...`), and those of the consumers' own frames (`ack`, `error`)."""
    fields = set()
    for path, tree in app_sources().items():
        if path.relative_to(ROOT).parts[0] != "tasks":
            continue
        unrouted = set()
        for node, frame_type in _dicts_with_type(tree):
            if frame_type in FRAMES_ON_NO_SOCKET:
                unrouted |= {id(inner) for inner in ast.walk(node)}
            else:
                fields |= {_literal(k) for k in node.keys if _literal(k) is not None}
        if not _is_frame_builder_module(path):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and id(node) not in unrouted:
                fields |= {_literal(k) for k in node.keys if _literal(k) is not None}
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Subscript) and _literal(target.slice) is not None:
                        fields.add(_literal(target.slice))
    return fields


def close_codes() -> set[int]:
    """Close codes the sockets use: passed to refuse(), named *_CLOSE_CODE, or sent in an
    ASGI websocket.close message."""
    codes = set()
    for path, tree in app_sources().items():
        if path.relative_to(ROOT).parts[0] != "tasks":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node) == "refuse":
                close = _argument(node, 2, "close_code")
                if isinstance(close, ast.Constant) and isinstance(close.value, int):
                    codes.add(close.value)
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, int)
            ):
                if any(isinstance(t, ast.Name) and t.id.endswith("CLOSE_CODE") for t in node.targets):
                    codes.add(node.value.value)
            if isinstance(node, ast.Dict):
                keys = {_literal(k): v for k, v in zip(node.keys, node.values, strict=True) if k is not None}
                if _literal(keys.get("type")) == "websocket.close" and isinstance(keys.get("code"), ast.Constant):
                    codes.add(keys["code"].value)
    return codes


# --- Reading the document --------------------------------------------------------------------


def contract() -> str:
    return DOC.read_text()


def section(doc: str, heading: str) -> str:
    """The text under the first heading whose title matches the `heading` regex, up to the
    next heading of the same or a higher level."""
    match = re.search(rf"^(#+) [^\n]*{heading}[^\n]*$", doc, re.MULTILINE)
    assert match, f"docs/contract.md has no heading matching {heading!r}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(doc, match.end())
    return doc[match.end() : end.start() if end else len(doc)]


def table_codes(doc: str) -> set[str]:
    """The codes in the first column of the "Error codes" table."""
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|", section(doc, "Error codes"), re.MULTILINE)
    return set(rows)


def missing_codes(doc: str) -> set[str]:
    return raised_codes() - table_codes(doc)


def route_regex(route: str) -> str:
    """A Django route as a regex over the document: `<int:ticket_id>` matches any `<name>`."""
    parts = re.split(r"<[^>]+>", route)
    return "<[^>]+>".join(re.escape(part) for part in parts)


def missing_client_frames(doc: str) -> dict[str, set[str]]:
    """Per socket route, the handled frame types its section shows no example of."""
    from tasks.routing import websocket_urlpatterns

    missing = {}
    for pattern in websocket_urlpatterns:
        route = "/" + str(pattern.pattern)
        text = section(doc, "`" + route_regex(route) + "`")
        handlers = pattern.callback.consumer_class.handlers
        absent = {name for name in handlers if f'{{"type": "{name}"' not in text}
        if absent:
            missing[route] = absent
    return missing


def _api_routes():
    """(route, view class) under api/v1/."""
    for top in get_resolver().url_patterns:
        if isinstance(top, URLResolver) and str(top.pattern) == "api/v1/":
            for pattern in top.url_patterns:
                assert isinstance(pattern, URLPattern), "nested includes under api/v1/ are not read here"
                yield "/api/v1/" + str(pattern.pattern), pattern.callback.cls


# --- The checks ------------------------------------------------------------------------------


def test_every_error_code_raised_in_the_apps_has_a_row_in_the_error_table():
    missing = missing_codes(contract())
    assert not missing, f"add these codes to the Error codes table of docs/contract.md: {sorted(missing)}"


def test_every_code_in_the_error_table_is_still_sent_by_the_code():
    stale = table_codes(contract()) - raised_codes() - CODES_NOT_LITERAL_IN_SOURCES
    assert not stale, f"docs/contract.md documents codes nothing sends any more: {sorted(stale)}"


def test_the_parser_finds_codes_of_every_kind_of_source():
    """Guards the parser itself: literal raises, helpers that build a code from their
    parameter, error dicts, the framework map and the socket refusals are all seen."""
    codes = raised_codes()
    expected = {
        "ticket_not_found",  # NotFound("...") in the REST views and services
        "idempotency_key_reused",  # a DomainError written over several lines
        "invalid_offer_id",  # _id_field(frame, "offer_id") -> f"invalid_{name}"
        "invalid_reason",  # _text_field(..., code="invalid_reason")
        "invalid_text",  # _text_field's default code
        "service_unavailable",  # {"code": ..., "message": ...} bodies and frames
        "method_not_allowed",  # the _CODES map
        "not_an_agent",  # refuse(...) at the handshake
        "server_error",  # send_error(ref, ...)
        "application_incomplete",  # the applicant journey
    }
    assert expected <= codes, sorted(expected - codes)


def test_a_code_missing_from_the_error_table_is_reported():
    doc = contract()
    without = re.sub(r"^\| `offer_expired` \|.*\n", "", doc, flags=re.MULTILINE)
    assert without != doc
    assert "offer_expired" in missing_codes(without)


def test_every_rest_route_and_method_under_api_v1_is_documented():
    rest = section(contract(), "REST")
    undocumented = []
    for route, view in _api_routes():
        methods = [m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]
        assert methods, route
        for method in methods:
            if not re.search(rf"`{method} {route_regex(route)}`", rest):
                undocumented.append(f"{method} {route}")
    assert not undocumented, f"document in the REST section of docs/contract.md: {undocumented}"


def test_every_page_is_in_the_pages_table():
    pages = section(contract(), "Pages")
    first_column = re.findall(r"^\| `([^`]+)` \|", pages, re.MULTILINE)
    undocumented = []
    for top in get_resolver().url_patterns:
        route = "/" + str(top.pattern)
        if route == "/api/v1/":
            continue  # the REST section's
        if isinstance(top, URLResolver):
            # Included apps (allauth, the admin) are one row each: `/accounts/...`, `/admin/`.
            if not any(page.startswith(route) for page in first_column):
                undocumented.append(route)
        elif not any(re.fullmatch(route_regex(route), page) for page in first_column):
            undocumented.append(route)
    assert not undocumented, f"add these pages to the Pages table of docs/contract.md: {undocumented}"


def test_every_client_frame_each_socket_handles_is_shown_in_its_section():
    missing = missing_client_frames(contract())
    assert not missing, f"show these client frames in their socket's section of docs/contract.md: {missing}"


def test_a_client_frame_missing_from_its_socket_section_is_reported():
    doc = contract()
    agent = section(doc, "`/ws/agent/`")
    without = doc.replace(agent, agent.replace('{"type": "offer.decline"', '{"type": "offer-decline"'))
    assert "offer.decline" in missing_client_frames(without).get("/ws/agent/", set())


def test_every_server_frame_type_and_field_is_shown():
    sockets = section(contract(), "Websockets")
    types = server_frame_types()
    assert {"offer", "ticket.assigned", "ack", "error", "history", "presence"} <= types
    absent_types = {t for t in types if f'{{"type": "{t}"' not in sockets}
    absent_fields = {f for f in server_frame_fields() if f'"{f}"' not in sockets}
    assert not absent_types, f"show these server frames in docs/contract.md: {sorted(absent_types)}"
    assert not absent_fields, f"show these server frame fields in docs/contract.md: {sorted(absent_fields)}"


def test_every_close_code_is_in_the_close_code_table():
    table = section(contract(), "Close codes")
    codes = close_codes()
    assert {4401, 4403, 4404, 4429, 1013} <= codes
    missing = {code for code in codes if f"| `{code}` |" not in table}
    assert not missing, f"add these close codes to docs/contract.md: {sorted(missing)}"


def test_the_frame_budget_names_its_settings():
    budget = section(contract(), "Frame budget")
    for name in ("WS_FRAMES_PER_SECOND", "WS_FRAME_BURST"):
        assert f"`{name}`" in budget


def test_demo_accounts_and_password_are_those_seed_demo_makes():
    from marketplace.management.commands import seed_demo

    demo = section(contract(), "Demo data")
    assert "`supervisor@demo.test`" in demo
    for n, name, *_ in seed_demo.AGENTS:
        assert f"| `agent{n}@demo.test` | {name} |" in demo
    assert f"`{seed_demo.DEMO_PASSWORD}`" in demo


def test_demo_rate_card_is_the_one_seed_demo_makes():
    from marketplace.management.commands import seed_demo
    from payouts.models import minor_to_decimal

    demo = section(contract(), "Demo data")
    for category, amount in seed_demo.RATES.items():
        assert f"{minor_to_decimal(amount, 'SEK')} SEK" in demo
        assert not category or f"`{category}`" in demo


def test_demo_key_line_is_shown_as_seed_demo_prints_it():
    seed = ast.parse((ROOT / "marketplace" / "management" / "commands" / "seed_demo.py").read_text())
    # The key alone after the label, written as a line of its own.
    printed = [
        node
        for node in ast.walk(seed)
        if isinstance(node, ast.JoinedStr)
        and len(node.values) == 2
        and _literal(node.values[0]) == "API key: "
        and isinstance(node.values[1], ast.FormattedValue)
    ]
    assert printed, "seed_demo no longer prints `API key: <key>`"
    demo = section(contract(), "Demo data")
    assert "python manage.py seed_demo" in demo
    assert re.search(r"^API key: mk_demo_…$", demo, re.MULTILINE)


def test_the_contract_is_linked_from_the_readme_and_the_architecture_notes():
    assert "](docs/contract.md)" in (ROOT / "README.md").read_text()
    assert "](contract.md)" in section((ROOT / "docs" / "architecture.md").read_text(), "Sockets")
