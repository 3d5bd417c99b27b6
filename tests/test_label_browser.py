"""The labelling page in headless Chromium, keyboard only, two annotators."""

import csv
import re

import pytest

from classifier import config
from classifier.qa.store import Store
from tests.helpers import read_csv

from .test_browser import CHROMIUM, _free_port, _wait_started, sync_api

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(checker, tmp_path_factory):
    import threading

    import uvicorn

    from classifier.service.app import create_app
    from classifier.service.settings import Settings
    db = tmp_path_factory.mktemp("var") / "labels.sqlite3"
    pool = tmp_path_factory.mktemp("pool") / "pool.csv"
    rows = read_csv(config.TRAIN_CSV)[:30]
    with open(pool, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text"])
        w.writerows([[r["text"]] for r in rows])
    Store(db).import_csv(pool)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(store_path=db, data_dir=db.parent), checker=checker),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_started(server, thread, seconds=20)
    yield f"http://127.0.0.1:{port}", db
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _session(browser, url, name, mode):
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(url + "/label")
    sync_api.expect(page.locator("#name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#me")).to_have_text(name)
    # Entering the name fetches a comment from the default queue. Its answer must be on screen before
    # the mode changes: arriving after the answer for `mode`, it would replace the comment under the
    # test's keys, `_wait_new` would take that for a label, and the next key would hit a busy page.
    sync_api.expect(page.locator("#source")).not_to_be_empty()
    with page.expect_response(lambda r: "/v1/labelling/next" in r.url and f"mode={mode}" in r.url) as asked:
        page.select_option("#mode", mode)
    shown = asked.value.json()["comment_id"]
    sync_api.expect(page.locator("#source")).to_have_text(re.compile(rf"^№ {shown}( ·|$)"))
    page.locator("#mode").blur()
    return page


def _wait_new(page, previous):
    sync_api.expect(page.locator("#source")).not_to_have_text(previous, timeout=10_000)
    return page.locator("#source").inner_text()


def test_two_annotators_label_with_the_keyboard(served, browser):
    url, db = served
    anna = _session(browser, url, "Анна", "random")
    sync_api.expect(anna.locator("#text")).not_to_be_empty()
    seen = anna.locator("#source").inner_text()
    for key in "1234512345":
        anna.keyboard.press(key)
        seen = _wait_new(anna, seen)
    anna.keyboard.press("s")                      # skip one
    seen = _wait_new(anna, seen)
    anna.keyboard.press("n")                      # a note, then back to the keys
    sync_api.expect(anna.locator("#note")).to_be_focused()
    anna.keyboard.type("спорно: нет срока")
    anna.keyboard.press("Enter")
    anna.keyboard.press("2")
    seen = _wait_new(anna, seen)
    anna.keyboard.press("u")                      # undo brings the comment back
    sync_api.expect(anna.locator("#previous")).to_contain_text("отменена")
    anna.keyboard.press("3")
    _wait_new(anna, anna.locator("#source").inner_text())
    sync_api.expect(anna.locator("#today")).to_have_text("11")
    assert "ваша метка — только итог" in anna.locator("#previous").inner_text()
    assert "модель —" in anna.locator("#previous").inner_text()

    boris = _session(browser, url, "Борис", "overlap")
    seen = boris.locator("#source").inner_text()
    for key in "1234512345":
        boris.keyboard.press(key)
        seen = _wait_new(boris, seen)
    sync_api.expect(boris.locator("#today")).to_have_text("10")
    sync_api.expect(boris.locator("#agree")).to_contain_text("Анна: κ=")

    store = Store(db)
    labels = store.current_labels()
    assert sum(r["annotator"] == "Анна" for r in labels) == 11
    assert any(r["note"] == "спорно: нет срока" for r in store.db.execute("SELECT note FROM labels"))



def test_a_late_answer_for_a_left_mode_does_not_replace_the_comment(served, browser):
    """The default queue's answer arrives after the analyst has switched mode: the page keeps the
    comment of the mode now chosen (a late answer used to replace the one under the analyst's keys)."""
    url, _ = served
    page = browser.new_context().new_page()
    held = []  # the default queue's request, answered only when the test says so
    page.route(re.compile(r".*/v1/labelling/next\?.*mode=uncertain.*"), lambda route: held.append(route))
    page.goto(url + "/label")
    page.keyboard.type("Вера")
    page.keyboard.press("Enter")
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page did not ask the default queue for a comment"
    with page.expect_response(lambda r: "mode=random" in r.url) as asked:
        page.select_option("#mode", "random")
    shown = re.compile(rf"^№ {asked.value.json()['comment_id']}( ·|$)")
    sync_api.expect(page.locator("#source")).to_have_text(shown)
    held[0].fulfill(json={"comment_id": 999_999, "text": "УСТАРЕВШИЙ ОТВЕТ", "source": "", "done": False,
                          "guess": {"category": "stop", "score": 0.0}})
    page.wait_for_timeout(1000)
    sync_api.expect(page.locator("#source")).to_have_text(shown)
    assert "УСТАРЕВШИЙ" not in page.locator("#text").inner_text()


def _russian_key(page, code: str, key: str) -> None:
    """A key pressed on a Russian layout: the physical key is `code`, the character typed is `key`."""
    page.evaluate("([code, key]) => document.dispatchEvent(new KeyboardEvent('keydown', "
                  "{code, key, bubbles: true, cancelable: true}))", [code, key])


def test_the_letter_keys_work_on_a_russian_layout(served, browser):
    url, _ = served
    page = _session(browser, url, "Галина", "random")
    seen = page.locator("#source").inner_text()
    _russian_key(page, "Digit2", "2")
    seen = _wait_new(page, seen)
    _russian_key(page, "KeyS", "ы")               # s: skip
    seen = _wait_new(page, seen)
    _russian_key(page, "KeyU", "г")               # u: undo the label
    sync_api.expect(page.locator("#previous")).to_contain_text("отменена")
    _russian_key(page, "KeyN", "т")               # n: the note
    sync_api.expect(page.locator("#note")).to_be_focused()


def test_an_empty_queue_says_why_on_the_page(served, browser):
    """The page words the server's reason (tests/test_labelling_api.py checks the reasons themselves)."""
    url, _ = served
    page = browser.new_context().new_page()
    page.route(re.compile(r".*/v1/labelling/next\?.*"), lambda route: route.fulfill(json={
        "comment_id": None, "done": True, "reason": "all_in_data", "message": "…",
        "pool": {"pool": 3575, "in_data": 3575}}))
    page.goto(url + "/label")
    page.keyboard.type("Дарья")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#done")).to_be_visible()
    sync_api.expect(page.locator("#done")).to_contain_text("Все комментарии пула уже размечены в data/")
