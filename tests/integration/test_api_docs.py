"""The API docs page (/schema, /schema/swagger) loads only the package's own pinned files, under
a Content-Security-Policy, and needs no staff token."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            if found.get("src"):
                self.urls.append(str(found["src"]))
            else:
                self.inline_scripts += 1
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_docs_page_loads_same_origin_assets_under_a_csp(client, path):
    page = await client.get(path)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"

    found = _Assets()
    found.feed(page.text)
    assert found.inline_scripts == 0
    assert len(found.urls) == 3, found.urls  # the css, the bundle, init.js
    for url in found.urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), url  # same origin: a path, no host
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert 'data-url="/schema/openapi.json"' in page.text


async def test_the_vendored_swagger_ui_keeps_its_licence(client):
    for name in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert (await client.get(f"/schema/assets/swagger-ui/{name}")).status_code == 200


async def test_the_document_is_public_and_json(client):
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")
