"""`palabre serve` keeps SPEC §4's reliability contract, checked end to end
against the real binary and counted in its SQLite store:

- a message answered 2xx is stored; the same message (same customer and id)
  delivered again, one after the other or all at once, is stored and
  answered once; a repeated look-up is answered once within the bot's
  dedup window;
- a conversation survives a restart (SIGTERM or kill -9) in the middle of
  a form;
- kill -9 in the middle of a burst of 10,000 messages loses nothing that
  was acknowledged, processes every message once, and sends every reply
  through the outbox: at least once at the callback, once in the store;
- the api callback is retried on 5xx, 429 (Retry-After) and no connection,
  never on a 4xx, which is recorded and shown;
- the messages of one conversation are processed, answered and delivered
  in arrival order;
- SIGTERM in the middle of a burst processes every acknowledged message
  and exits 0.

Run: PALABRE_BIN=$PWD/build/palabre /usr/bin/python3 -m pytest -q \
         tests/e2e/test_server_reliability.py
"""
import collections
import http.client
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from server import (ROOT, TOKEN, ApiConnection, CallbackSink, PalabreServer, free_port,
                    wait_store_quiet)

# Fast backoff for the delivery tests (the defaults are 500 ms to 60 s).
FAST_RETRY = {"retry_base_ms": 100, "retry_max_ms": 1000}

# What the stade bot says when its order is placed (bots/stade/tests/order_fr.yaml).
ORDER_PLACED = re.compile(r"^C'est noté : 2 × Corona, payé avec la carte \*\*\*\* 0345\. "
                          r"Commande n° \d+, livrée à votre place\.$")
ORDER_FAILED = ("Désolé, votre commande n'a pas pu être passée : le service de commande "
                "ne répond pas pour le moment. Réessayez dans un instant.")

# A customer's conversation with stade whose replies depend on every message
# before it (a form, digressions, corrections, a language switch): processing
# a message twice, skipping one or swapping two changes what is answered.
SCRIPT = ["bonjour", "deux", "corona", "horaires", "menu", "3 bud", "toilettes", "merci",
          "c'est où ?", "bonjour"]
CYCLE = ["bonjour", "deux", "corona", "horaires", "1 bud", "menu", "4", "toilettes",
         "annuler", "merci", "3 coors", "where?"]

NET_ERRORS = (OSError, http.client.HTTPException)


def log(*args):
    """A figure for the report (shown with pytest -s, and in failures)."""
    print("[reliability]", *args, file=sys.stderr, flush=True)


def texts(r):
    assert r.status == 200, (r.status, r.body)
    return [x["text"] for x in r.json()["replies"]]


