"""`/docs` and `/redoc` work without internet: every file comes from the app itself."""

from __future__ import annotations

import json
import re
import tempfile
from importlib import resources

import pytest

from kayou_dispatch.server.routers.docs import DOCS_ASSETS

from ..browser import js_errors, start_browser, wait_for
from ..processes import ServeProcess
from .conftest import TOKENS

_URL = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url\s*:\s*['"]([^'"]+)['"]""")


def urls_in(page: str) -> list[str]:
    return [a or b for a, b in _URL.findall(page)]


def test_docs_page_references_only_this_server(client):
    assets = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = urls_in(r.text)
    assert "/openapi.json" in urls
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, no web fonts
    assert {u.rsplit("/", 1)[1] for u in urls if u.startswith("/docs/static/")} == assets
    for name in assets:
        got = client.get(f"/docs/static/{name}")
        assert got.status_code == 200
        assert got.headers["content-type"].startswith(DOCS_ASSETS[name])
        shipped = (resources.files("fastapi_offline") / "static" / name).read_bytes()
        assert got.content == shipped and len(shipped) > 1000


def test_docs_static_refuses_other_names(client):
    for name in ("..%2Fcore.py", "core.py", "swagger-ui.js", "redoc.standalone.js"):
        assert client.get(f"/docs/static/{name}").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/redoc").status_code == 404  # its bundle calls a CDN: not served


def test_docs_follow_the_root_path_when_mounted(engine):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from kayou_dispatch.server import create_app

    host = FastAPI()
    host.mount("/dispatch", create_app(engine, auth=TOKENS, tick_interval_s=None))
    page = TestClient(host).get("/dispatch/docs").text
    assert "/dispatch/docs/static/swagger-ui-bundle.js" in urls_in(page)
    assert "/dispatch/openapi.json" in urls_in(page)


@pytest.mark.browser
def test_swagger_ui_renders_in_chromium_with_no_internet(tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    proc = ServeProcess(tmp_path, "--tokens", str(tokens)).start()
    # Every non-loopback request goes to a dead proxy: as offline as a browser gets.
    offline = ("--proxy-server=http://127.0.0.1:9",)
    browser = start_browser(tempfile.mkdtemp(prefix="kayou-docs-"), extra_flags=offline)
    try:
        browser.get(f"{proc.base}/docs")
        wait_for(browser, "document.querySelectorAll('.opblock').length > 20", timeout=30)
        text = browser.find_element("css selector", ".swagger-ui").text
        assert "/v1/incidents" in text and "kayou_dispatch" in text
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert any(u.endswith("/openapi.json") for u in loaded)
        assert all(u.startswith(proc.base) for u in loaded), loaded
        assert js_errors(browser) == []
    finally:
        browser.quit()
        proc.stop()
