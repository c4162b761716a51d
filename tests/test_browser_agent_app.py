"""The agent app on a phone (390x844, Debian's Chromium, the real ASGI server): the offer
takes the screen with Accept under the thumb, the chat header and the status stay in view,
the earning shows after Resolve, the first-day guide stays closed, the app installs as a
PWA, and an offer reaches a hidden tab as a notification."""

import json
import re
import time

import pytest
from allauth.account.models import EmailAddress

from .factories import PASSWORD, AgentFactory
from .live import asgi_server
from .test_browser_story import CHROMIUM, CHROMIUM_ARGS, PHONE, SHOTS, browser, hand_over, shot  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

# Lets a test play "the tab went to the background" (document.visibilityState) and keeps
# the page's websockets reachable, so a test can drop one as a flaky network would.
INIT_SCRIPT = """
(() => {
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return window.__visibility || "visible"; } });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return (window.__visibility || "visible") === "hidden"; } });
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    window.__sockets.push(ws);
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();
"""


def phone_page(browser, base: str, agent, *, permissions=(), context=None):  # noqa: F811
    EmailAddress.objects.get_or_create(
        user=agent.user, email=agent.user.email, defaults={"verified": True, "primary": True}
    )
    context = context or browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    if permissions:
        context.grant_permissions(list(permissions), origin=base)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", agent.user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url(f"{base}/agent/")
    return page


def go_available(page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("connection")).to_have_text("Connected")
    page.get_by_test_id("status-available").click()
    expect(page.get_by_test_id("status-current")).to_have_attribute("data-status", "available")


def waiting_seconds(page) -> int:
    text = page.get_by_test_id("offer-waiting").text_content() or ""
    match = re.search(r"waiting (\d+) s", text)
    assert match, text
    return int(match.group(1))


def overlaps(a: dict, b: dict) -> bool:
    return a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_offer_first_chat_header_in_view_earning_after_resolve_and_screen_kept_on(browser, agent, api_key):  # noqa: F811
    from playwright.sync_api import expect

    with asgi_server() as base:
        page = phone_page(browser, base, agent)
        guide = page.get_by_test_id("first-day-guide")
        expect(guide).to_be_visible()
        go_available(page)
        # An available agent's screen stays on (Screen Wake Lock).
        root = page.locator("#agent-app")
        expect(root).to_have_attribute("data-wake-lock", "on")

        hand_over(base, api_key)
        card = page.get_by_test_id("offer-card")
        expect(card).to_be_visible()
        # The offer is on top of everything: above the guide, and nothing covers it.
        card_box, guide_box = card.bounding_box(), guide.bounding_box()
        assert card_box["y"] < guide_box["y"]
        accept = card.get_by_test_id("offer-accept")
        box = accept.bounding_box()
        assert box["y"] >= PHONE["height"] * 0.4, box  # in the bottom 60 %, under the thumb
        assert box["y"] + box["height"] <= PHONE["height"]
        assert box["height"] >= 44
        center = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
        assert page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('[data-testid=offer-accept]') !== null",
            [center["x"], center["y"]],
        )
        first = waiting_seconds(page)
        page.wait_for_timeout(2300)
        assert waiting_seconds(page) >= first + 2  # counts up while the agent reads
        shot(page, "agent-offer-first")

        accept.click()
        chat = page.get_by_test_id("chat-view")
        expect(chat).to_be_visible()
        expect(page.get_by_test_id("chat-customer")).to_have_text("Maja Svensson")
        for n in range(12):
            page.get_by_test_id("message-input").fill(f"Line {n} about the declined card and what we can do")
            page.get_by_test_id("message-send").click()
            expect(page.get_by_test_id("messages")).to_contain_text(f"Line {n} about")
        # However long the chat, the customer's name and the pay stay in view, uncovered by
        # the bar of open chats (the dock) or the app bar.
        dock = page.get_by_test_id("dock").bounding_box()
        app_bar = page.locator(".app-bar").bounding_box()
        for testid in ("chat-customer", "chat-pay"):
            head = page.get_by_test_id(testid)
            expect(head).to_be_in_viewport()
            head_box = head.bounding_box()
            assert not overlaps(head_box, dock), (testid, head_box, dock)
            assert not overlaps(head_box, app_bar), (testid, head_box, app_bar)
            assert page.evaluate(
                "(id) => { const el = document.querySelector(`[data-testid=${id}]`); const r = el.getBoundingClientRect();"
                " return el.contains(document.elementFromPoint(r.x + 4, r.y + r.height / 2)); }",
                testid,
            ), f"{testid} is covered"
        # The status stays visible during the chat, and its pill opens the status buttons.
        pill = page.get_by_test_id("status-pill")
        expect(pill).to_be_in_viewport()
        expect(pill).to_contain_text("Available")
        expect(page.get_by_test_id("message-input")).to_be_in_viewport()
        shot(page, "agent-chat-header")
        pill.click()
        expect(page.get_by_test_id("status-away")).to_be_visible()
        pill.click()
        expect(page.get_by_test_id("status-away")).to_be_hidden()

        page.get_by_test_id("resolve").click()
        page.get_by_test_id("resolve").click()
        earning = page.get_by_test_id("earning-card")
        expect(earning).to_be_visible()
        expect(page.get_by_test_id("earning-amount")).to_have_text("+SEK 45.00")
        expect(page.get_by_test_id("earning-detail")).to_contain_text("pending until")
        expect(earning).to_be_in_viewport()
        page.wait_for_timeout(400)  # its slide-in animation
        shot(page, "agent-earning-after-resolve")
        # It stays until the next offer.
        page.wait_for_timeout(500)
        hand_over(base, api_key)
        expect(page.get_by_test_id("offer-card")).to_be_visible()
        expect(earning).to_be_hidden()

        # Away from the pill over the offer: the screen may sleep again.
        page.get_by_test_id("status-pill").click()
        page.get_by_test_id("status-away").click()
        expect(root).to_have_attribute("data-wake-lock", "off")
        expect(page.get_by_test_id("status-pill")).to_contain_text("Away")


