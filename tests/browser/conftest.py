"""Browser tests: the built web app served by `tenure serve` on the embedded default (what `make run` gives a
person: SQLite, in-process jobs, the offline sandbox providers) at http://localhost:<port>, driven by Playwright
in Debian's Chromium (headless, no browser download). Screenshots of key pages go to `var/screenshots/`.
"""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "web" / "dist"
CHROMIUM = os.environ.get("TENURE_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "var" / "screenshots"
TENURE = str(Path(sys.executable).with_name("tenure"))
STEP_UP_MINUTES = 1
CHROMIUM_ARGS = [  # as on this machine's closed network: nothing in the background reaches out
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Service:
    url: str
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `tenure …` against this service's database (as an operator would)."""
        done = subprocess.run(
            [TENURE, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr or done.stdout
        return done.stdout

    def python(self, module: str, *args: str) -> str:
        """Run one of the test helpers (``python -m``) against this service's database."""
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr or done.stdout
        return done.stdout

    def emailed_code(self, email: str) -> str:
        """The newest 6-digit code the sandbox mailbox holds for ``email``."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = re.findall(r"\b(\d{6})\b", self.cli("mailbox", email, "--limit", "1"))
            if found:
                return found[0]
            time.sleep(0.3)
        raise AssertionError(f"no code was emailed to {email}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A fresh service and database per test module (a round selects from everyone in line)."""
    if not (WEB_DIR / "index.html").is_file():
        pytest.fail("the web app is not built: run `make web` (make test does)")
    port = free_port()
    url = f"http://localhost:{port}"
    data = tmp_path_factory.mktemp("browser")
    env = {
        **os.environ,
        "TENURE_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'tenure.db'}",
        "TENURE_PORT": str(port),
        "TENURE_HOST": "127.0.0.1",
        "TENURE_PUBLIC_URL": url,
        "TENURE_WEB_DIR": str(WEB_DIR),
        "TENURE_LOG_LEVEL": "WARNING",
        "TENURE_STEP_UP_MINUTES": str(STEP_UP_MINUTES),  # short, so a test can outwait it
        # Launched over a year ago, so a payout round is possible once the fund is large enough (§7).
        "TENURE_LAUNCH_DATE": (date.today() - timedelta(days=400)).isoformat(),
    }
    for name in ("TENURE_REDIS_URL", "TENURE_QUEUE_BACKEND", "TENURE_PROVIDERS", "TENURE_ENV"):
        env.pop(name, None)
    service = Service(url=url, env=env)
    service.cli("migrate", "up")
    log = (data / "serve.log").open("w")
    server = subprocess.Popen([TENURE, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (data / "serve.log").read_text()
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)
        yield service
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, service: Service) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core (an npm dev dependency of the web app), the accessibility engine browsers' own audits build on."""


def accessibility_problems(page: Page) -> list[str]:
    """WCAG 2.1 A/AA violations on the page as it is now (serious and critical ones), as readable lines."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())  # through the debugger: the app's CSP (no inline scripts) stays enforced
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', "
        "'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def screenshot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
