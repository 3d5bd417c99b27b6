"""The integration's store on SQLite and PostgreSQL: inbox coalescing, leases, retries, history, the ledger."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from classifier.bitrix24.store import Store, StoreError


@pytest.fixture
def store(database_url):
    s = Store(database_url)
    yield s
    s.close()


def test_repeats_of_an_object_coalesce_into_one_row(store):
    store.enqueue([("deal", "5", "ONCRMDEALUPDATE")] * 3 + [("comment", "7", "ONCRMTIMELINECOMMENTADD")])
    items = {(i.entity_type, i.entity_id): i for i in store.claim()}
    assert set(items) == {("deal", "5"), ("comment", "7")}
    assert items["deal", "5"].events == 3 and items["comment", "7"].events == 1


def test_a_claimed_row_is_leased_and_done_removes_it(store):
    store.enqueue([("deal", "5", "ONCRMDEALADD")])
    [item] = store.claim()
    assert store.claim() == []  # leased: another worker does not get it
    assert store.done(item) is True
    assert store.inbox_counts()["queued"] == 0


def test_an_event_during_processing_keeps_the_row_due(store):
    store.enqueue([("deal", "5", "ONCRMDEALADD")])
    [item] = store.claim()
    store.enqueue([("deal", "5", "ONCRMDEALUPDATE")])  # arrives while the worker reads the portal
    assert store.done(item) is False
    [again] = store.claim()
    assert (again.event, again.events) == ("ONCRMDEALUPDATE", 1)


def test_a_failure_waits_for_its_retry_and_is_listed(store):
    store.enqueue([("deal", "9", "ONCRMDEALADD")])
    [item] = store.claim()
    store.failed(item, "crm.deal.get: QUERY_LIMIT_EXCEEDED", retry_in=60)
    assert store.claim() == []
    assert store.inbox_counts()["failing"] == 1
    assert store.inbox_errors()[0]["last_error"].startswith("crm.deal.get")


def test_an_expired_lease_makes_the_row_due_again(store):
    store.enqueue([("deal", "5", "ONCRMDEALADD")])
    assert len(store.claim(lease_seconds=0.2)) == 1
    time.sleep(0.3)  # the worker that held it died without saying so
    assert len(store.claim()) == 1


def test_two_workers_never_take_the_same_row(store):
    store.enqueue([("deal", str(i), "ONCRMDEALADD") for i in range(1, 301)])
    taken: list[str] = []
    lock = threading.Lock()

    def work():
        while True:
            items = store.claim(limit=7)
            if not items:
                return
            with lock:
                taken.extend(i.entity_id for i in items)
            for i in items:
                store.done(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken, key=int) == [str(i) for i in range(1, 301)]


def test_history_grows_only_when_the_verdict_changes(store):
    assert store.record("deal", "5", {"active": True}, active_until="2027-01-31") is True
    assert store.record("deal", "5", {"active": True}) is False
    assert store.record("deal", "5", {"active": False}) is True
    assert [h["result"]["active"] for h in store.history("deal", "5")] == [False, True]
    assert store.current("deal", "5") == {"active": False}


def test_deals_due_by_active_until(store):
    store.record("deal", "1", {"a": 1}, active_until="2026-12-05")
    store.record("deal", "2", {"a": 2}, active_until="2027-03-01")
    store.record("deal", "3", {"a": 3})  # closed: no date
    assert store.deals_due("2026-12-09") == ["1"]


def test_echoes_skip_exactly_our_own_events(store):
    store.expect_echo("deal", "5")
    store.enqueue([("deal", "5", "ONCRMDEALUPDATE")])
    [item] = store.claim()
    assert store.consume_echoes(item) is True
    store.done(item)
    store.expect_echo("deal", "5")
    store.enqueue([("deal", "5", "ONCRMDEALUPDATE")] * 2)  # ours and a manager's, merged
    [item] = store.claim()
    assert store.consume_echoes(item) is False


def test_the_ledger_keeps_pending_then_done(store):
    store.begin_write("log", "5:10:20", "on", "abc", "5", {"fields": {"title": "x"}})
    assert store.written("log", "5:10:20", "on")["state"] == "pending"
    store.end_write("log", "5:10:20", "on", "77")
    row = store.written("log", "5:10:20", "on")
    assert (row["state"], row["portal_id"]) == ("done", "77")
    assert store.written("log", "5:10:20", "shadow") is None


def test_killed_between_claim_and_done_loses_nothing(database_url):
    """kill -9 of a worker holding a lease: the row comes back when the lease ends."""
    Store(database_url).enqueue([("deal", "5", "ONCRMDEALADD")])
    code = textwrap.dedent(f"""
        import os, sys
        from classifier.bitrix24.store import Store
        s = Store({database_url!r})
        assert len(s.claim(lease_seconds=1)) == 1
        print("claimed", flush=True)
        os.kill(os.getpid(), 9)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert "claimed" in done.stdout and done.returncode == -9
    store = Store(database_url)
    assert store.claim() == []
    time.sleep(1.2)
    assert [i.entity_id for i in store.claim()] == ["5"]


def test_an_unusable_database_url_is_one_clear_error():
    with pytest.raises(StoreError, match="CRMQC_DATABASE_URL"):
        Store("mysql://nobody@localhost/none")
    with pytest.raises(StoreError, match="CRMQC_DATABASE_URL"):
        Store("not a url")
