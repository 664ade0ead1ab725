"""The API docs page in a real headless Chromium with every other host unreachable: Swagger UI
renders the document from the package's own files, and the page's CSP refuses nothing it
needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.integration.staff.test_browser import ARGS, CHROMIUM, HAVE_CHROMIUM

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_docs_page_renders_with_no_other_host_reachable(browser, api, db, path):
    origin = urlsplit(api).netloc
    context = await browser.new_context()
    elsewhere: list[str] = []
    problems: list[str] = []

    async def only_our_origin(route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_our_origin)
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    try:
        await page.goto(f"{api}{path}")
        title = page.locator(".swagger-ui .info .title")
        await title.wait_for(timeout=20_000)
        assert "Usher" in await title.inner_text()
        await page.locator(".opblock-tag", has_text="programme").first.wait_for(timeout=10_000)
        assert await page.locator(".opblock").count() > 20
    finally:
        await context.close()
    assert elsewhere == []
    assert problems == []  # a CSP refusal is logged as a console error
