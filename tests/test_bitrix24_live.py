"""The live integration end to end, against the fake portal (a real HTTPS server) and the real service.

A manager's change on the portal → an event posted by the portal's emitter to POST /v1/bitrix24/events →
the inbox → the worker (b24pysdk through the gateway) → deal fields, timeline entries, to-dos, notices.
"""

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from classifier import config
from classifier.bitrix24 import sweep
from classifier.bitrix24.gateway import BitrixError, Gateway
from classifier.bitrix24.settings import Bitrix24Settings
from classifier.bitrix24.store import Store
from classifier.bitrix24.worker import Loop, Worker
from classifier.crm.deals import add_months
from classifier.crm.settings import load_settings
from classifier.service.app import create_app
from classifier.service.settings import Settings
from tests.fake_portal import FakePortal
from tests.helpers import Served

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPANDED = ("Берут трубы 150 шт, цена 1 450 за метр устроила, скидка 5% за объём, счёт отправлю до пятницы, "
            "созвон в понедельник в 11:00")
PORTAL_TZ = datetime.now(UTC).astimezone().tzinfo


@pytest.fixture
def portal(monkeypatch):
    with FakePortal(rate_per_second=20, burst=20) as p:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", p.ca_file)  # b24pysdk (requests) trusts the fake's certificate
        yield p


def integration(portal: FakePortal, tmp_path, **overrides) -> Bitrix24Settings:
    values = dict(webhook_url=portal.webhook_url, application_token=portal.application_token,
                  member_id=portal.member_id, mode="on", database_url=f"sqlite:///{tmp_path / 'b24.sqlite3'}",
                  rate_per_second=15, burst=10, ca_bundle=portal.ca_file)
    return Bitrix24Settings(**{**values, **overrides})


def make_worker(store, settings, checker) -> Worker:
    return Worker(store, Gateway(settings), lambda: checker, load_settings(config.RULES_DIR / "crm.yaml"), settings)


def correct_deal(portal: FakePortal, created_days_ago: int = 100, owner: str = "5") -> str:
    """A deal that passes every correctness rule, created long enough ago to be inactive without a touch."""
    created = datetime.now(UTC) - timedelta(days=created_days_ago)
    deal = portal.add_deal(TITLE="Поставка труб", STAGE_ID="NEW", OPPORTUNITY="150000", CURRENCY_ID="RUB",
                           ASSIGNED_BY_ID=owner, LEAD_ID="3", UF_CRM_PRODUCT_GROUP="45", DATE_CREATE=created)
    portal.set_deal_contacts(deal, [portal.add_contact(NAME="Иван", LAST_NAME="Петров")])
    portal.set_product_rows(deal, [{"PRODUCT_NAME": "Труба", "PRICE": 1000, "QUANTITY": 150}])
    return deal


def owner(portal: FakePortal, deal: str) -> str:
    return portal.deals[deal]["ASSIGNED_BY_ID"]


def wait_until(condition, seconds: float = 60.0) -> bool:  # generous: CI machines are slow and shared
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def live(portal, tmp_path, checker):
    """The service receiving the portal's events, a worker loop in a thread, and the store they share."""
    settings = integration(portal, tmp_path)
    app = create_app(Settings(store_path=tmp_path / "labels.db", api_keys=["k"]), checker=checker, b24=settings)
    with Served(app) as served:
        portal.subscribe(served.url + "/v1/bitrix24/events")
        store = Store(settings.database_url)
        store.set_watermark(sweep.FULL_AT, str(time.time()))  # no sweep in these tests unless asked for
        store.set_watermark(sweep.INCREMENTAL_AT, str(time.time()))
        loop = Loop(make_worker(store, settings, checker), poll_seconds=0.05)
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop.is_set,), daemon=True)
        thread.start()
        yield portal, store, settings
        stop.set()
        thread.join(timeout=10)


def test_a_connected_call_with_an_expanded_comment_prolongs_the_deal(live):
    portal, store, settings = live
    deal = correct_deal(portal)
    at = datetime.now(UTC) - timedelta(hours=2)
    portal.log_call(deal, user_id="5", at=at, duration=180, comment=EXPANDED)
    until = add_months(at.astimezone(portal._tz).date(), 2).isoformat()
    assert wait_until(lambda: portal.deals[deal].get(settings.field_active_until) == until), portal.deals[deal]
    assert str(portal.deals[deal][settings.field_active]) == "1"
    assert wait_until(lambda: any(m["title"] == "Касание засчитано" for m in portal.log_messages))
    entry = next(m for m in portal.log_messages if m["title"] == "Касание засчитано")
    assert entry["entityId"] == int(deal) and f"активна до {date.fromisoformat(until):%d.%m.%Y}" in entry["text"]


