"""Chat basics in a real browser at a phone viewport, agent and customer side by side:
typing indicators, read ticks, an image sent from each side, and a message written while
the connection was down that arrives exactly once when it is back."""

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from tasks.models import Message

from .a11y import assert_accessible
from .chat import assign
from .live import asgi_server
from .test_browser_story import PHONE, browser, shot  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.django_db(transaction=True)

# Test instrumentation only: remember the page's websockets so a test can cut them, and
# while `__offline` is set, send new ones nowhere (Chromium's offline emulation does not
# reliably stop websocket handshakes to the local server).
KEEP_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__offline = false;
  window.WebSocket = function (url, protocols) {
    const ws = new Native(window.__offline ? "ws://127.0.0.1:9/" : url, protocols);
    window.__sockets.push(ws);
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { OPEN: Native.OPEN, CLOSED: Native.CLOSED, CONNECTING: Native.CONNECTING });
})();
"""


def png_file(tmp_path, name: str, color: tuple[int, int, int]) -> str:
    path = tmp_path / name
    Image.new("RGB", (320, 200), color).save(path, "PNG")
    return str(path)


def agent_page(chromium, base: str, user):
    client = Client()
    client.force_login(user)
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/agent/")
    return page


def customer_page(chromium, base: str, ticket):
    # bypass_csp: axe-core is injected as a script for the accessibility check.
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, bypass_csp=True)
    context.add_init_script(KEEP_SOCKETS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/chat/{ticket.customer_token}/")
    return page


def test_typing_read_ticks_and_images_show_on_both_phones(browser, agent, brand, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    ticket = assign(agent, brand)
    customer_name = ticket.customer.name
    with asgi_server(sweeper=False, MEDIA_ROOT=str(tmp_path / "media")) as base:
        staff = agent_page(browser, base, agent.user)
        expect(staff.get_by_test_id("chat-view")).to_be_visible()
        customer = customer_page(browser, base, ticket)
        expect(customer.get_by_test_id("connection")).to_have_text("Connected")

        # Typing shows on the other side, both ways.
        customer.get_by_test_id("message-input").press_sequentially("Hello, is anyone")
        typing = staff.get_by_test_id("typing-indicator")
        expect(typing).to_be_visible()
        expect(typing).to_have_text(f"{customer_name} is typing…")
        shot(staff, "chat-typing")
        customer.get_by_test_id("message-send").click()
        expect(staff.get_by_test_id("messages")).to_contain_text("Hello, is anyone")
        expect(typing).to_be_hidden()  # their message arrived

        staff.get_by_test_id("message-input").press_sequentially("Hi! I'm")
        expect(customer.get_by_test_id("typing-indicator")).to_have_text(f"{agent.display_name} is typing…")

        # The agent's reply is delivered (one tick), then read by the customer, who has the
        # chat open (two ticks); the customer's own message was read by the agent.
        staff.get_by_test_id("message-input").fill("Hi! I'm Ada, let me look at this.")
        staff.get_by_test_id("message-send").click()
        mine = staff.locator('[data-testid="message"][data-sender="agent"]').last
        expect(mine.get_by_test_id("ticks")).to_have_attribute("data-state", "read")
        theirs = customer.locator('[data-testid="message"][data-sender="customer"]').last
        expect(theirs.get_by_test_id("ticks")).to_have_attribute("data-state", "read")
        shot(staff, "chat-read-marks")

        # An image from each side, shown inline on both, loaded through the authorized links.
        customer.get_by_test_id("attach-input").set_input_files(png_file(tmp_path, "receipt.png", (220, 60, 60)))
        staff.get_by_test_id("attach-input").set_input_files(png_file(tmp_path, "steps.png", (40, 120, 200)))
        for page in (customer, staff):
            images = page.get_by_test_id("attachment-image")
            expect(images).to_have_count(2)
            for n in range(2):
                expect(images.nth(n)).to_have_js_property("complete", True)
                assert images.nth(n).evaluate("img => img.naturalWidth") == 320
        box = customer.get_by_test_id("attach").bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
        customer.get_by_test_id("attachment-image").last.scroll_into_view_if_needed()
        shot(customer, "chat-attachment")
        shot(staff, "chat-attachment-agent")
        customer.context.close()
        staff.context.close()


def test_a_message_written_while_offline_is_sent_once_when_the_connection_is_back(
    browser,  # noqa: F811
    agent,
    brand,
    tmp_path,
):
    from playwright.sync_api import expect

    ticket = assign(agent, brand)
    with asgi_server(sweeper=False, MEDIA_ROOT=str(tmp_path / "media")) as base:
        staff = agent_page(browser, base, agent.user)
        expect(staff.get_by_test_id("chat-view")).to_be_visible()
        customer = customer_page(browser, base, ticket)
        expect(customer.get_by_test_id("connection")).to_have_text("Connected")

        # Cut the socket first and go offline once it is closed: Chromium's offline emulation
        # can hold back the close frame itself, and the page would wait out the closing
        # handshake still showing "Connected".
        customer.evaluate("window.__offline = true; window.__sockets.forEach(ws => ws.close())")
        expect(customer.get_by_test_id("connection")).not_to_have_text("Connected", timeout=20_000)
        customer.context.set_offline(True)
        # Something that needs the network fails now, and says so.
        customer.get_by_test_id("attach-input").set_input_files(png_file(tmp_path, "offline.png", (0, 0, 0)))
        expect(customer.get_by_test_id("error-box")).to_be_visible()

        customer.get_by_test_id("message-input").fill("Written on the train")
        customer.get_by_test_id("message-send").click()
        pending = customer.get_by_test_id("message-pending")
        expect(pending).to_contain_text("Written on the train")
        expect(pending).to_contain_text("Sending…")
        shot(customer, "customer-sending-offline")
        # A message waiting to go out stays as readable as a sent one.
        assert_accessible(customer, "customer-sending-offline")

        customer.evaluate("window.__offline = false")
        customer.context.set_offline(False)
        expect(customer.get_by_test_id("connection")).to_have_text("Connected", timeout=20_000)
        sent = customer.locator('[data-testid="message"][data-sender="customer"]')
        expect(sent).to_have_count(1)
        expect(sent).to_contain_text("Written on the train")
        expect(pending).to_have_count(0)
        expect(customer.get_by_test_id("error-box")).to_be_hidden()
        arrived = staff.locator('[data-testid="message"][data-sender="customer"]')
        expect(arrived).to_have_count(1)
        expect(arrived).to_contain_text("Written on the train")
        shot(customer, "customer-resend-after-reconnect")

        # Cut again and come back: the outbox is empty, nothing goes twice.
        opened = customer.evaluate("window.__sockets.length")
        customer.evaluate("window.__sockets.forEach(ws => ws.close())")
        customer.wait_for_function(
            "n => window.__sockets.length > n && window.__sockets[window.__sockets.length - 1].readyState === 1",
            arg=opened,
        )
        expect(customer.get_by_test_id("connection")).to_have_text("Connected")
        staff.wait_for_timeout(500)
        expect(arrived).to_have_count(1)
        customer.context.close()
        staff.context.close()
    assert list(Message.objects.filter(ticket=ticket).values_list("text", flat=True)) == ["Written on the train"]
