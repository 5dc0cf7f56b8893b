"""Drives the chat widget on a page the way a patient does."""

from __future__ import annotations

from typing import List

# A message's text as the patient reads it: without the words only screen
# readers get ("Assistant:", "(opens in a new tab)").
VISIBLE_TEXT = """node => {
  const copy = node.cloneNode(true);
  copy.querySelectorAll('.sr-only').forEach(n => n.remove());
  return copy.textContent;
}"""


class Chat:
    """The widget on one page. Playwright's CSS locators reach into its shadow root."""

    def __init__(self, page) -> None:
        self.page = page
        self.launcher = page.locator(".launcher")
        self.panel = page.locator("#pcc-panel")
        self.input = page.get_by_label("Your question")
        self.banner = page.locator(".banner")

    def open(self) -> Chat:
        self.page.get_by_role("button", name="Chat with us").click()
        self.panel.wait_for(state="visible")
        return self

    def messages(self, who: str) -> List[str]:
        return [node.evaluate(VISIBLE_TEXT) for node in self.page.locator(f".msg.{who} .text").all()]

    def bot_messages(self) -> List[str]:
        return self.messages("bot")

    def user_messages(self) -> List[str]:
        return self.messages("user")

    def type(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def ask(self, text: str, replies: int) -> List[str]:
        """Sends ``text`` and returns the ``replies`` bot messages that answer it."""
        before = self.page.locator(".msg.bot").count()
        self.type(text)
        return self.wait_for_replies(before, replies)

    def wait_for_replies(self, before: int, replies: int) -> List[str]:
        self.page.locator(".msg.bot").nth(before + replies - 1).wait_for()
        # Let any further message of the same turn arrive before reading.
        self.page.locator(".typing").wait_for(state="hidden")
        return self.bot_messages()[before:]

    def choices(self) -> List[str]:
        return self.page.locator(".msg.bot .choice").all_inner_texts()

    def transport(self) -> str:
        return self.panel.get_attribute("data-transport") or ""
