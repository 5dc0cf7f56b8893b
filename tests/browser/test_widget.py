"""The chat widget on the demo clinic page, in Chromium, against the real servers.

Replies are compared with the knowledge file and the clinic settings, so content
changes do not break these tests, but a wrong or missing answer does.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from bot.channels.web import clinic_config
from tests.browser.chat import Chat
from tests.browser.conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"


def open_chat(new_page, demo_url, **options) -> Chat:
    page = new_page(**options)
    page.goto(demo_url)
    return Chat(page).open()


def test_browser_at_the_server_address_gets_the_demo_page_and_clinic_details(new_page, bot, settings):
    # Other clients asking for / still get Rasa's own answer.
    assert requests.get(bot.url, timeout=10).text.startswith("Hello from Rasa")
    config = requests.get(f"{bot.url}/webhooks/web/config.json", timeout=10).json()
    assert config == clinic_config()  # whose content tests/unit/bot/channels/test_channels.py checks
    assert settings.emergency_number in config["disclaimer"][1]

    page = new_page()
    page.goto(bot.url + "/")
    assert page.url == f"{bot.url}/webhooks/web/"
    # The page's clinic details come from the server, not from the HTML.
    expect(page.locator(".brand")).to_have_text(settings.name)
    expect(page.locator(".hours-card")).to_contain_text(settings.phone)
    expect(page.get_by_role("link", name="Book a visit").first).to_have_attribute(
        "href", settings.booking_url
    )
    # The demo page embeds the widget with one tag and its data attributes.
    Chat(page).open()
    expect(page.locator(".title")).to_have_text("Ask about pain treatments")
    assert page.locator(".head").evaluate("n => getComputedStyle(n).backgroundColor") == "rgb(11, 94, 134)"


def test_one_script_tag_embeds_it_with_a_readable_accent(new_page, bot):
    # A clinic page with only the embed tag, and a colour too light for white text.
    page = new_page()
    html = (
        "<!doctype html><html lang=en><title>Clinic</title><h1>Our clinic</h1>"
        '<script src="widget.js" data-title="Questions?" data-accent="#ffd54f"></script></html>'
    )
    page.route("**/webhooks/web/embed.html", lambda route: route.fulfill(content_type="text/html", body=html))
    page.goto(f"{bot.url}/webhooks/web/embed.html")
    chat = Chat(page).open()
    expect(page.locator(".title")).to_have_text("Questions?")
    background = page.locator(".head").evaluate("n => getComputedStyle(n).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert contrast_with_white(red, green, blue) >= 4.5, background
    chat.ask("what is a nerve block?", 2)


def contrast_with_white(*rgb: int) -> float:
    def channel(value: int) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in rgb)
    return 1.05 / (0.2126 * red + 0.7152 * green + 0.0722 * blue + 0.05)


def test_disclaimer_question_answer_referral_and_timestamps(
    new_page, demo_url, knowledge, referral, settings
):
    chat = open_chat(new_page, demo_url)
    notice = chat.page.locator(".notice")
    assert "General information only" in notice.inner_text()
    assert "not medical advice" in notice.inner_text()
    assert "Not for emergencies" in notice.inner_text()
    assert settings.emergency_number in notice.inner_text()
    assert settings.crisis_line in notice.inner_text()
    assert chat.input.evaluate("n => n === n.getRootNode().activeElement"), "opening the chat focuses the box"

    replies = chat.ask("what is radiofrequency ablation?", 2)
    assert replies == [knowledge.answer("radiofrequency_ablation", "overview").text, referral]
    assert chat.user_messages() == ["what is radiofrequency ablation?"]
    assert chat.transport() == "socket"

    # Web addresses and the clinic's phone number in bot text are links.
    last = chat.page.locator(".msg.bot").last
    assert last.locator(f'a[href="{settings.booking_url}"]').get_attribute("target") == "_blank"
    digits = re.sub(r"[^\d+]", "", settings.phone)
    assert last.locator(f'a[href="tel:{digits}"]').inner_text() == settings.phone
    # Every message has a time.
    times = chat.page.locator(".msg time")
    assert times.count() == 3
    assert re.match(r"^\d{1,2}:\d{2}", times.first.inner_text())
    assert times.first.get_attribute("datetime").endswith("Z")


def test_buttons_send_their_payload_and_show_their_title(new_page, demo_url, knowledge, referral):
    chat = open_chat(new_page, demo_url)
    (question,) = chat.ask("how long does relief last?", 1)
    assert question == knowledge.messages["ask_which_procedure"]
    stimulator = knowledge.entries["spinal_cord_stimulation"].short_name
    choices = chat.page.locator(".msg.bot").last.get_by_role("button")
    assert stimulator in choices.all_inner_texts()
    assert choices.count() >= len(knowledge.procedures)

    before = chat.page.locator(".msg.bot").count()
    chat.page.get_by_role("button", name=stimulator, exact=True).click()
    replies = chat.wait_for_replies(before, 2)
    assert replies == [knowledge.answer("spinal_cord_stimulation", "relief_duration").text, referral]
    assert chat.user_messages()[-1] == stimulator
    assert stimulator not in chat.choices(), "choices go away once the patient has answered"


def test_history_survives_reload_and_navigation_and_start_over_clears_it(new_page, demo_url, knowledge):
    chat = open_chat(new_page, demo_url)
    chat.ask("what is radiofrequency ablation?", 2)
    history = (chat.user_messages(), chat.bot_messages())
    session = chat.page.evaluate(
        "() => Object.keys(sessionStorage).filter(k => k.startsWith('painClinicChat:'))"
    )
    assert session

    chat.page.reload()
    chat.panel.wait_for(state="visible")  # it stays open, too
    assert (chat.user_messages(), chat.bot_messages()) == history

    chat.page.goto(demo_url + "?from=another-page")
    chat.page.goto(demo_url)
    chat.panel.wait_for(state="visible")
    assert (chat.user_messages(), chat.bot_messages()) == history
    # The conversation itself goes on: the server still knows the treatment.
    (answer, _) = chat.ask("how long is recovery?", 2)
    assert answer == knowledge.answer("radiofrequency_ablation", "recovery_time").text

    chat.page.get_by_role("button", name="Start over").click()
    assert chat.user_messages() == [] and chat.bot_messages() == []
    assert chat.page.locator(".notice").is_visible()
    assert "cleared" in chat.page.locator("[aria-live=polite]").inner_text()
    # A new conversation: the treatment from before is forgotten.
    (question,) = chat.ask("how long is recovery?", 1)
    assert question == knowledge.messages["ask_which_procedure"]
    chat.page.reload()
    assert chat.user_messages() == ["how long is recovery?"]


def test_user_and_bot_text_is_shown_as_text(new_page, demo_url, bot):
    chat = open_chat(new_page, demo_url)
    chat.ask(XSS, 1)
    assert chat.user_messages() == [XSS]
    assert chat.page.locator("#pain-clinic-chat img").count() == 0
    chat.page.reload()
    assert chat.user_messages() == [XSS]

    # Bot text too: a reply with markup (sent over the REST channel here).
    page = new_page()
    page.route("**/socket.io/**", lambda route: route.abort())
    bot_text = (
        f"{XSS} <script>alert(2)</script> Read https://example.org/a?b=1&c=2. "
        "javascript:alert(3)\n\nSecond paragraph."
    )
    page.route(
        "**/webhooks/rest/webhook",
        lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps([{"text": bot_text}])
        ),
    )
    page.goto(f"{bot.url}/webhooks/web/")
    chat = Chat(page).open()
    chat.ask("hello", 1)
    message = page.locator(".msg.bot .text").last
    assert message.locator("p").count() == 2
    assert (
        message.locator("p")
        .first.evaluate("n => n.textContent")
        .startswith(XSS + " <script>alert(2)</script>")
    )
    assert message.locator("a").count() == 1
    assert message.locator("a").get_attribute("href") == "https://example.org/a?b=1&c=2"
    assert page.locator("#pain-clinic-chat img, #pain-clinic-chat script").count() == 0
    assert (
        page.evaluate("() => document.querySelector('#pain-clinic-chat').shadowRoot.querySelector('img')")
        is None
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_red_flag_gets_emergency_instructions_first(new_page, demo_url, knowledge, settings, viewport):
    chat = open_chat(new_page, demo_url, viewport=viewport)
    replies = chat.ask("I suddenly can't feel my legs", 2)
    emergency = knowledge.triage.levels["emergency"]
    values = settings.template_values()
    assert replies == [emergency.message.format(**values), emergency.then.format(**values)]

    # The emergency number stays in view: the instructions are scrolled to from their
    # start, with the number as a link to call...
    first = chat.page.locator(".msg.bot").nth(-2)
    digits = re.sub(r"[^\d+]", "", settings.emergency_number)
    call = first.locator(f'a[href="tel:{digits}"]')
    expect(call).to_have_text(settings.emergency_number)
    expect(call).to_be_in_viewport()
    # ...and the notice with it is still shown above the conversation.
    notice = chat.page.locator(".notice")
    expect(notice).to_be_visible()
    expect(notice).to_be_in_viewport()
    expect(notice).to_contain_text("Not for emergencies")
    expect(notice).to_contain_text(settings.emergency_number)
    expect(notice).to_contain_text(settings.crisis_line)


def test_rest_fallback_when_socket_io_is_blocked(new_page, demo_url, knowledge, referral):
    page = new_page()
    page.route("**/socket.io/**", lambda route: route.abort())
    page.goto(demo_url)
    chat = Chat(page).open()
    replies = chat.ask("what is radiofrequency ablation?", 2)
    assert replies == [knowledge.answer("radiofrequency_ablation", "overview").text, referral]
    assert chat.transport() == "rest"
    assert chat.banner.is_hidden(), "a blocked socket alone is not a connection problem"


def test_too_many_messages_get_the_wait_message_and_the_text_goes_back(new_page, demo_url, bot, responder):
    page = new_page()
    page.route("**/socket.io/**", lambda route: route.abort())
    page.goto(demo_url)
    chat = Chat(page).open()
    chat.ask("what is radiofrequency ablation?", 2)
    session = page.evaluate(
        "() => Object.entries(sessionStorage).map(([k, v]) => JSON.parse(v))"
        ".find(v => v && v.sessionId).sessionId"
    )
    # Someone floods this conversation until the server's per-sender limit answers 429.
    for _ in range(40):
        flood = requests.post(
            f"{bot.url}/webhooks/rest/webhook", json={"sender": session, "message": "hello"}, timeout=30
        )
        if flood.status_code == 429:
            break
    assert flood.status_code == 429, "the per-sender rate limit never answered"
    replies = chat.ask("how long does recovery take?", 1)
    assert replies == [responder.message("rate_limited")]
    expect(chat.input).to_have_value("how long does recovery take?")
    assert "how long does recovery take?" not in chat.user_messages()
    assert chat.banner.is_hidden(), "being asked to wait is not a connection problem"


def test_unreachable_server_shows_the_phone_number_and_recovers(new_page, proxy, knowledge, settings):
    page = new_page(hosts=[f"127.0.0.1:{proxy.port}"])
    page.goto(f"{proxy.url}/webhooks/web/")
    chat = Chat(page).open()
    chat.ask("what is a nerve block?", 2)

    proxy.stop()  # the server goes away
    chat.banner.wait_for(state="visible")
    assert "can't reach the assistant" in chat.banner.inner_text()
    assert settings.phone in chat.banner.inner_text()
    assert chat.banner.get_attribute("role") == "alert"
    assert chat.panel.get_attribute("data-connection") == "offline"

    chat.type("what is radiofrequency ablation?")
    assert "not sent" in chat.banner.inner_text()
    assert chat.input.input_value() == "what is radiofrequency ablation?", "the patient's words are kept"
    assert chat.user_messages() == ["what is a nerve block?"]

    proxy.start()  # ... and comes back: the widget reconnects by itself
    page.wait_for_function(
        "() => document.querySelector('#pain-clinic-chat').shadowRoot"
        ".querySelector('#pcc-panel').dataset.connection === 'online'",
        timeout=30_000,
    )
    replies = chat.ask("what is radiofrequency ablation?", 2)
    assert replies[0] == knowledge.answer("radiofrequency_ablation", "overview").text


def test_keyboard_only(new_page, demo_url, knowledge):
    page = new_page()
    page.goto(demo_url)
    chat = Chat(page)
    chat.launcher.focus()
    assert chat.launcher.evaluate("n => getComputedStyle(n).outlineStyle") != "none", "focus is visible"
    page.keyboard.press("Enter")
    chat.panel.wait_for(state="visible")
    page.keyboard.type("how long does relief last?")
    page.keyboard.press("Enter")
    page.locator(".msg.bot .choice").first.wait_for()
    # Tab from the text box goes backwards to the choices (Shift+Tab) and they work with Enter.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate(
        "() => document.querySelector('#pain-clinic-chat').shadowRoot.activeElement.textContent"
    )
    assert focused in chat.choices()
    before = page.locator(".msg.bot").count()
    page.keyboard.press("Enter")
    chat.wait_for_replies(before, 2)
    assert chat.user_messages()[-1] == focused
    page.keyboard.press("Escape")
    chat.panel.wait_for(state="hidden")
    assert page.evaluate("() => document.activeElement.id") == "pain-clinic-chat"
    assert chat.launcher.evaluate("n => n === n.getRootNode().activeElement"), "focus returns to the launcher"


def test_small_screens_zoom_and_reduced_motion(new_page, demo_url):
    # 320 px wide phone; 1280x800 at 200 % zoom is 640x400 CSS pixels.
    for viewport in ({"width": 320, "height": 640}, {"width": 640, "height": 400}):
        chat = open_chat(new_page, demo_url, viewport=viewport, reduced_motion="reduce")
        chat.ask("what is radiofrequency ablation?", 2)
        box = chat.panel.bounding_box()
        assert box["width"] <= viewport["width"] and box["height"] <= viewport["height"]
        for control in (chat.input, chat.page.locator(".send"), chat.page.locator(".close")):
            control_box = control.bounding_box()
            assert (
                control_box["x"] >= 0 and control_box["x"] + control_box["width"] <= viewport["width"] + 0.5
            )
            assert control_box["y"] + control_box["height"] <= viewport["height"] + 0.5
        overflow = chat.page.locator(".log").evaluate("n => n.scrollWidth - n.clientWidth")
        assert overflow <= 0, "no sideways scrolling"
        assert chat.panel.evaluate("n => getComputedStyle(n).animationName") == "none"


def test_accessibility_audit_with_axe(new_page, demo_url, axe_source):
    for viewport in (DESKTOP, PHONE):
        chat = open_chat(new_page, demo_url, viewport=viewport)
        chat.ask("how long does relief last?", 1)
        chat.page.evaluate(axe_source)
        results = chat.page.evaluate(
            """() => axe.run(document, {
                 runOnly: {type: 'tag', values: [
                   'wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'
                 ]},
                 resultTypes: ['violations', 'incomplete']
               })"""
        )
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        # Text on a gradient or an image is contrast that axe cannot check at all.
        unmeasured = [
            node["target"]
            for v in results["incomplete"]
            if v["id"] == "color-contrast"
            for node in v["nodes"]
            if any(
                "gradient" in check["message"] or "background image" in check["message"]
                for check in node["any"] + node["all"] + node["none"]
            )
        ]
        assert not serious, "\n".join(serious)
        assert not unmeasured, f"colour contrast not measurable: {unmeasured}"


def test_screenshots_for_the_readme(new_page, demo_url):
    """Writes docs/screenshots/chat-desktop.png and chat-phone.png (only when they change)."""
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(viewport=viewport, reduced_motion="reduce")
        page.clock.set_fixed_time("2026-03-02T10:30:00-05:00")
        page.goto(demo_url)
        chat = Chat(page).open()
        chat.ask("what is radiofrequency ablation?", 2)
        if name == "phone":  # the disclaimer, the question and the start of the answer
            page.locator(".log").evaluate("n => { n.scrollTop = 0; }")
        # (On the desktop the widget itself shows the question and its whole answer.)
        chat.input.blur()
        image = page.screenshot()
        path = SCREENSHOTS / f"chat-{name}.png"
        if not path.exists() or path.read_bytes() != image:
            path.write_bytes(image)