def test_the_first_day_guide_stays_closed_after_a_reload(browser, agent):  # noqa: F811
    from playwright.sync_api import expect

    with asgi_server(sweeper=False) as base:
        page = phone_page(browser, base, agent)
        guide = page.get_by_test_id("first-day-guide")
        expect(guide).to_have_attribute("open", "")
        page.get_by_test_id("first-day-dismiss").click()
        expect(guide).not_to_have_attribute("open", "")
        page.reload()
        guide = page.get_by_test_id("first-day-guide")
        expect(guide).to_be_visible()
        assert guide.get_attribute("open") is None
        expect(page.get_by_test_id("first-day-dismiss")).to_be_hidden()
        shot(page, "agent-guide-collapsed")
        # Opened again by the agent, it is open after the next reload too.
        page.get_by_test_id("first-day-toggle").click()
        page.wait_for_function("document.cookie.includes('agent_guide=open')")  # written on the toggle event
        page.reload()
        expect(page.get_by_test_id("first-day-guide")).to_have_attribute("open", "")


def test_the_app_installs_as_a_pwa_and_starts_offline(browser, agent, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    # A profile on disk: Chromium never offers to install from an incognito context.
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
    )
    with asgi_server(sweeper=False) as base, context:
        page = phone_page(browser, base, agent, context=context)
        expect(page.locator("#agent-app")).to_have_attribute("data-service-worker", "ready")
        page.reload()
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        assert page.evaluate("navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL") == (
            f"{base}/agent/sw.js"
        )
        cdp = page.context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert not manifest.get("errors"), manifest["errors"]
        parsed = json.loads(manifest["data"])
        assert parsed["display"] == "standalone"
        assert parsed["start_url"].endswith("/agent/")
        sizes = {icon["sizes"] for icon in parsed["icons"] if icon["type"] == "image/png"}
        assert {"192x192", "512x512"} <= sizes
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert errors == [], errors

        # Without a network the installed app says so instead of a browser error page.
        page.context.set_offline(True)
        page.reload()
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        page.context.set_offline(False)


def test_a_hidden_tab_gets_a_notification_of_the_offer(browser, brand, api_key):  # noqa: F811
    from playwright.sync_api import expect

    agent = AgentFactory(brands=[brand], user__email="hidden@example.test")
    with asgi_server() as base:
        page = phone_page(browser, base, agent, permissions=["notifications"])
        expect(page.locator("#agent-app")).to_have_attribute("data-service-worker", "ready")
        go_available(page)
        root = page.locator("#agent-app")

        page.evaluate("window.__visibility = 'hidden'; document.dispatchEvent(new Event('visibilitychange'))")
        created = hand_over(base, api_key)
        expect(page.get_by_test_id("offer-card")).to_have_count(1)
        notifications = page.wait_for_function(
            """() => navigator.serviceWorker.ready
                 .then((reg) => reg.getNotifications())
                 .then((list) => list.length ? list.map((n) => ({title: n.title, body: n.body, tag: n.tag,
                                                                 actions: n.actions.map((a) => a.action)})) : null)"""
        ).json_value()
        offer_id = page.get_by_test_id("offer-card").get_attribute("data-offer-id")
        assert notifications == [
            {
                "title": "New case · SEK\u00a045.00",  # Intl puts a no-break space in
                "body": notifications[0]["body"],
                "tag": f"offer-{offer_id}",
                "actions": ["accept", "decline"],
            }
        ]
        assert notifications[0]["body"].startswith("My card was declined")
        assert created["status"] == "offered"
        # The page also rang and buzzed for it (the values say whether the browser let it).
        assert f'"offer_id":{offer_id}' in root.get_attribute("data-last-alert")

        # Answered (here: declined in the app), the notification goes away.
        page.evaluate("window.__visibility = 'visible'; document.dispatchEvent(new Event('visibilitychange'))")
        page.get_by_test_id("offer-decline").click()
        expect(page.get_by_test_id("offer-card")).to_have_count(0)
        page.wait_for_function(
            "() => navigator.serviceWorker.ready.then((reg) => reg.getNotifications()).then((l) => l.length === 0)"
        )


def test_the_not_connected_banner_clears_after_the_reconnect(browser, agent):  # noqa: F811
    from playwright.sync_api import expect

    with asgi_server(sweeper=False) as base:
        page = phone_page(browser, base, agent)
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        # The network drops the socket just as the agent taps a status.
        page.evaluate(
            "window.__sockets[window.__sockets.length - 1].close();"
            "document.querySelector('[data-testid=status-away]').click();"
        )
        expect(page.get_by_test_id("error")).to_contain_text("Not connected")
        expect(page.get_by_test_id("connection")).to_have_text("Connected")
        expect(page.get_by_test_id("error-box")).to_be_hidden()
        time.sleep(0.2)
        expect(page.get_by_test_id("error-box")).to_be_hidden()
