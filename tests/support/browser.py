"""The console in a real browser: Debian's Chromium driven by Playwright (no browser is downloaded).

A test module takes the `browser` fixture by importing it (`from tests.support.browser import
browser`, listed in the module's `__all__` so the import is not taken for unused).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from simulator.lab.processes import REPO
from tests.support.require import need

CHROMIUM = "/usr/bin/chromium"
# Nothing fetched in the background (updates, components), no first-run page; no sandbox and no GPU,
# which a test machine or container may not offer.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
# The console's own reconnect attempts while its server is down.
RECONNECTING = ("ERR_CONNECTION_REFUSED", "WebSocket")


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    need(
        shutil.which(CHROMIUM) is not None, f"{CHROMIUM} is missing (sudo make system-deps installs Debian's chromium)"
    )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: Browser) -> Page:
    """A page in a fresh context (no cookies) of a Polish desktop browser."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="pl-PL")
    return await context.new_page()


@contextlib.contextmanager
def no_script_errors(page: Page, *, expected: Sequence[str] = ()) -> Iterator[list[str]]:
    """No page error and no console error on `page`, but for those containing one of `expected`."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None)
    yield errors
    unexpected = [e for e in errors if not any(text in e for text in expected)]
    assert unexpected == [], unexpected


async def confirm_in_page(page: Page, button: str) -> None:
    """Confirm the console's own dialog (it uses no browser confirm()) by its button's name."""
    dialog = page.locator("dialog.opaska-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=button, exact=True).click()
    await expect(dialog).to_have_count(0)
