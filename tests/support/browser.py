"""Debian's Chromium driven by Playwright for Python, for the ops console's browser tests.

Playwright's own browser download cannot work on a closed network, so the tests drive
/usr/bin/chromium (`./dev test` installs it where it can); without it they fail saying what
to install, never skip.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    async_playwright,
)
from playwright.async_api import expect as expect

# Bounds, not timings: the pages are checked as soon as they show what is expected; a
# loaded machine (the suite runs in parallel with whole calls) may take seconds.
expect.set_options(timeout=30_000)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ops"
LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


async def launch(extra_args: tuple[str, ...] = ()) -> tuple[Playwright, Browser]:
    """`extra_args`: more Chromium switches (the browser-call tests' fake microphone)."""
    if not CHROMIUM.exists():
        pytest.fail(
            "the browser tests need Debian's chromium at /usr/bin/chromium: "
            "apt-get install -y chromium (./dev test does this when run as root)"
        )
    pw = await async_playwright().start()
    browser = await pw.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*ARGS, *extra_args]
    )
    return pw, browser


async def new_page(browser: Browser, phone: bool = False) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=PHONE if phone else LAPTOP, accept_downloads=True)
    context.set_default_timeout(30_000)
    return context, await context.new_page()


async def sign_in(page: Page, base: str, key: str, path: str = "/ops/calls") -> None:
    await page.goto(base + path)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).not_to_have_url(re.compile(r"/sign-in"))


async def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact (test-artifacts/ops, git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