def test_nd_after_a_missed_call_is_logged_as_not_counted_and_does_not_prolong(live):
    portal, store, settings = live
    deal = correct_deal(portal)
    portal.log_call(deal, user_id="5", at=datetime.now(UTC) - timedelta(hours=1), connected=False, comment="НД")
    assert wait_until(lambda: any(m["title"] == "Касание не засчитано" for m in portal.log_messages))
    entry = next(m for m in portal.log_messages if m["title"] == "Касание не засчитано")
    assert "не состоялся" in entry["text"]
    assert wait_until(lambda: settings.field_active in portal.deals[deal])
    assert str(portal.deals[deal][settings.field_active]) == "0"  # created 100 days ago, no touch since
    assert not any(m["title"] == "Касание засчитано" for m in portal.log_messages)


def test_a_stop_comment_after_a_connected_call_names_what_is_missing(live):
    portal, store, settings = live
    deal = correct_deal(portal)
    portal.log_call(deal, user_id="5", at=datetime.now(UTC) - timedelta(hours=1), duration=95, comment="Думает")
    assert wait_until(lambda: any(m["title"] == "Касание не засчитано" for m in portal.log_messages))
    entry = next(m for m in portal.log_messages if m["title"] == "Касание не засчитано")
    assert "не указано" in entry["text"] and "договорились" in entry["text"]


def test_repeated_and_reordered_events_in_the_documented_shape_give_one_result(portal, tmp_path, checker):
    settings = integration(portal, tmp_path)
    app = create_app(Settings(store_path=tmp_path / "labels.db"), checker=checker, b24=settings)
    store = Store(settings.database_url)
    store.set_watermark(sweep.FULL_AT, str(time.time()))
    store.set_watermark(sweep.INCREMENTAL_AT, str(time.time()))
    with Served(app) as served:
        portal.subscribe(served.url + "/v1/bitrix24/events", comment_shape="id")  # data[ID], as the docs show
        portal.emit_faults(repeat=0.6, reorder=True, seed=3)
        portal.pause_events()
        deals = [correct_deal(portal, owner=str(10 + k)) for k in range(3)]  # one manager each: no reuse
        for deal in deals:
            portal.log_call(deal, user_id=owner(portal, deal),
                            at=datetime.now(UTC) - timedelta(hours=1), duration=200,
                            comment=EXPANDED)
        portal.resume_events()
        assert portal.wait_events(60)
        worker = make_worker(store, settings, checker)
        worker.drain()
    assert all(str(portal.deals[d][settings.field_active]) == "1" for d in deals)
    assert sorted(m["entityId"] for m in portal.log_messages) == sorted(int(d) for d in deals)
    assert [m for m, _ in portal.writes].count("crm.deal.update") == 3


def test_our_own_writes_come_back_as_events_and_are_skipped(live):
    portal, store, settings = live
    deal = correct_deal(portal)
    portal.log_call(deal, user_id="5", at=datetime.now(UTC) - timedelta(hours=2), duration=180, comment=EXPANDED)
    assert wait_until(lambda: settings.field_active_until in portal.deals[deal])
    assert portal.wait_events(60)
    assert wait_until(lambda: store.inbox_counts()["queued"] == 0)
    updates = [m for _, m, _ in portal.requests if m == "crm.deal.update"]
    reads = sum(1 for _, m, _ in portal.requests if m == "batch")
    time.sleep(0.5)  # the echo of our crm.deal.update has been received and handled by now
    assert [m for _, m, _ in portal.requests if m == "crm.deal.update"] == updates == ["crm.deal.update"]
    assert sum(1 for _, m, _ in portal.requests if m == "batch") == reads


