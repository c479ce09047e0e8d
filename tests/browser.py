"""Start Debian's headless Chromium for browser tests (selenium; nothing is downloaded).

Tests using it skip, with the reason, when selenium, ``/usr/bin/chromium`` or
``/usr/bin/chromedriver`` is missing; ``.ci/run`` installs them and sets
``KAYOU_REQUIRE_SERVICES``, under which a missing browser fails instead.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers: use /tmp instead
    "--window-size=1280,800",
)


def start_browser(user_data_dir: str, *, extra_flags: tuple[str, ...] = ()) -> Any:
    """A headless Chromium driven by selenium, with a fresh profile in ``user_data_dir``."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        why = f"no {' and '.join(missing)}: apt-get install chromium chromium-driver"
        if os.environ.get("KAYOU_REQUIRE_SERVICES"):  # CI installs them: never skip there
            pytest.fail(why)
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, *extra_flags):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(driver: Any, script: str, timeout: float = 10.0) -> Any:
    """Wait until a JavaScript expression is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(f"return {script}")
    )


def js_errors(driver: Any) -> list[str]:
    """The SEVERE messages the page logged since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