def wait_until(fn, timeout=15, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def inbound_rows(server, customer=None):
    """{(customer, client id): [(id, status, conversation_id)]} of api messages."""
    sql = ("SELECT i.external_id, m.channel_message_id, m.id, m.status, m.conversation_id "
           "FROM messages m JOIN identities i ON i.id = m.identity_id "
           "WHERE m.direction = 'in' AND m.channel = 'api'")
    params = ()
    if customer is not None:
        sql += " AND i.external_id = ?"
        params = (customer,)
    rows = collections.defaultdict(list)
    with server.db() as c:
        for cust, cid, mid, status, conv in c.execute(sql + " ORDER BY m.id", params):
            rows[(cust, cid)].append((mid, status, conv))
    return rows


def replies_by_inbound(server):
    """{inbound id: [(out id, text, status, attempts, error)]} in id order."""
    out = collections.defaultdict(list)
    with server.db() as c:
        for mid, to, text, status, attempts, error in c.execute(
                "SELECT id, in_reply_to, text, status, attempts, error FROM messages "
                "WHERE direction = 'out' ORDER BY id"):
            out[to].append((mid, text, status, attempts, error))
    return out


def reply_texts(server, customer, client_id):
    rows = inbound_rows(server, customer)[(customer, client_id)]
    assert len(rows) == 1, rows
    return [r[1] for r in replies_by_inbound(server).get(rows[0][0], [])]


@pytest.fixture
def launch(tmp_path):
    """launch(bots=..., settings=..., env=..., start=True) → a PalabreServer on
    its own data directory under tmp_path; every one still running at the end
    is killed. The stade bot's order service points to a closed port unless
    env says otherwise."""
    started = []

    def make(bots=("stade",), settings=None, env=None, start=True, data=None, config=None):
        full_env = {"PALABRE_STADE_SERVICE_ORDERS_URL": f"http://127.0.0.1:{free_port()}/orders"}
        full_env.update(env or {})
        data = data or f"data{len(started)}"
        bot_args = [ROOT / "bots" / b for b in bots]
        if config is not None:  # a --config FILE naming the bots instead
            path = tmp_path / f"config{len(started)}.yaml"
            path.write_text(config)
            bot_args = ["--config", path]
        s = PalabreServer(tmp_path / data, bots=bot_args, settings=settings, env=full_env)
        started.append(s)
        return s.start() if start else s

    yield make
    for s in started:
        if s.alive():
            s.kill()


@pytest.fixture
def sinks():
    """sinks(responder=None, start=True) → a CallbackSink, stopped at the end."""
    made = []

    def make(responder=None, start=True):
        sink = CallbackSink(responder=responder)
        made.append(sink)
        return sink.start() if start else sink

    yield make
    for sink in made:
        sink.stop()


@pytest.fixture(scope="module")
def orders_service():
    """scripts/demo-orders-service on a free port: the URL of its /orders."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo-orders-service"),
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    line = proc.stdout.readline()
    assert "listening" in line, line
    yield f"http://127.0.0.1:{port}/orders"
    proc.terminate()
    proc.wait(10)


def callback_env(sink):
    return {"PALABRE_STADE_API_CALLBACK_URL": sink.url}


# -- 1. the same message delivered again ----------------------------------------


def test_same_message_id_is_stored_and_answered_once(launch, sinks):
    sink = sinks()
    s = launch(env=callback_env(sink))

    # one after the other (wait=true: the replies are in the answer)
    first = s.say("stade", "dup-seq", "2 corona", msg_id="m-1")
    expected = texts(first)
    assert expected == ["2 × Corona. Comment payez-vous ?"]
    assert not first.json().get("duplicate")
    for _ in range(4):
        again = s.say("stade", "dup-seq", "2 corona", msg_id="m-1")
        assert texts(again) == expected
        assert again.json()["duplicate"] is True
        assert again.json()["message_id"] == first.json()["message_id"]
    assert len(inbound_rows(s, "dup-seq")[("dup-seq", "m-1")]) == 1
    assert reply_texts(s, "dup-seq", "m-1") == expected
    assert s.count("SELECT count(*) FROM messages WHERE conversation_id = ?",
                   first.json()["conversation_id"]) == 2  # one in, one out

    # the id is the customer's: another customer's "m-1" is another message
    assert texts(s.say("stade", "dup-other", "2 corona", msg_id="m-1")) == expected

    # five copies at once, from five threads (wait=true)
    def burst(customer, wait):
        barrier = threading.Barrier(5)
        answers = [None] * 5

        def send(k):
            barrier.wait()
            answers[k] = s.say("stade", customer, "2 corona", msg_id="m-2", wait=wait)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return answers

    answers = burst("dup-conc", True)
    assert all(a.status in (200, 202) for a in answers), [(a.status, a.body) for a in answers]
    ids = {a.json()["message_id"] for a in answers}
    assert len(ids) == 1
    originals = [a for a in answers if not a.json().get("duplicate")]
    assert len(originals) == 1, [a.body for a in answers]
    assert texts(originals[0]) == expected
    wait_until(lambda: s.count("SELECT count(*) FROM messages WHERE direction = 'in' "
                               "AND status = 'received'") == 0)
    assert len(inbound_rows(s, "dup-conc")[("dup-conc", "m-2")]) == 1
    assert reply_texts(s, "dup-conc", "m-2") == expected
    # a later retry gets the replies given the first time
    late = s.say("stade", "dup-conc", "2 corona", msg_id="m-2")
    assert texts(late) == expected and late.json()["duplicate"] is True

    # five copies at once with wait=false: the reply goes to the callback once
    answers = burst("dup-async", False)
    assert all(a.status in (200, 202) for a in answers), [(a.status, a.body) for a in answers]
    assert len({a.json()["message_id"] for a in answers}) == 1
    assert sum(1 for a in answers if not a.json().get("duplicate")) == 1
    wait_store_quiet(s, timeout=15)
    assert len(inbound_rows(s, "dup-async")[("dup-async", "m-2")]) == 1
    assert reply_texts(s, "dup-async", "m-2") == expected
    time.sleep(0.3)  # nothing else is on its way
    posts = [p for p in sink.snapshot() if p["body"]["customer"] == "dup-async"]
    assert [p["body"]["text"] for p in posts] == expected
    assert len({p["key"] for p in posts}) == len(posts) == 1


# -- 2. the same look-up within the dedup window --------------------------------


def test_repeated_lookup_is_answered_once_within_window(launch):
    s = launch(bots=("monresultat",))
    first = texts(s.say("monresultat", "voter-1", "#MonRésultat 75011", msg_id="q1"))
    assert len(first) == 1 and "75011" in first[0], first
    again = s.say("monresultat", "voter-1", "#MonRésultat 75011", msg_id="q2")
    assert texts(again) == []
    conv = again.json()["conversation_id"]
    assert s.count("SELECT count(*) FROM messages WHERE conversation_id = ? "
                   "AND direction = 'out'", conv) == 1
    assert s.count("SELECT status = 'ignored' FROM messages WHERE id = ?",
                   again.json()["message_id"]) == 1
    assert s.count("SELECT count(*) FROM events WHERE conversation_id = ? "
                   "AND kind = 'repeat_suppressed'", conv) == 1
    # another postal code is another question
    other_code = texts(s.say("monresultat", "voter-1", "#MonRésultat 75012", msg_id="q3"))
    assert len(other_code) == 1 and "75012" in other_code[0], other_code
    # another customer asking the same is answered
    other_customer = texts(s.say("monresultat", "voter-2", "#MonRésultat 75011", msg_id="q1"))
    assert other_customer == first
    # the window is in the store: a restart does not reopen it
    assert s.stop() == 0
    s.start()
    assert texts(s.say("monresultat", "voter-1", "#MonRésultat 75011", msg_id="q4")) == []
    assert texts(s.say("monresultat", "voter-1", "#MonRésultat 75012", msg_id="q5")) == []
    assert s.count("SELECT count(*) FROM messages WHERE conversation_id = ? "
                   "AND direction = 'out'", conv) == 2


# -- 3. a restart in the middle of a form ---------------------------------------


@pytest.mark.parametrize("how", ["sigterm", "sigkill", "sigkill-service-down"])
def test_restart_in_the_middle_of_a_form_keeps_its_state(launch, orders_service, how):
    env = {} if how.endswith("service-down") else {
        "PALABRE_STADE_SERVICE_ORDERS_URL": orders_service}
    s = launch(env=env)
    r = s.say("stade", "fan", "2 corona", msg_id="1")
    assert texts(r) == ["2 × Corona. Comment payez-vous ?"]
    assert r.json()["replies"][0]["quick_replies"] == ["Carte enregistrée **** 0345",
                                                       "Nouvelle carte"]
    if how == "sigterm":
        assert s.stop() == 0
    else:
        s.kill()
    s.start()
    after = texts(s.say("stade", "fan", "carte enregistrée", msg_id="2"))
    # a conversation that lost its state would explain how to pay instead
    if how.endswith("service-down"):
        assert after == [ORDER_FAILED]
    else:
        assert len(after) == 1 and ORDER_PLACED.match(after[0]), after
    assert s.count("SELECT count(*) FROM conversations") == 1
    assert s.count("SELECT count(*) FROM messages WHERE direction = 'in' "
                   "AND status = 'processed'") == 2


# -- 4. kill -9 in the middle of a burst of 10,000 messages ---------------------


def server_errors(server, limit=5):
    """The first distinct error lines of the server's log (messages only)."""
    seen = []
    for line in server.log.read_text(errors="replace").splitlines():
        if '"level":"error"' in line:
            try:
                msg = json.loads(line)["msg"]
            except ValueError:
                msg = line
            msg = re.sub(r"\d+", "N", msg)
            if msg not in seen:
                seen.append(msg)
    return seen[:limit]


def crash_snapshot(server, where):
    """Copies the store as a crash left it and reads from the copy: the
    inbound messages still 'received', the outbox and the last message id."""
    where.mkdir()
    for suffix in ("", "-wal", "-shm"):
        src = server.data_dir / f"palabre.db{suffix}"
        if src.exists():
            shutil.copy(src, where / src.name)
    with sqlite3.connect(where / "palabre.db") as c:
        return {
            "received": {r[0] for r in c.execute(
                "SELECT id FROM messages WHERE direction = 'in' AND status = 'received'")},
            "outbox": {r[0] for r in c.execute("SELECT message_id FROM outbox")},
            "max_id": c.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0],
        }


