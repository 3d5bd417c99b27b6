"""End to end: the manager's page in headless Chromium, driven like a person would."""

import re
import shutil
import socket
import threading
import time

import pytest
import uvicorn

from classifier.service.app import create_app
from classifier.service.settings import Settings

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_started(server, thread: threading.Thread, seconds: float = 20.0) -> None:
    """Wait for the uvicorn ``server`` running in ``thread``; fail with a reason instead of hanging."""
    deadline = time.monotonic() + seconds
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the test server stopped before it started (its error is in the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the test server did not start within {seconds:g} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def base_url(checker, tmp_path_factory):
    port = _free_port()
    settings = Settings(store_path=tmp_path_factory.mktemp("var") / "l.db")
    server = uvicorn.Server(uvicorn.Config(create_app(settings, checker=checker), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_started(server, thread)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(base_url):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(base_url + "/")
        yield page
        browser.close()


def _type(page, text):
    box = page.locator("#comment")
    box.focus()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text, delay=5)


def test_page_is_in_russian_and_focused(page):
    assert page.locator("h1").inner_text() == "Проверка комментария"
    assert page.evaluate("document.activeElement.id") == "comment"


def test_a_stop_phrase_is_rejected_and_highlighted(page):
    _type(page, "Клиент не берет трубку")
    verdict = page.locator("#verdict")
    sync_api.expect(verdict).to_have_attribute("data-category", "stop", timeout=10_000)
    assert verdict.inner_text().startswith("Не развёрнутый")
    assert page.locator("#marked mark.stop").first.inner_text() == "не берет трубку"
    assert page.locator("#marked mark.subject, #marked mark.outcome").count() == 0, "no half was found"
    assert "не указано" in page.locator("#checks").inner_text()
    assert "опишите" in page.locator("#hints").inner_text()


def test_an_expanded_comment_is_accepted(page):
    _type(page, "Клиент берёт 200 лотков DN300 по 1 450 руб, скидка 5% за объём, договор подпишут до пятницы")
    verdict = page.locator("#verdict")
    sync_api.expect(verdict).to_have_attribute("data-category", "expanded", timeout=10_000)
    assert verdict.inner_text() == "Развёрнутый комментарий"
    assert page.locator("#hints li").count() == 0
    # the verdict is traced to the manager's own words: which clause says what was discussed, what agreed
    sync_api.expect(page.locator("#marked mark.outcome")).to_contain_text(["договор подпишут до пятницы"])
    assert page.locator("#marked mark.subject").count() >= 1
    assert "200 лотков DN300" in " ".join(page.locator("#marked mark.subject").all_inner_texts())
    # no score for the manager: a number against a bar tells how little padding would pass
    meta = page.locator("#meta").inner_text()
    assert meta.startswith("Проверено моделью ") and not re.search(r"\d+ из 100|засчитывается", meta)


def test_the_manager_sees_no_number_to_pad_up_to_and_qa_still_has_it(page, base_url):
    """«31 из 100, засчитывается от 30» tells how little padding passes: the verdict and what is missing only."""
    text = "Обсудили условия поставки, клиент согласен на рассрочку, ждёт договор до пятницы"  # no digit in it
    _type(page, text)
    sync_api.expect(page.locator("#marked")).to_have_text(text, timeout=10_000)  # this comment's verdict is shown
    shown = " ".join(page.locator(s).inner_text() for s in ("#verdict", "#checks", "#hints", "#marked-wrap"))
    assert not re.search(r"\d", shown), shown
    meta = page.locator("#meta").inner_text()
    explain = page.evaluate("""async (text) => (await (await fetch("/v1/comments/score?explain=true", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({text})})).json())""",
                            text)
    assert meta == "Проверено моделью " + explain["model_version"]
    assert 0 <= explain["score"] <= 1 and 0 < explain["explain"]["threshold"] < 1, "the number stays for QA"


def test_an_over_limit_comment_gets_a_russian_error(page):
    page.fill("#comment", "а" * 6000)
    page.keyboard.press("Control+Enter")
    error = page.locator("#error")
    sync_api.expect(error).to_be_visible(timeout=10_000)
    assert error.inner_text() == "Комментарий слишком длинный: не больше 5000 символов."


class _NeverStarts:
    started = should_exit = False


def test_waiting_for_a_server_that_never_starts_fails_in_time():
    thread = threading.Thread(target=time.sleep, args=(5,), daemon=True)
    thread.start()
    began = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="did not start within 0.3 s"):
        _wait_started(_NeverStarts(), thread, seconds=0.3)
    assert time.monotonic() - began < 3


def test_waiting_for_a_server_whose_thread_died_fails_at_once():
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    with pytest.raises(pytest.fail.Exception, match="stopped before it started"):
        _wait_started(_NeverStarts(), thread, seconds=30)


def test_ctrl_enter_checks_at_once(page):
    _type(page, "перезвонить")
    page.keyboard.press("Control+Enter")
    sync_api.expect(page.locator("#verdict")).to_have_attribute("data-category", "stop", timeout=10_000)


def test_the_api_docs_render_without_internet(page, base_url):
    """Swagger UI comes from the app itself (swagger-ui-bundle-v2), not a CDN this network cannot reach."""
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(base_url + "/docs")
    sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("crmqc", timeout=10_000)
    sync_api.expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert all(u.startswith(base_url) for u in requested), [u for u in requested if not u.startswith(base_url)]


# --- the audit report at phone width ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def audit_page(tmp_path_factory):
    """report.html of the sample export, audited twice (so the change table and the trend chart are there)."""
    from datetime import datetime

    from classifier import config
    from classifier.audit.report import run_audit
    from classifier.crm.settings import CrmSettings
    from tests.test_crm_audit import twelve_words_judge
    out = tmp_path_factory.mktemp("audit")
    settings = CrmSettings(portal_url="https://example.bitrix24.ru")
    for day in ("2026-11-06", "2026-11-13", "2026-11-20"):
        run_audit(config.DATA_DIR / "sample_export", out, twelve_words_judge,
                  datetime.fromisoformat(f"{day}T12:00:00+03:00"), settings=settings)
    return out / "report.html"


OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if ((o === "auto" || o === "scroll") && p.getBoundingClientRect().right <= width + 0.5) return true; }
    return false; };
  const bad = [];
  for (const t of document.querySelectorAll("table")) {
    const r = t.getBoundingClientRect();
    const name = (t.closest("[aria-label]") || t).getAttribute("aria-label");
    if (r.right > width + 0.5 && !scrolls(t)) bad.push("table: " + name);
  }
  for (const s of document.querySelectorAll("svg")) {
    if (s.getBoundingClientRect().right > width + 0.5) bad.push("chart: " + s.getAttribute("aria-label"));
  }
  return {width, page: document.documentElement.scrollWidth, bad,
          tables: document.querySelectorAll("table").length, charts: document.querySelectorAll("svg").length};
}"""


def test_the_audit_report_reads_at_phone_width(page, audit_page):
    phone = page.context.browser.new_page(viewport={"width": 375, "height": 812}, device_scale_factor=2,
                                          is_mobile=True)
    try:
        phone.goto(audit_page.as_uri())
        found = phone.evaluate(OVERFLOW)
        assert found["tables"] >= 8 and found["charts"] == 4, found
        assert found["bad"] == [], found
        assert found["page"] <= found["width"] == 375, "the page itself never scrolls sideways"
        # a wide table scrolls inside its own box, and the box can be reached from the keyboard
        box = phone.locator('[aria-label="Сделки"]')
        assert box.evaluate("b => b.scrollWidth > b.clientWidth") and box.get_attribute("tabindex") == "0"
        assert phone.locator("polyline").count() >= 1
    finally:
        phone.close()
