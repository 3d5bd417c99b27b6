"""The labelling page in headless Chromium, keyboard only, two annotators."""

import csv
import re

import pytest

from classifier import config
from classifier.qa.store import Store
from tests.helpers import read_csv

from .test_browser import CHROMIUM, _free_port, _wait_started, sync_api

pytestmark = pytest.mark.browser


def _serve(checker, tmp_path_factory):
    """The service over a fresh store holding 30 comments of data/train.csv: yields (url, store path)."""
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
def served(checker, tmp_path_factory):
    yield from _serve(checker, tmp_path_factory)


@pytest.fixture(scope="module")
def served_disputes(checker, tmp_path_factory):
    """A store of its own, with two disagreements (comments 1 and 3) and one agreement (comment 2)."""
    for url, db in _serve(checker, tmp_path_factory):
        store = Store(db)
        store.add_label(1, "Анна", "stop", note="нет ни темы, ни итога")
        store.add_label(1, "Борис", "expanded", note="есть договорённость")
        store.add_label(2, "Анна", "padding")
        store.add_label(2, "Борис", "padding")
        store.add_label(3, "Анна", "subject_only")
        store.add_label(3, "Борис", "outcome_only")
        store.close()
        yield url, db


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
    seen = anna.locator("#source").inner_text()  # the comment brought back, read before the key is pressed
    anna.keyboard.press("3")
    _wait_new(anna, seen)
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


def test_a_reviewer_settles_the_disagreements_with_the_keyboard(served_disputes, browser):
    url, db = served_disputes
    texts = {i: Store(db).comment(i)["text"] for i in (1, 3)}
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(url + "/label")
    page.keyboard.type("Вера")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#me")).to_have_text("Вера")
    with page.expect_response(lambda r: "/v1/labelling/reviews" in r.url):
        page.get_by_label("Рецензент").check()
    sync_api.expect(page.locator("#role-name")).to_have_text("Рецензент")
    sync_api.expect(page.locator("#labelling")).to_be_hidden()
    sync_api.expect(page.locator("#mode")).to_be_hidden()

    # the first unsettled disagreement: its text, each annotator's category and note
    sync_api.expect(page.locator("#r-source")).to_have_text(re.compile(r"^№ 1( ·|$)"))
    sync_api.expect(page.locator("#r-text")).to_have_text(texts[1])
    sync_api.expect(page.locator("#r-labels li")).to_have_text([
        "Анна: стоп-фраза — «нет ни темы, ни итога»", "Борис: развёрнутый — «есть договорённость»"])
    sync_api.expect(page.locator("#r-left")).to_have_text("Неразобранных разногласий: 2")
    sync_api.expect(page.locator("#r-save")).to_be_disabled()
    page.keyboard.press("4")                                   # padding
    sync_api.expect(page.locator("#r-keys [data-cat=padding]")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("n")
    sync_api.expect(page.locator("#r-note")).to_be_focused()
    page.keyboard.type("длинно, но пусто")
    page.keyboard.press("Enter")                               # back from the note, nothing saved yet
    sync_api.expect(page.locator("#r-note")).not_to_be_focused()
    sync_api.expect(page.locator("#r-save")).to_be_enabled()
    sync_api.expect(page.locator("#r-source")).to_have_text(re.compile(r"^№ 1( ·|$)"))
    page.get_by_role("button", name="Сохранить решение").click()

    # the next one, on a Russian layout: the physical key of «3», then Enter saves
    sync_api.expect(page.locator("#r-source")).to_have_text(re.compile(r"^№ 3( ·|$)"))
    sync_api.expect(page.locator("#r-previous")).to_have_text("Решение по № 1 сохранено: заполнитель.")
    _russian_key(page, "Digit3", "3")
    sync_api.expect(page.locator("#r-keys [data-cat=outcome_only]")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#r-done")).to_have_text("Все разногласия разобраны. Решено: 2.")
    sync_api.expect(page.locator("#r-card")).to_be_hidden()

    store = Store(db)
    assert [(d["comment_id"], d["settlement"]["reviewer"], d["settlement"]["category"], d["settlement"]["note"])
            for d in store.disagreements("settled")] == [(1, "Вера", "padding", "длинно, но пусто"),
                                                           (3, "Вера", "outcome_only", "")]

    # the role is remembered; with no disagreement at all the page says so
    empty = page.context.new_page()
    empty.route(re.compile(r".*/v1/labelling/reviews\?.*"), lambda route: route.fulfill(json={
        "state": "unsettled", "total": 0, "counts": {"unsettled": 0, "settled": 0}, "reason": "no_disagreements",
        "items": []}))
    empty.goto(url + "/label")
    sync_api.expect(empty.locator("#r-done")).to_have_text(re.compile(r"^Разногласий нет"))