def restart_until_up(server, tries=5):
    """Starts server again; a start that dies during recovery is recorded and
    tried again (a crash is a crash: the contract holds across it). Returns
    the failures, as 'exit STATUS' strings."""
    failures = []
    for _ in range(tries):
        try:
            server.last_start_at = time.monotonic()
            server.start()
            return failures
        except RuntimeError as e:
            failures.append(str(e).split(":", 1)[0])
            server.proc = None
    raise AssertionError(f"palabre serve does not restart: {failures}")


def test_kill_9_during_burst_loses_nothing_and_answers_once(launch, sinks, tmp_path):
    n_customers, n_threads, kill_after = 1000, 16, 4000
    delivery_threads = 2
    sink = sinks()
    s = launch(env=callback_env(sink), settings={"delivery_threads": delivery_threads})

    # what each message of SCRIPT is answered on a clean, sequential run
    reference = [texts(s.say("stade", "reference", t, msg_id=f"m{i}"))
                 for i, t in enumerate(SCRIPT)]
    assert all(reference)

    # each thread owns its customers, so a customer's messages leave in order;
    # message i of every customer of the thread, then message i + 1, ...
    customers = [f"cust-{k:04d}" for k in range(n_customers)]
    plans = [[(c, i) for i in range(len(SCRIPT)) for c in customers[t::n_threads]]
             for t in range(n_threads)]
    lock = threading.Lock()
    acked = {}                                 # (customer, i) -> answer json
    failed_at_crash = []                       # in flight or refused at the crash
    unexpected = []                            # non-2xx answers
    restarted = threading.Event()
    stalled = threading.Semaphore(0)
    resent_duplicates = []
    n_acked = [0]

    def client(t):
        conn = ApiConnection(s.port, timeout=30)
        plan, pos, crashed = plans[t], 0, False
        while pos < len(plan):
            customer, i = plan[pos]
            try:
                r = conn.post("stade", customer, SCRIPT[i], msg_id=f"m{i}", wait=False)
            except NET_ERRORS:
                if crashed:
                    unexpected.append((customer, i, "connection error after restart"))
                    return
                crashed = True
                with lock:
                    failed_at_crash.append((customer, i))
                stalled.release()
                restarted.wait(60)
                conn = ApiConnection(s.port, timeout=30)
                continue  # the client retries the same message
            if r.status not in (200, 202):
                unexpected.append((customer, i, r.status, r.body))
                return
            body = r.json()
            with lock:
                acked[(customer, i)] = body
                n_acked[0] += 1
                if crashed and body.get("duplicate"):
                    resent_duplicates.append((customer, i))
            pos += 1
        conn.close()
        if not crashed:
            stalled.release()  # finished before the crash (not expected)

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(n_threads)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    assert wait_until(lambda: n_acked[0] >= kill_after, timeout=60, interval=0.001)
    t_kill = time.monotonic()
    s.kill()
    t_killed = time.monotonic()
    for _ in range(n_threads):
        assert stalled.acquire(timeout=30)
    with lock:
        before = dict(acked)
    sink_before = len(sink.snapshot())
    log(f"burst: {len(before)} acknowledged in {t_kill - t0:.2f} s, then kill -9; "
        f"{len(failed_at_crash)} requests failed (in flight or refused); "
        f"{sink_before} callback POSTs received so far")

    # the store as the crash left it (a copy: opening it replays the WAL)
    at_crash = crash_snapshot(s, tmp_path / "at-crash")

    # restart on the same data: every acknowledged message is there
    t_restart = time.monotonic()
    restart_crashes = restart_until_up(s)
    log(f"restart ready in {time.monotonic() - t_restart:.2f} s"
        + (f" (it crashed {len(restart_crashes)} times first)" if restart_crashes else ""))
    stored = inbound_rows(s)
    missing = [k for k in before if (k[0], f"m{k[1]}") not in stored]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:5]}"
    stored_not_acked = {(c, int(cid[1:])) for (c, cid) in stored
                        if c != "reference"} - set(before)
    log(f"stored but not acknowledged at the crash: {len(stored_not_acked)}")

    # the clients retry what was not acknowledged
    restarted.set()
    for th in threads:
        th.join(120)
        assert not th.is_alive()
    assert not unexpected, (
        f"{len(unexpected)} clients stopped on an unexpected answer after the restart: "
        f"{collections.Counter(u[2] for u in unexpected)}, e.g. {unexpected[:2]}; "
        f"server errors: {server_errors(s)}")
    assert len(acked) == n_customers * len(SCRIPT)
    try:
        drain = wait_store_quiet(s, timeout=45)  # 7 to 20 s on 2 cores
    except AssertionError as e:
        raise AssertionError(f"{e}; server errors: {server_errors(s)}") from None
    log(f"resent {n_customers * len(SCRIPT) - len(before)} messages "
        f"({len(resent_duplicates)} answered as duplicates); store quiet "
        f"{time.monotonic() - t_restart:.2f} s after the restart "
        f"({drain:.2f} s after the last resend)")
    assert s.stop() == 0
    # a resent message was a duplicate exactly when it had been stored
    assert set(resent_duplicates) == stored_not_acked

    # the store: every message once, processed, in order
    stored = inbound_rows(s)
    expected_keys = {(c, f"m{i}") for c in customers for i in range(len(SCRIPT))}
    assert set(stored) - {("reference", f"m{i}") for i in range(len(SCRIPT))} == expected_keys
    doubles = {k: v for k, v in stored.items() if len(v) != 1}
    assert not doubles, list(doubles.items())[:5]
    statuses = collections.Counter(v[0][1] for v in stored.values())
    assert set(statuses) <= {"processed", "ignored"}, statuses
    for c in customers:
        ids = [stored[(c, f"m{i}")][0][0] for i in range(len(SCRIPT))]
        assert ids == sorted(ids), (c, ids)

    # every message's replies: those of one turn, as on the clean run
    replies = replies_by_inbound(s)
    wrong = []
    for (c, cid), [(mid, _, _)] in stored.items():
        got = replies.get(mid, [])
        out_ids = [r[0] for r in got]
        if ([r[1] for r in got] != reference[int(cid[1:])]
                or out_ids != list(range(out_ids[0], out_ids[0] + len(out_ids)))):
            wrong.append((c, cid, mid, got))
    assert not wrong, f"{len(wrong)} messages answered wrongly, e.g. {wrong[:3]}"
    all_out = {r[0]: r for rs in replies.values() for r in rs}
    assert collections.Counter(r[2] for r in all_out.values()) == {"sent": len(all_out)}
    assert s.count("SELECT count(*) FROM outbox") == 0
    assert s.count("SELECT count(*) FROM messages WHERE direction = 'out' "
                   "AND sent_at IS NULL") == 0

    # the callback: every reply at least once, duplicates only from the crash
    posts = sink.snapshot()
    assert all(p["status"] == 200 for p in posts)
    by_key = collections.defaultdict(list)
    for p in posts:
        by_key[p["key"]].append(p)
    reference_out = {r[0] for mid in (v[0][0] for k, v in stored.items() if k[0] == "reference")
                     for r in replies.get(mid, [])}
    expected_posts = {f"palabre-{mid}": r for mid, r in all_out.items()
                      if mid not in reference_out}
    assert set(by_key) == set(expected_posts), (
        f"missing at the callback: {sorted(set(expected_posts) - set(by_key))[:5]}, "
        f"unknown: {sorted(set(by_key) - set(expected_posts))[:5]}")
    # each key always carries its own reply (a receiver drops repeats by key)
    torn = [(key, p["body"]["message_id"], p["body"]["text"][:30], expected_posts[key][1][:30])
            for key, copies in by_key.items() for p in copies
            if p["body"]["message_id"] != int(key[len("palabre-"):])
            or p["body"]["text"] != expected_posts[key][1]]
    assert not torn, (
        f"{len(torn)} callback POSTs carry another reply than their Idempotency-Key's "
        f"(key, message_id, text sent, text stored): {torn[:3]}")
    # A reply may reach the callback twice only when palabre died between
    # the callback's answer and its record of it: the reply was pending in
    # the outbox at the crash and its first copy arrived before the kill, at
    # most one per delivery thread (each waits for the record before its
    # next send). Any other second copy was sent twice by a live process.
    duplicated = {k: v for k, v in by_key.items() if len(v) > 1}
    n_dup = sum(len(v) - 1 for v in duplicated.values())
    # (a restart that crashed in its turn may leave one more per thread)
    crash_ends = s.last_start_at if restart_crashes else t_killed
    from_crash = {k for k, v in duplicated.items()
                  if int(k[len("palabre-"):]) in at_crash["outbox"] and v[0]["at"] < crash_ends}
    others = {k: v for k, v in duplicated.items() if k not in from_crash}
    log(f"callback: {len(posts)} POSTs for {len(expected_posts)} replies; {n_dup} duplicate "
        f"POSTs ({len(duplicated)} keys): {len(from_crash)} in flight at the kill -9, "
        f"{len(others)} sent twice after the restart")
    if others:
        ids = [int(k[len("palabre-"):]) for k in others]
        made_after = [m for m in ids if m > at_crash["max_id"]]
        pending = [m for m in ids if m in at_crash["outbox"]]
        recorded = [m for m in ids if m <= at_crash["max_id"] and m not in at_crash["outbox"]]
        log(f"  of those {len(others)}: {len(made_after)} replies made by the recovery "
            f"(to messages 'received' at the crash), {len(pending)} pending at the crash and "
            f"POSTed twice after the restart, {len(recorded)} already recorded as sent "
            f"before the crash and POSTed again: {sorted(recorded)[:5]}")
    # the restart itself must not crash (its own crash would explain more copies)
    assert not restart_crashes, (
        f"the restart after kill -9 crashed {len(restart_crashes)} times during recovery: "
        f"{restart_crashes}; server errors: {server_errors(s)}")
    assert not others, (
        f"{len(others)} replies POSTed twice by the restarted server (not in flight at the "
        f"crash), e.g. {sorted(others)[:5]}")
    assert len(from_crash) <= delivery_threads * (1 + len(restart_crashes)), sorted(from_crash)
    # and in order per conversation (first arrival of each reply)
    per_customer = collections.defaultdict(list)
    for p in posts:
        if len(by_key[p["key"]]) == 1 or by_key[p["key"]][0] is p:
            per_customer[p["body"]["customer"]].append(p["body"]["message_id"])
    disorder = {c: ids for c, ids in per_customer.items() if ids != sorted(ids)}
    assert not disorder, list(disorder.items())[:3]