def test_shadow_mode_records_everything_and_writes_nothing(portal, tmp_path, checker):
    settings = integration(portal, tmp_path, mode="shadow")
    store = Store(settings.database_url)
    deal = correct_deal(portal)
    portal.log_call(deal, user_id="5", at=datetime.now(UTC) - timedelta(hours=2), duration=180, comment=EXPANDED)
    worker = make_worker(store, settings, checker)
    worker.process("deal", deal)
    assert portal.writes == [] and portal.log_messages == []
    planned = {w["target"] for w in store.writes(mode="shadow")}
    assert planned == {"fields", "log"}
    assert store.current("deal", deal)["active"] is True
    # the department turns it on: the same state is now written, once
    on = integration(portal, tmp_path, mode="on")
    make_worker(store, on, checker).process("deal", deal)
    make_worker(store, on, checker).process("deal", deal)
    assert [m for m, _ in portal.writes] == ["crm.deal.update", "crm.timeline.logmessage.add"]


def test_processing_the_same_event_or_sweep_twice_writes_nothing_new(portal, tmp_path, checker, database_url):
    settings = integration(portal, tmp_path, database_url=database_url)  # on SQLite and on PostgreSQL
    store = Store(settings.database_url)
    deals = [correct_deal(portal, owner=str(10 + k)) for k in range(3)]  # one manager each: no reuse
    for deal in deals:
        portal.log_call(deal, user_id=owner(portal, deal),
                        at=datetime.now(UTC) - timedelta(hours=3), duration=120, comment=EXPANDED)
    worker = make_worker(store, settings, checker)
    sweep.full(store, worker.gateway, worker.judge_contact)
    worker.drain()
    first = list(portal.writes)
    assert len([w for w in first if w[0] == "crm.deal.update"]) == 3
    sweep.full(store, worker.gateway, worker.judge_contact)
    worker.drain()
    for deal in deals:
        worker.process("deal", deal)
    assert portal.writes == first


def test_events_dropped_are_caught_up_by_the_sweep(portal, tmp_path, checker, database_url):
    settings = integration(portal, tmp_path, database_url=database_url)
    store = Store(settings.database_url)
    worker = make_worker(store, settings, checker)
    sweep.full(store, worker.gateway, worker.judge_contact)  # the first sync, before anything happened
    worker.drain()
    portal.emit_faults(drop=1.0)  # every event from now on is lost
    deal = correct_deal(portal)
    portal.log_call(deal, user_id="5", at=datetime.now(UTC) - timedelta(hours=2), duration=180, comment=EXPANDED)
    worker.drain()
    assert settings.field_active_until not in portal.deals[deal]
    report = sweep.incremental(store, worker.gateway, worker.judge_contact)
    assert report.queued["deal"] >= 1
    worker.drain()
    assert str(portal.deals[deal][settings.field_active]) == "1"


def test_a_comment_added_later_is_found_by_the_sweep_of_open_deals(portal, tmp_path, checker):
    settings = integration(portal, tmp_path)
    store = Store(settings.database_url)
    deal = correct_deal(portal)
    at = datetime.now(UTC) - timedelta(hours=5)
    portal.log_call(deal, user_id="5", at=at, duration=180)  # the call, no comment yet
    worker = make_worker(store, settings, checker)
    sweep.full(store, worker.gateway, worker.judge_contact)
    worker.drain()
    assert str(portal.deals[deal][settings.field_active]) == "0"
    portal.add_comment("deal", deal, EXPANDED, author_id="5")  # written now, hours after the call
    sweep.incremental(store, worker.gateway, worker.judge_contact)
    worker.drain()
    assert str(portal.deals[deal][settings.field_active]) == "1"


def test_a_deleted_deal_is_forgotten_by_event_and_by_the_full_sweep(portal, tmp_path, checker):
    settings = integration(portal, tmp_path)
    store = Store(settings.database_url)
    worker = make_worker(store, settings, checker)
    first, second = correct_deal(portal), correct_deal(portal)
    for deal in (first, second):
        worker.process("deal", deal)
    assert store.current("deal", first) and store.current("deal", second)
    portal.delete_deal(first)
    worker.process("deal", first, "ONCRMDEALDELETE")
    assert store.current("deal", first) is None
    portal.emit_faults(drop=1.0)
    portal.delete_deal(second)  # its event is lost
    sweep.full(store, worker.gateway, worker.judge_contact)
    worker.drain()
    assert store.current("deal", second) is None