# -- 5. delivery faults -----------------------------------------------------------


def statuses_then_ok(*statuses):
    """A responder answering statuses[k] to the k-th POST of each key, then 200."""
    seen = collections.Counter()
    lock = threading.Lock()

    def respond(sink, record):
        with lock:
            k = seen[record["key"]]
            seen[record["key"]] += 1
        return statuses[k] if k < len(statuses) else 200

    return respond


def send_async(s, customer, text="bonjour", msg_id="1"):
    r = s.say("stade", customer, text, msg_id=msg_id, wait=False)
    assert r.status == 202, (r.status, r.body)
    return r.json()


def out_row(s, inbound_id):
    """The one reply to inbound_id (a dict), or {} while it is not recorded."""
    with s.db() as c:
        rows = c.execute("SELECT id, status, attempts, error, sent_at, failed_at FROM messages "
                         "WHERE in_reply_to = ? ORDER BY id", (inbound_id,)).fetchall()
    assert len(rows) <= 1, rows
    return dict(zip(("id", "status", "attempts", "error", "sent_at", "failed_at"),
                    rows[0])) if rows else {}


def conversation_message(s, conversation_id, message_id):
    r = s.api("GET", f"/api/v1/conversations/{conversation_id}")
    assert r.status == 200, (r.status, r.body)
    [m] = [m for m in r.json()["messages"] if m["id"] == message_id]
    return m