def test_a_deal_about_to_expire_gets_one_todo_and_one_notice(portal, tmp_path, checker):
    settings = integration(portal, tmp_path)
    store = Store(settings.database_url)
    deal = correct_deal(portal, created_days_ago=200)
    at = datetime.now(UTC) - timedelta(days=57)  # two months after it end in about 3–5 days
    portal.log_call(deal, user_id="5", at=at, duration=300, comment=EXPANDED)
    worker = make_worker(store, settings, checker)
    worker.process("deal", deal)
    worker.process("deal", deal)
    assert len(portal.todos) == 1
    todo = portal.activities[str(portal.todos[0])]
    assert todo["RESPONSIBLE_ID"] == "5" and "развёрнутый комментарий" in todo["DESCRIPTION"]
    assert list(portal.notifications) == [f"crmqc-deal-{deal}"]
    assert "Открыть сделку" in portal.notifications[f"crmqc-deal-{deal}"]["MESSAGE"]
    # the to-do comes back as an ONCRMACTIVITYADD: it is ours, not an interaction, and nothing is re-judged
    assert worker.process("activity", str(portal.todos[0])).skipped == 1


def test_limits_and_faults_storms_lose_nothing_and_stay_under_the_rate(portal, tmp_path, checker):
    """The portal's own leaky bucket (5/s, burst 5) never trips, and injected 503/429/500/drops are retried."""
    slow = FakePortal(rate_per_second=5, burst=5).start()
    try:
        os.environ["REQUESTS_CA_BUNDLE"] = slow.ca_file
        settings = integration(slow, tmp_path, rate_per_second=4, burst=3, max_attempts=8)
        store = Store(settings.database_url)
        deals = [correct_deal(slow, owner=str(10 + k)) for k in range(6)]  # one manager each: no reuse
        for deal in deals:
            slow.log_call(deal, user_id=owner(slow, deal),
                          at=datetime.now(UTC) - timedelta(hours=2), duration=180,
                          comment=EXPANDED)
        slow.fail_next("503", times=3)
        slow.fail_next("500", times=2)
        slow.fail_next("drop", times=1)
        slow.fail_next("429", method="crm.deal.update", times=1)
        worker = make_worker(store, settings, checker)
        worker.gateway.sleep = lambda s: time.sleep(min(s, 1.5))  # backoff, shortened for the test
        store.enqueue([("deal", d, "ONCRMDEALUPDATE") for d in deals])
        stats = worker.drain()
        assert stats.failed == 0 and stats.judged == 6
        assert all(str(slow.deals[d][settings.field_active]) == "1" for d in deals)
        outcomes = [o for _, _, o in slow.requests]
        assert "QUERY_LIMIT_EXCEEDED" not in outcomes  # the real limiter never refused us
        assert sum(o.startswith("fault:") for o in outcomes) == 7
        assert len(slow.log_messages) == 6
    finally:
        slow.stop()


def test_a_dead_portal_leaves_the_work_queued_for_later(portal, tmp_path, checker):
    settings = integration(portal, tmp_path, max_attempts=2)
    store = Store(settings.database_url)
    deal = correct_deal(portal)
    store.enqueue([("deal", deal, "ONCRMDEALUPDATE")])
    portal.fail_next("500", times=10)
    worker = make_worker(store, settings, checker)
    worker.gateway.sleep = lambda s: None
    stats = worker.run_once()
    assert stats.failed == 1 and "INTERNAL_SERVER_ERROR" in stats.errors[0]
    assert store.inbox_counts() == {**store.inbox_counts(), "queued": 1, "failing": 1}


def test_a_comment_pasted_from_another_deal_of_the_manager_does_not_count(portal, tmp_path, checker):
    settings = integration(portal, tmp_path)
    store = Store(settings.database_url)
    first, second = correct_deal(portal), correct_deal(portal)
    portal.log_call(first, user_id="5", at=datetime.now(UTC) - timedelta(hours=5), duration=180, comment=EXPANDED)
    portal.log_call(second, user_id="5", at=datetime.now(UTC) - timedelta(hours=2), duration=180, comment=EXPANDED)
    worker = make_worker(store, settings, checker)
    worker.process("deal", first)
    worker.process("deal", second)
    assert store.current("deal", first)["active"] is True
    [touch] = store.current("deal", second)["touches"]
    assert touch["why_not"] == "reused_comment" and touch["reused"]["deal_id"] == first
    assert str(portal.deals[second][settings.field_active]) == "0"
    entry = [m for m in portal.log_messages if m["entityId"] == int(second)][-1]
    assert entry["title"] == "Касание не засчитано" and f"сделке {first}" in entry["text"]