def test_callback_5xx_is_retried_until_accepted(launch, sinks):
    sink = sinks(statuses_then_ok(500, 500))
    # the callback from a configuration file this time (the others: environment)
    s = launch(settings=FAST_RETRY, config=(
        "bots:\n"
        "  - path: bots/stade\n"
        "    channels:\n"
        f"      api: {{callback_url: \"{sink.url}\"}}\n"))
    acc = send_async(s, "retry-5xx")
    posts = sink.wait_for(lambda p: any(x["status"] == 200 for x in p))
    wait_store_quiet(s, timeout=10)
    time.sleep(0.5)  # several backoff periods: nothing more comes
    posts = sink.snapshot()
    assert [p["status"] for p in posts] == [500, 500, 200]
    assert len({p["key"] for p in posts}) == 1
    assert posts[0]["body"]["text"].startswith("Bonjour !")
    # the receiver can pair the reply with the message it answers
    assert posts[0]["body"]["in_reply_to"] == acc["message_id"]
    assert posts[0]["body"]["in_reply_to_id"] == "1"
    gaps = [b["at"] - a["at"] for a, b in zip(posts, posts[1:])]
    # backoff: base 100 ms, doubling (palabre's clock counts whole ms)
    assert gaps[0] >= 0.095 and gaps[1] >= 0.195, gaps
    row = out_row(s, acc["message_id"])
    log(f"500, 500, 200: gaps {[round(g, 3) for g in gaps]} s; stored attempts "
        f"{row['attempts']}, error {row['error']!r}")
    assert row["status"] == "sent" and row["sent_at"]
    assert row["attempts"] in (2, 3)  # failed tries (2) or all tries (3)
    assert f"palabre-{row['id']}" == posts[0]["key"]
    m = conversation_message(s, acc["conversation_id"], row["id"])
    assert m["status"] == "sent" and m["sent_at"]


def test_reply_delivered_after_a_retry_shows_no_error(launch, sinks):
    """store.h: a message shows "error" when failed. A reply that failed
    once and was then delivered is not failed: GET /api/v1/conversations/{id}
    should not show the old error with it (an agent would think it was not
    delivered)."""
    sink = sinks(statuses_then_ok(500))
    s = launch(env=callback_env(sink), settings=FAST_RETRY)
    acc = send_async(s, "retry-shown")
    sink.wait_for(lambda p: any(x["status"] == 200 for x in p))
    wait_store_quiet(s, timeout=10)
    row = out_row(s, acc["message_id"])
    m = conversation_message(s, acc["conversation_id"], row["id"])
    assert m["status"] == "sent"
    assert "error" not in m, m


def test_callback_429_retry_after_is_honoured(launch, sinks):
    sink = sinks(statuses_then_ok((429, {"Retry-After": "1"})))
    s = launch(env=callback_env(sink), settings=FAST_RETRY)
    acc = send_async(s, "retry-429")
    posts = sink.wait_for(lambda p: any(x["status"] == 200 for x in p))
    wait_store_quiet(s, timeout=10)
    assert [p["status"] for p in posts] == [429, 200]
    gap = posts[1]["at"] - posts[0]["at"]
    log(f"429 Retry-After: 1 → retried after {gap:.3f} s")
    assert 0.99 <= gap < 2.5, gap  # the backoff alone would be about 0.1 s
    row = out_row(s, acc["message_id"])
    assert row["status"] == "sent"
    assert row["attempts"] in (1, 2)


def test_callback_4xx_fails_for_good_and_is_shown(launch, sinks):
    refused = []

    def respond(sink, record):
        # the first reply is refused; later ones are accepted
        if not refused or refused[0] == record["key"]:
            refused[:1] = [record["key"]]
            return 400
        return 200

    sink = sinks(respond)
    s = launch(env=callback_env(sink), settings=FAST_RETRY)
    acc = send_async(s, "refused", msg_id="1")
    wait_until(lambda: out_row(s, acc["message_id"]).get("status") == "failed", timeout=10)
    time.sleep(1.0)  # ten backoff periods: a retry would have come
    posts = sink.snapshot()
    assert [p["status"] for p in posts] == [400], posts
    row = out_row(s, acc["message_id"])
    assert row["status"] == "failed" and row["failed_at"], row
    assert "400" in (row["error"] or ""), row
    assert s.count("SELECT count(*) FROM outbox") == 0
    m = conversation_message(s, acc["conversation_id"], row["id"])
    assert m["status"] == "failed" and "400" in m.get("error", ""), m
    log(f"400: failed for good, error shown: {m['error']!r}")
    # the conversation is not stuck behind its failed reply
    acc2 = send_async(s, "refused", text="horaires", msg_id="2")
    sink.wait_for(lambda p: any(x["status"] == 200 for x in p), timeout=10)
    wait_store_quiet(s, timeout=10)
    assert out_row(s, acc2["message_id"])["status"] == "sent"
    assert [p["status"] for p in sink.snapshot()] == [400, 200]


def test_callback_gives_up_after_max_attempts(launch, sinks):
    sink = sinks(lambda sink, record: 503)
    s = launch(env=callback_env(sink), settings=dict(FAST_RETRY, max_attempts=3))
    acc = send_async(s, "gives-up")
    wait_until(lambda: out_row(s, acc["message_id"]).get("status") == "failed", timeout=10)
    time.sleep(0.5)
    assert [p["status"] for p in sink.snapshot()] == [503, 503, 503]
    row = out_row(s, acc["message_id"])
    assert "503" in (row["error"] or ""), row
    assert s.count("SELECT count(*) FROM outbox") == 0