def test_one_object_that_breaks_the_worker_does_not_stop_the_others(portal, tmp_path, checker, monkeypatch):
    settings = integration(portal, tmp_path)
    store = Store(settings.database_url)
    good, bad = correct_deal(portal), correct_deal(portal)
    store.enqueue([("deal", bad, "ONCRMDEALUPDATE"), ("deal", good, "ONCRMDEALUPDATE")])
    worker = make_worker(store, settings, checker)
    judge = worker.judge_owner

    def flaky(owner_type, owner_id):
        if owner_id == bad:
            raise ValueError("a portal value nobody foresaw")
        return judge(owner_type, owner_id)

    monkeypatch.setattr(worker, "judge_owner", flaky)
    stats = worker.run_once()
    assert (stats.judged, stats.failed) == (1, 1)
    assert settings.field_active in portal.deals[good]
    assert store.inbox_errors()[0]["last_error"].startswith("ValueError: a portal value")


def test_a_refused_call_is_one_clear_error(portal, tmp_path):
    settings = integration(portal, tmp_path, webhook_url=portal.webhook_url.replace(portal.webhook_key, "wrong"))
    with pytest.raises(BitrixError) as caught:
        Gateway(settings).result("crm.deal.list", {})
    assert caught.value.status == 401 and "INVALID_CREDENTIALS" in str(caught.value)


def test_the_worker_killed_mid_write_writes_every_result_exactly_once(portal, tmp_path, checker):
    """kill -9 while a timeline entry is in flight: the restarted worker finds it on the portal, not twice."""
    settings = integration(portal, tmp_path, lease_seconds=1)
    store = Store(settings.database_url)
    deals = [correct_deal(portal, owner=str(10 + k)) for k in range(2)]  # one manager each: no reuse
    for deal in deals:
        portal.log_call(deal, user_id=owner(portal, deal),
                        at=datetime.now(UTC) - timedelta(hours=2), duration=180, comment=EXPANDED)
    store.enqueue([("deal", d, "SWEEP") for d in deals])
    store.set_watermark(sweep.FULL_AT, str(time.time()))
    store.set_watermark(sweep.INCREMENTAL_AT, str(time.time()))
    portal.fail_next("slow_answer", method="crm.timeline.logmessage.add", seconds=3)
    env = {**os.environ, "CRMQC_B24_WEBHOOK_URL": settings.webhook_url,
           "CRMQC_B24_APPLICATION_TOKEN": settings.application_token, "CRMQC_B24_MEMBER_ID": settings.member_id,
           "CRMQC_B24_MODE": "on", "CRMQC_DATABASE_URL": settings.database_url, "CRMQC_B24_CA_BUNDLE": portal.ca_file,
           "CRMQC_B24_LEASE_SECONDS": "1", "CRMQC_B24_RATE_PER_SECOND": "15"}
    proc = subprocess.Popen([sys.executable, "-m", "classifier.cli", "bitrix24", "worker", "--once"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: any(w["target"] == "log" and w["state"] == "pending" for w in store.writes()), 180)
        # the portal has done the write and holds its answer back for 3 s: kill -9 inside that window (waiting
        # for the pending mark alone could kill the worker before its request left, on a loaded machine)
        assert wait_until(lambda: len(portal.log_messages) >= 1, 30)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [w["state"] for w in store.writes() if w["target"] == "log"].count("pending") == 1  # died unanswered
    time.sleep(1.1)  # the dead worker's lease ends
    worker = make_worker(store, settings, checker)
    worker.drain()
    worker.drain()
    markers = [m["text"].rsplit("[", 1)[1] for m in portal.log_messages]
    assert len(markers) == 2 and len(set(markers)) == 2  # one entry per touch, none twice
    assert {str(portal.deals[d][settings.field_active]) for d in deals} == {"1"}
    assert all(w["state"] == "done" for w in store.writes())


@pytest.mark.skipif(not os.environ.get("B24_WEBHOOK_URL"), reason="set B24_WEBHOOK_URL to run against a real portal")
def test_live_portal_reads(tmp_path):
    """Opt-in, read-only: the gateway against a real portal's incoming webhook."""
    settings = Bitrix24Settings(webhook_url=os.environ["B24_WEBHOOK_URL"], database_url=f"sqlite:///{tmp_path}/x")
    gateway = Gateway(settings)
    assert gateway.result("server.time")
    deals = gateway.call("crm.deal.list", {"select": ["ID", "DATE_MODIFY"], "start": 0})
    assert isinstance(deals["result"], list)