def test_callback_down_then_up_is_delivered(launch, sinks):
    sink = sinks(start=False)  # nothing listens on its port yet: connection refused
    s = launch(env=callback_env(sink), settings=FAST_RETRY)
    acc = send_async(s, "down-up")
    assert wait_until(lambda: out_row(s, acc["message_id"]).get("attempts", 0) >= 2, timeout=10)
    row = out_row(s, acc["message_id"])
    assert row["status"] == "pending" and s.count("SELECT count(*) FROM outbox") == 1
    assert row["error"], row
    log(f"callback down: pending after {row['attempts']} attempts, error {row['error']!r}")
    t_up = time.monotonic()
    sink.start()
    posts = sink.wait_for(lambda p: len(p) > 0, timeout=10)
    log(f"callback up: delivered {posts[0]['at'] - t_up:.3f} s later")
    wait_store_quiet(s, timeout=10)
    time.sleep(0.3)
    assert [p["status"] for p in sink.snapshot()] == [200]
    assert out_row(s, acc["message_id"])["status"] == "sent"


def test_pending_replies_survive_sigterm_and_are_sent_once_after_restart(launch, sinks):
    sink = sinks(start=False)  # down: every reply stays pending
    s = launch(env=callback_env(sink), settings=FAST_RETRY)
    accepted = [send_async(s, "patient", text=t, msg_id=str(i))
                for i, t in enumerate(["bonjour", "deux", "corona"])]
    wait_until(lambda: s.count("SELECT count(*) FROM messages WHERE direction = 'out' "
                               "AND attempts >= 1") >= 1, timeout=10)
    t0 = time.monotonic()
    assert s.stop() == 0
    stop_s = time.monotonic() - t0
    pending = s.count("SELECT count(*) FROM outbox")
    log(f"SIGTERM with the callback down: exit 0 in {stop_s:.2f} s, {pending} replies pending")
    assert stop_s < 5
    assert pending == s.count("SELECT count(*) FROM messages WHERE direction = 'out'") == 3
    sink.start()
    s.start()
    wait_store_quiet(s, timeout=15)
    time.sleep(0.3)
    posts = sink.snapshot()
    with s.db() as c:
        out = c.execute("SELECT id, text FROM messages WHERE direction = 'out' AND "
                        "status = 'sent' ORDER BY id").fetchall()
    assert [(p["key"], p["body"]["text"]) for p in posts] == [
        (f"palabre-{mid}", text) for mid, text in out]
    assert {a["conversation_id"] for a in accepted} == {posts[0]["body"]["conversation_id"]}


# -- 6. order per conversation ------------------------------------------------------


def test_messages_of_one_conversation_are_processed_in_arrival_order(launch, sinks):
    n, customers = 50, ["order-a", "order-b", "order-c", "order-d"]
    script = [CYCLE[i % len(CYCLE)] for i in range(n)]
    sink = sinks()
    s = launch(env=callback_env(sink))
    reference = [texts(s.say("stade", "order-ref", t, msg_id=f"m{i}"))
                 for i, t in enumerate(script)]

    errors = []

    def send_all(customer):  # back to back on one keep-alive connection
        conn = ApiConnection(s.port)
        for i, t in enumerate(script):
            r = conn.post("stade", customer, t, msg_id=f"m{i}", wait=False)
            if r.status != 202:
                errors.append((customer, i, r.status, r.body))
        conn.close()

    threads = [threading.Thread(target=send_all, args=(c,)) for c in customers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors[:5]
    wait_store_quiet(s, timeout=30)

    replies = replies_by_inbound(s)
    flat_reference = [x for r in reference for x in r]
    for c in customers:
        rows = inbound_rows(s, c)
        ids = [rows[(c, f"m{i}")][0][0] for i in range(n)]
        assert ids == sorted(ids), (c, ids)          # stored in arrival order
        got = [[r[1] for r in replies.get(mid, [])] for mid in ids]
        assert got == reference, c                     # processed in that order
        out_ids = [r[0] for mid in ids for r in replies.get(mid, [])]
        assert out_ids == sorted(out_ids), c           # answered in that order
        delivered = [p["body"]["text"] for p in sink.snapshot()
                     if p["body"]["customer"] == c]
        assert delivered == flat_reference, c          # delivered in that order


# -- 7. SIGTERM in the middle of a burst ---------------------------------------------


def test_sigterm_during_burst_processes_every_acknowledged_message(launch):
    n_threads, stop_after = 8, 400
    s = launch(settings={"rate_customer_per_minute": 0})
    lock = threading.Lock()
    answers = []   # (customer, i, wait, status, body, sent at, answered at)
    failures = collections.Counter()
    n_ok = [0]

    def client(t):
        conn = ApiConnection(s.port, timeout=30)
        for i in range(100000):
            customer = f"term-{t}-{i % 20}"
            wait = i % 3 != 0
            sent_at = time.monotonic()
            try:
                r = conn.post("stade", customer, CYCLE[(i // 20) % len(CYCLE)],
                              msg_id=f"m{i}", wait=wait)
            except NET_ERRORS as e:
                with lock:
                    failures[type(e).__name__] += 1
                return
            with lock:
                answers.append((customer, f"m{i}", wait, r.status, r.body, sent_at,
                                time.monotonic()))
                if 200 <= r.status < 300:
                    n_ok[0] += 1
                else:
                    failures[r.status] += 1
            if not 200 <= r.status < 300:
                if r.status == 503 and not r.headers.get("Retry-After"):
                    with lock:
                        failures["503 without Retry-After"] += 1
                return

    threads = [threading.Thread(target=client, args=(t,), daemon=True) for t in range(n_threads)]
    for th in threads:
        th.start()
    assert wait_until(lambda: n_ok[0] >= stop_after, timeout=60, interval=0.001)
    t_term = time.monotonic()
    rc = s.stop(timeout=30)
    stop_s = time.monotonic() - t_term
    for th in threads:
        th.join(30)
    ok = [a for a in answers if 200 <= a[3] < 300]
    in_flight = [a for a in ok if a[5] < t_term < a[6]]
    log(f"SIGTERM after {n_ok[0]} answers: exit {rc} in {stop_s:.2f} s; "
        f"{len(ok)} 2xx in all, {len(in_flight)} of them in flight at the SIGTERM "
        f"({sum(1 for a in in_flight if a[2])} with wait=true); "
        f"refused/failed: {dict(failures)}")
    assert rc == 0
    assert stop_s < 10
    assert not failures.get("503 without Retry-After")

    rows = inbound_rows(s)
    replies = replies_by_inbound(s)
    for customer, cid, wait, status, body, _, _ in ok:
        [(mid, st, _)] = rows[(customer, cid)]
        assert st in ("processed", "ignored"), (customer, cid, st)
        if wait:
            answered = [x["text"] for x in json.loads(body)["replies"]]
            assert answered == [r[1] for r in replies.get(mid, [])], (customer, cid)
    # accepted messages are processed before the exit
    assert s.count("SELECT count(*) FROM messages WHERE direction = 'in' "
                   "AND status = 'received'") == 0
    # and the next start has nothing left to do
    s.start()
    wait_store_quiet(s, timeout=10)


def _file_size_limit(nbytes):
    def apply():  # in the child, before exec: a refused write, not a killed process
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return apply


def test_a_store_that_refuses_writes_fails_messages_and_stops_promptly(launch):
    """The disk refuses to let the store grow (a file size limit, as a full disk would):
    each message whose batch cannot be stored is answered 503 store_unavailable and stored
    nowhere, the server goes on answering, and SIGTERM stops it at once. (A failed commit
    used to leave the writer waiting for a sync that never came: every later message hung,
    and so did the stop.) Restarted without the limit, the store holds exactly the
    messages answered 200, each processed once."""
    s = launch(start=False)
    s.preexec = _file_size_limit(1 << 20)
    s.start()
    answered, refused = [], []
    for i in range(1000):
        r = s.say("stade", f"c{i}", "Bonjour, je voudrais commander deux Heineken")
        if r.status == 200:
            answered.append(f"c{i}")
        else:
            assert r.status == 503, (r.status, r.body)
            assert r.json()["error"]["code"] == "store_unavailable"
            refused.append(f"c{i}")
            if len(refused) >= 5:
                break
    assert answered and len(refused) == 5, (len(answered), len(refused))
    assert s.get("/healthz").status == 200
    started = time.time()
    assert s.stop(timeout=20) is not None
    assert time.time() - started < 10

    again = launch(data=s.data_dir.name)
    for customer in answered:
        assert again.count("SELECT count(*) FROM messages m JOIN identities i "
                           "ON i.id = m.identity_id WHERE i.external_id = ? AND "
                           "m.direction = 'in' AND m.status = 'processed'", customer) == 1
    for customer in refused:
        assert again.count("SELECT count(*) FROM identities WHERE external_id = ?",
                           customer) == 0
    assert again.stop() == 0


@pytest.mark.parametrize("http_threads", [1, 2])
def test_hundreds_of_requests_ready_at_once_are_all_answered(launch, http_threads):
    """256 kept-alive connections each have a message waiting when the server looks,
    three times over. Debian's libmicrohttpd (0.9.75), running its own epoll thread,
    takes ready connections 128 at a time and, after a full batch, asked for more with
    the blocking timeout computed before: when exactly 128 or 256 were ready, it slept
    with them unread until an unrelated event or the 60-second connection timeout.
    The server is stopped (SIGSTOP) while the messages are sent, so that they are all
    ready at once when it continues. Each must be answered, in seconds."""
    s = launch(settings={"http_threads": http_threads, "rate_customer_per_minute": 0})
    n = 256
    conns = [http.client.HTTPConnection("127.0.0.1", s.port, timeout=15) for _ in range(n)]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    try:
        for c in conns:
            c.connect()
        time.sleep(0.5)  # every connection accepted and idle before the burst
        for round_ in range(3):
            os.kill(s.proc.pid, signal.SIGSTOP)
            try:
                for i, c in enumerate(conns):
                    body = {"customer": f"burst-{i}", "text": "bonjour", "id": f"r{round_}.{i}"}
                    c.request("POST", "/api/v1/bots/stade/messages", json.dumps(body).encode(),
                              headers)
                time.sleep(0.2)
            finally:
                os.kill(s.proc.pid, signal.SIGCONT)
            started = time.monotonic()
            for i, c in enumerate(conns):
                r = c.getresponse()  # socket.timeout (an OSError) if it stalls
                data = r.read()
                assert r.status == 200, (round_, i, r.status, data[:200])
                assert json.loads(data)["replies"], data[:200]
            log(f"round {round_}: {n} answers in {time.monotonic() - started:.2f} s")
    finally:
        for c in conns:
            c.close()
    assert s.count("SELECT count(*) FROM messages WHERE direction = 'in'") == 3 * n
    assert s.stop() == 0
