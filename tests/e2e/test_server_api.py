"""`palabre serve` end to end, as its users see it: the REST api channel and
the web chat, against the real binary, the real example bots and the real
SQLite store (tests/e2e/server.py). The brand's order service (the only thing
outside palabre) is a small HTTP server in this process.

What is checked is what a customer or a brand's developer would notice: the
whole conversations of the three bots, quick replies, asynchronous sends,
the conversation read back, retries that are answered once, STOP/START, the
customer's language, the web chat's cookie, history and live events, the
static pages, and a clean stop (SIGTERM) that loses nothing.
"""
import datetime
import http.client
import http.cookies
import itertools
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server import BOTS, TOKEN, PalabreServer, Response, free_port

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_ids = itertools.count(1)


def uid(prefix="c"):
    """A customer (or message id) no other test uses."""
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns() % 1000000}"


def texts(r):
    assert r.status == 200, (r.status, r.body)
    return [x["text"] for x in r.json()["replies"]]


def wait_until(fn, timeout=10, interval=0.05):
    """fn() until it returns something true; that value (or the last, on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def parse_time(s):
    assert RFC3339.match(s), s
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


# -- the brand's order service ----------------------------------------------

class OrderService:
    """POST /orders {"quantity", "beer", "payment"} → {"id": N}, N from 4521."""

    def __init__(self):
        self.port = free_port()
        self.orders = []
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with service.lock:
                    order_id = 4521 + len(service.orders)
                    service.orders.append(json.loads(raw))
                out = json.dumps({"id": order_id, "status": "placed"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, fmt, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/orders"

    def snapshot(self):
        with self.lock:
            return list(self.orders)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def orders():
    service = OrderService()
    try:
        yield service
    finally:
        service.close()


def make_server(data_dir, orders, **kw):
    env = dict(kw.pop("env", {}), PALABRE_STADE_SERVICE_ORDERS_URL=orders.url)
    return PalabreServer(data_dir, env=env, **kw)


@pytest.fixture(scope="module")
def srv(tmp_path_factory, orders):
    s = make_server(tmp_path_factory.mktemp("api") / "data", orders)
    s.start()
    try:
        yield s
    finally:
        rc = s.stop()
        assert rc == 0, f"palabre serve exited {rc}"


# -- health -------------------------------------------------------------------

def test_healthz_and_readyz(srv):
    r = srv.get("/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}
    r = srv.get("/readyz")
    assert r.status == 200 and r.json() == {"status": "ready"}
    assert r.headers["Content-Type"].startswith("application/json")


# -- whole conversations ------------------------------------------------------

def test_stade_full_order_in_french(srv, orders):
    # bots/stade/tests/order_fr.yaml, message for message
    c = uid()
    before = len(orders.snapshot())
    r = srv.say("stade", c, "Bonjour, on peut commander à boire ?")
    assert texts(r) == ["Combien de bières ? (1 à 4)"]
    assert r.json()["replies"][0]["quick_replies"] == ["1", "2", "3", "4"]
    r = srv.say("stade", c, "deux")
    assert texts(r) == ["Laquelle : Bud, Coors ou Corona ?"]
    assert r.json()["replies"][0]["quick_replies"] == ["Bud", "Coors", "Corona"]
    r = srv.say("stade", c, "Coronas")
    assert texts(r) == ["2 × Corona. Comment payez-vous ?"]
    assert r.json()["replies"][0]["quick_replies"] == ["Carte enregistrée **** 0345",
                                                      "Nouvelle carte"]
    r = srv.say("stade", c, "Carte enregistrée **** 0345")
    [done] = texts(r)
    m = re.fullmatch(r"C'est noté : 2 × Corona, payé avec la carte \*\*\*\* 0345\. "
                     r"Commande n° (\d+), livrée à votre place\.", done)
    assert m, done
    assert r.json()["replies"][0]["quick_replies"] == []
    placed = orders.snapshot()[before:]
    assert len(placed) == 1, placed
    assert placed[0]["beer"] == "Corona" and str(placed[0]["quantity"]) == "2"
    assert int(m.group(1)) >= 4521
    # the conversation is French and in the bot's hands
    conv = srv.api("GET", f"/api/v1/conversations/{r.json()['conversation_id']}").json()
    assert conv["lang"] == "fr" and conv["mode"] == "bot" and conv["bot"] == "stade"


def test_stade_full_order_in_english(srv, orders):
    # bots/stade/tests/order_en.yaml
    c = uid()
    assert texts(srv.say("stade", c, "Hi! Can I get a beer?")) == ["How many beers? (1 to 4)"]
    assert texts(srv.say("stade", c, "two")) == ["Which one: Bud, Coors or Corona?"]
    r = srv.say("stade", c, "coors light?")
    assert texts(r) == ["2 × Coors. How do you pay?"]
    assert r.json()["replies"][0]["quick_replies"] == ["Saved card **** 0345", "New card"]
    [done] = texts(srv.say("stade", c, "the saved card"))
    assert re.fullmatch(r"Done: 2 × Coors, paid with card \*\*\*\* 0345\. Order #\d+, "
                        r"delivered to your seat\.", done), done
    assert orders.snapshot()[-1]["beer"] == "Coors"


def test_stade_buttons_chosen_by_their_label(srv, orders):
    """Each step answers with the label of a quick reply the bot offered."""
    c = uid()
    r = srv.say("stade", c, "I want to order beers")
    quick = r.json()["replies"][-1]["quick_replies"]
    assert quick == ["1", "2", "3", "4"]
    r = srv.say("stade", c, quick[2])  # "3"
    assert texts(r) == ["Which one: Bud, Coors or Corona?"]
    quick = r.json()["replies"][-1]["quick_replies"]
    assert quick == ["Bud", "Coors", "Corona"]
    r = srv.say("stade", c, quick[0])  # "Bud"
    assert texts(r) == ["3 × Bud. How do you pay?"]
    quick = r.json()["replies"][-1]["quick_replies"]
    assert quick == ["Saved card **** 0345", "New card"]
    r = srv.say("stade", c, quick[0])
    [done] = texts(r)
    assert done.startswith("Done: 3 × Bud, paid with card **** 0345. Order #"), done
    assert orders.snapshot()[-1]["beer"] == "Bud"
    assert str(orders.snapshot()[-1]["quantity"]) == "3"


def test_stade_new_card_hands_over(srv):
    # bots/stade/tests/new_card_fr.yaml: the "Nouvelle carte" button goes to a person
    c = uid()
    assert texts(srv.say("stade", c, "deux corona svp")) == ["2 × Corona. Comment payez-vous ?"]
    r = srv.say("stade", c, "Nouvelle carte")
    assert texts(r) == ["Pour une nouvelle carte, un conseiller vous envoie un lien de "
                        "paiement sécurisé pour vos 2 × Corona."]
    conv = srv.api("GET", f"/api/v1/conversations/{r.json()['conversation_id']}").json()
    assert conv["mode"] == "person"


def test_monresultat_paris_11(srv):
    # bots/monresultat/tests/fr_paris_11.yaml and en_my_result_for.yaml
    [fr] = texts(srv.say("monresultat", uid(), "#MonRésultat 75011"))
    assert fr == ("Résultats de démonstration (fictifs) pour Paris 11e Arrondissement (75011) : "
                  "1. Liste de la Fontaine 40,6 % · 2. Liste des Coteaux 16,2 % · "
                  "3. Liste des Lavandes 16,2 %. Participation : 44,8 %. "
                  "Détails : https://resultats.example/communes/75111")
    [en] = texts(srv.say("monresultat", uid(), "my result for 75011"))
    assert ("Demo results (not real) for Paris 11e Arrondissement (75011): "
            "1. Liste de la Fontaine 40.6%") in en
    assert "https://resultats.example/communes/75111" in en


def test_monresultat_contract_for_what_it_cannot_answer(srv):
    # fr_unknown_99999.yaml, en_unknown.yaml, fr_random_text.yaml, en_random_text.yaml
    assert texts(srv.say("monresultat", uid(), "#MonRésultat 99999")) == [
        "Je ne connais pas le code postal 99999. Envoyez #MonRésultat suivi du code postal "
        "de votre commune, par exemple « #MonRésultat 69003 »."]
    assert texts(srv.say("monresultat", uid(), "what is the result for 99999?")) == [
        "I don't know postal code 99999. Send #MonRésultat followed by your commune's postal "
        "code, for example \"#MonRésultat 69003\"."]
    c = uid()
    assert texts(srv.say("monresultat", c, "blorp zut")) == [
        "Je vous donne le résultat (données de démonstration) de votre commune. Envoyez "
        "#MonRésultat suivi de votre code postal, par exemple « #MonRésultat 69003 ». "
        "Pour parler à quelqu'un, écrivez « conseiller »."]
    [second] = texts(srv.say("monresultat", c, "foo bar baz"))
    assert "Je vous passe un conseiller" in second
    [en] = texts(srv.say("monresultat", uid(), "what's the weather like today?"))
    assert "Send #MonRésultat followed by your postal code" in en


def test_monresultat_shared_postcode_offers_buttons(srv):
    # bots/monresultat/tests/fr_shared_by_button.yaml
    c = uid()
    r = srv.say("monresultat", c, "#MonRésultat 75016")
    replies = r.json()["replies"]
    assert "Le code postal 75016 couvre 2 communes" in replies[0]["text"]
    assert "choisissez" in replies[-1]["text"]
    quick = replies[-1]["quick_replies"]
    assert quick == ["Boulogne-Billancourt", "Paris, arrondissement 16"]
    [result] = texts(srv.say("monresultat", c, quick[0]))
    assert "pour Boulogne-Billancourt (75016)" in result


def test_monresultat_shared_postcode_answered_by_typing_the_commune(srv):
    # bots/monresultat/tests/fr_shared_by_button.yaml, first half
    c = uid()
    r = srv.say("monresultat", c, "#MonRésultat 13013")
    replies = r.json()["replies"]
    assert "couvre 3 communes" in replies[0]["text"]
    assert "Marseille, arrondissement 14" in replies[-1]["quick_replies"]
    [result] = texts(srv.say("monresultat", c, "Marseille, arrondissement 14"))
    assert "pour Marseille 14e Arrondissement (13013)" in result


def test_monresultat_same_request_twice_is_answered_once(srv):
    """SPEC §2.1: a repeat of the same request is not a new request."""
    c = uid()
    [first] = texts(srv.say("monresultat", c, "#MonRésultat 69003"))
    assert "Lyon 3e Arrondissement (69003)" in first
    r = srv.say("monresultat", c, "#MonRésultat 69003")
    assert r.status == 200 and r.json()["replies"] == []
    assert status_of(srv, r.json()["message_id"]) == "ignored"
    # another request of the same customer is answered
    [other] = texts(srv.say("monresultat", c, "#MonRésultat 13008"))
    assert "Marseille 8e Arrondissement (13008)" in other


def test_repeat_window_seconds_zero_turns_repeat_suppression_off(tmp_path, orders):
    """`palabre serve --settings`: repeat_window_seconds, "the same look-up by
    the same customer is not answered twice within it (0: off)"."""
    s = make_server(tmp_path / "data", orders, bots=[BOTS[1]],
                    settings={"repeat_window_seconds": 0}).start()
    try:
        first = texts(s.say("monresultat", "again", "#MonRésultat 69003"))
        second = texts(s.say("monresultat", "again", "#MonRésultat 69003"))
        assert second == first, "with repeat_window_seconds=0 the repeat must be answered"
    finally:
        assert s.stop() == 0


def test_assistant_scripts(srv):
    # bots/assistant/tests/fr_order_number_first.yaml
    c = uid()
    assert texts(srv.say("assistant", c, "où en est ma commande 482913 ?")) == [
        "Commande n° 482913 (Ristretto x50, Lungo x50) : Expédiée avec Colibri Express "
        "(suivi CE482913FR). Livraison prévue le 12/06/2025."]
    assert texts(srv.say("assistant", c, "super, merci !")) == [
        "Avec plaisir ! Bonne journée, et à bientôt chez Maison Aurore."]
    # bots/assistant/tests/en_order_statuses.yaml
    c = uid()
    assert texts(srv.say("assistant", c, "has my order 146018 shipped?")) == [
        "Order #146018 (Intenso x100): Cancelled, you were not charged for it."]
    assert texts(srv.say("assistant", c, "and 125904?")) == [
        "Order #125904 (Aurore Mini machine): Returned and refunded on 15/05/2025."]
    assert texts(srv.say("assistant", c, "what about order 235508")) == [
        "Order #235508 (Aurore Mini machine): Confirmed and will be prepared within 48 hours. "
        "Expected delivery: 16/06/2025."]


def test_replies_without_buttons_have_an_empty_quick_replies_list(srv):
    r = srv.say("assistant", uid(), "aide")
    [reply] = r.json()["replies"]
    assert reply["text"].startswith("Je suis l'assistant de Maison Aurore")
    assert reply["quick_replies"] == []


# -- asynchronous sends and reading conversations back --------------------------

def test_wait_false_accepts_then_the_replies_are_stored(srv):
    c = uid()
    r = srv.say("stade", c, "deux corona svp", msg_id="async-1", wait=False)
    assert r.status == 202, r.body
    body = r.json()
    assert body["status"] == "accepted"
    assert isinstance(body["message_id"], int) and isinstance(body["conversation_id"], int)

    def replies():
        conv = srv.api("GET", f"/api/v1/conversations/{body['conversation_id']}").json()
        return [m for m in conv["messages"] if m.get("in_reply_to") == body["message_id"]]

    out = wait_until(replies, timeout=10)
    assert [m["text"] for m in out] == ["2 × Corona. Comment payez-vous ?"]
    assert out[0]["quick_replies"] == ["Carte enregistrée **** 0345", "Nouvelle carte"]
    # and the conversation goes on where the asynchronous message left it
    [done] = texts(srv.say("stade", c, "la carte enregistrée"))
    assert done.startswith("C'est noté : 2 × Corona"), done


def test_get_conversation_reads_the_whole_exchange_in_order(srv):
    c = uid()
    sent = [("q1", "je voudrais des bières"), ("q2", "3"), ("q3", "corona")]
    answers = [srv.say("stade", c, text, msg_id=mid) for mid, text in sent]
    conv_id = answers[0].json()["conversation_id"]
    assert all(a.json()["conversation_id"] == conv_id for a in answers)
    r = srv.api("GET", f"/api/v1/conversations/{conv_id}")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    conv = r.json()
    assert conv["id"] == conv_id and conv["bot"] == "stade" and conv["mode"] == "bot"
    assert {"channel": "api", "external_id": c} in conv["customer"]["identities"]
    msgs = conv["messages"]
    assert [m["direction"] for m in msgs] == ["in", "out"] * 3
    assert [m["text"] for m in msgs] == [
        "je voudrais des bières", "Combien de bières ? (1 à 4)",
        "3", "Laquelle : Bud, Coors ou Corona ?",
        "corona", "3 × Corona. Comment payez-vous ?"]
    ins = [m for m in msgs if m["direction"] == "in"]
    assert [m["channel_message_id"] for m in ins] == ["q1", "q2", "q3"]
    assert [m["id"] for m in ins] == [a.json()["message_id"] for a in answers]
    assert all(m["status"] == "processed" for m in ins)
    for i, m in enumerate(msgs):
        assert m["conversation_id"] == conv_id and m["channel"] == "api"
        if m["direction"] == "out":
            assert m["in_reply_to"] == msgs[i - 1]["id"]
    ids = [m["id"] for m in msgs]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    times = [parse_time(m["created_at"]) for m in msgs]
    assert times == sorted(times)
    parse_time(conv["created_at"])
    parse_time(conv["updated_at"])
    for m in msgs:
        if "sent_at" in m:
            parse_time(m["sent_at"])


def test_unknown_conversation_is_a_404_json_error(srv):
    for path in ("/api/v1/conversations/987654321", "/api/v1/conversations/abc"):
        r = srv.api("GET", path)
        assert r.status == 404
        assert r.headers["Content-Type"].startswith("application/json")
        err = r.json()["error"]
        assert err["code"] == "not_found" and err["message"]


def test_list_conversations_filters_and_pagination(tmp_path, orders):
    s = make_server(tmp_path / "data", orders).start()
    try:
        # 7 conversations: 4 stade (one handed over to a person), 3 monresultat
        who = {}
        for i, (bot, text) in enumerate([("stade", "deux corona svp"),
                                         ("monresultat", "#MonRésultat 75011"),
                                         ("stade", "I want to order beers"),
                                         ("monresultat", "#MonRésultat 69003"),
                                         ("stade", "je veux parler à un humain"),
                                         ("monresultat", "#MonRésultat 13008"),
                                         ("stade", "3 coors please")]):
            customer = f"list-{i}"
            r = s.say(bot, customer, text)
            assert r.status == 200, r.body
            who[r.json()["conversation_id"]] = (bot, customer)
        assert len(who) == 7

        def page(query):
            r = s.api("GET", "/api/v1/conversations" + query)
            assert r.status == 200, r.body
            return r.json()

        everything = page("")["conversations"]
        assert sorted(c["id"] for c in everything) == sorted(who)
        assert [c["id"] for c in everything] == sorted(who, reverse=True)  # newest first
        for c in everything:
            assert c["bot"] == who[c["id"]][0]
            parse_time(c["created_at"])

        # pages of 3: 3 + 3 + 1, following next_before, nothing twice
        seen, before, pages = [], "", 0
        while True:
            p = page(f"?limit=3{before}")
            pages += 1
            assert len(p["conversations"]) <= 3
            seen += [c["id"] for c in p["conversations"]]
            if not p.get("next_before"):
                break
            before = f"&before={p['next_before']}"
            assert pages < 10
        assert seen == sorted(who, reverse=True), seen
        assert pages == 3

        stade = page("?bot=stade")["conversations"]
        assert sorted(c["id"] for c in stade) == sorted(k for k, v in who.items()
                                                        if v[0] == "stade")
        mon = page("?bot=monresultat&limit=2")
        assert [c["bot"] for c in mon["conversations"]] == ["monresultat"] * 2
        assert mon.get("next_before")
        rest = page(f"?bot=monresultat&limit=2&before={mon['next_before']}")["conversations"]
        assert len(rest) == 1 and rest[0]["bot"] == "monresultat"

        [one] = page("?customer=list-3")["conversations"]
        assert who[one["id"]] == ("monresultat", "list-3")
        assert page("?customer=nobody")["conversations"] == []

        person = page("?mode=person")["conversations"]
        assert [who[c["id"]] for c in person] == [("stade", "list-4")]
        assert all(c["mode"] == "person" for c in person)
        bot_mode = page("?mode=bot")["conversations"]
        assert len(bot_mode) == 6 and all(c["mode"] == "bot" for c in bot_mode)
        assert page("?bot=monresultat&mode=person")["conversations"] == []
    finally:
        assert s.stop() == 0


# -- retries of the same message ------------------------------------------------

def test_same_message_id_five_times_is_stored_and_answered_once(srv):
    c, mid = uid(), uid("m")
    answers = [srv.say("stade", c, "deux corona svp", msg_id=mid) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5, [a.body for a in answers]
    first = answers[0].json()
    assert "duplicate" not in first or first["duplicate"] is False
    assert [x["text"] for x in first["replies"]] == ["2 × Corona. Comment payez-vous ?"]
    for a in answers[1:]:
        body = a.json()
        assert body["duplicate"] is True
        assert body["replies"] == first["replies"]
        assert body["message_id"] == first["message_id"]
        assert body["conversation_id"] == first["conversation_id"]
    assert srv.count("SELECT count(*) FROM messages WHERE direction = 'in' "
                     "AND channel_message_id = ? AND conversation_id = ?",
                     mid, first["conversation_id"]) == 1
    assert srv.count("SELECT count(*) FROM messages WHERE direction = 'out' "
                     "AND in_reply_to = ?", first["message_id"]) == 1
    assert srv.count("SELECT count(*) FROM messages WHERE conversation_id = ?",
                     first["conversation_id"]) == 2
    # the same id from another customer is another message
    other = srv.say("stade", uid(), "deux corona svp", msg_id=mid)
    assert other.status == 200 and other.json().get("duplicate") is False
    assert other.json()["message_id"] != first["message_id"]


def test_same_message_id_sent_concurrently_is_processed_once(srv):
    c, mid = uid(), uid("m")
    results = [None] * 5

    def send(i):
        results[i] = srv.say("monresultat", c, "#MonRésultat 69003", msg_id=mid)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = {r.json()["message_id"] for r in results}
    assert len(ids) == 1, [r.body for r in results]
    fresh = [r for r in results if not r.json().get("duplicate")]
    assert len(fresh) == 1, [r.body for r in results]
    [reply] = texts(fresh[0])
    assert "Lyon 3e Arrondissement (69003)" in reply
    for r in results:
        # a copy that came while the first was processing says so (202), else the replies
        assert (r.status == 200 and texts(r) == [reply]) or \
            (r.status == 202 and r.json().get("status") == "processing"), r.body
    [message_id] = ids
    assert srv.count("SELECT count(*) FROM messages WHERE direction = 'in' "
                     "AND channel_message_id = ?", mid) == 1
    assert srv.count("SELECT count(*) FROM messages WHERE in_reply_to = ?", message_id) == 1


# -- consent ------------------------------------------------------------------

def status_of(srv, message_id):
    return srv.count("SELECT status FROM messages WHERE id = ?", message_id)


def test_stop_then_start(srv):
    c = uid()
    r = srv.say("stade", c, "STOP")
    [confirm] = texts(r)
    assert "Vous ne recevrez plus de messages" in confirm and "START" in confirm
    r = srv.say("stade", c, "deux corona svp")
    assert r.status == 200 and r.json()["replies"] == []
    assert status_of(srv, r.json()["message_id"]) == "ignored"
    assert srv.count("SELECT count(*) FROM messages WHERE in_reply_to = ?",
                     r.json()["message_id"]) == 0
    r = srv.say("stade", c, "START")
    [welcome] = texts(r)
    assert welcome.startswith("Bon retour"), welcome
    assert texts(srv.say("stade", c, "deux corona svp")) == ["2 × Corona. Comment payez-vous ?"]


def test_arret_with_accent_stops_too(srv):
    c = uid()
    [confirm] = texts(srv.say("monresultat", c, "ARRÊT"))
    assert "Vous ne recevrez plus de messages" in confirm
    r = srv.say("monresultat", c, "#MonRésultat 75011")
    assert r.json()["replies"] == []
    assert status_of(srv, r.json()["message_id"]) == "ignored"


def test_stop_in_english(srv):
    c = uid()
    r = srv.say("stade", c, "STOP", lang="en")
    [confirm] = texts(r)
    assert confirm == "You will not receive any more messages from us. Reply START to resume."


# -- language -------------------------------------------------------------------

def test_lang_en_for_a_new_customer_gets_english(srv):
    c = uid()
    # "2 corona" says nothing of its language: the customer's "lang" decides
    assert texts(srv.say("stade", c, "2 corona", lang="en")) == ["2 × Corona. How do you pay?"]
    conv = srv.api("GET", "/api/v1/conversations?customer=" + c).json()["conversations"]
    assert conv[0]["lang"] == "en"
    assert texts(srv.say("stade", uid(), "2 corona", lang="fr")) == [
        "2 × Corona. Comment payez-vous ?"]


# -- web chat -------------------------------------------------------------------

def webchat_post(srv, bot, text, visitor=None, msg_id=None, lang=None, headers=None):
    body = {"text": text}
    if msg_id:
        body["id"] = msg_id
    if lang:
        body["lang"] = lang
    h = {"Content-Type": "application/json"}
    if visitor:
        h["Cookie"] = f"palabre_visitor={visitor}"
    h.update(headers or {})
    return srv.request("POST", f"/webchat/{bot}/messages", body, h)


def new_visitor(srv, bot="stade", text="bonjour"):
    """Posts a first message without a cookie; returns (visitor token, answer)."""
    r = webchat_post(srv, bot, text)
    assert r.status == 202, r.body
    cookie = http.cookies.SimpleCookie(r.headers["Set-Cookie"])
    return cookie["palabre_visitor"].value, r


def history(srv, bot, visitor):
    r = srv.get(f"/webchat/{bot}/history", headers={"Cookie": f"palabre_visitor={visitor}"})
    assert r.status == 200, r.body
    return r.json()


class EventStream:
    """GET /webchat/{bot}/events read with http.client (server-sent events)."""

    def __init__(self, srv, bot, visitor, last_event_id=None, timeout=10):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
        headers = {"Accept": "text/event-stream", "Cookie": f"palabre_visitor={visitor}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", f"/webchat/{bot}/events", headers=headers)
        self.resp = self.conn.getresponse()
        self.lines = []

    def next_event(self):
        ev = {}
        while True:
            raw = self.resp.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode("utf-8").rstrip("\r\n")
            self.lines.append(line)
            if line == "":
                if "data" in ev or "id" in ev:
                    return ev
                ev = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            ev[name] = ev.get(name, "") + ("\n" if name == "data" and name in ev else "") + value

    def until(self, pred, timeout=10):
        """Events until pred(event) is true (that one included)."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            self.conn.sock.settimeout(max(0.1, deadline - time.monotonic()))
            ev = self.next_event()
            got.append(ev)
            if pred(ev):
                return got

    def close(self):
        self.conn.close()


def test_webchat_lists_the_bots(srv):
    r = srv.get("/webchat/bots")
    assert r.status == 200
    bots = {b["name"]: b for b in r.json()["bots"]}
    assert set(bots) == {"stade", "monresultat", "assistant"}
    for b in bots.values():
        assert b["languages"] == ["fr", "en"]
        assert set(b["description"]) == {"fr", "en"} and all(b["description"].values())
    assert "bières" in bots["stade"]["description"]["fr"]
    assert "#MonRésultat" in bots["monresultat"]["description"]["en"]
    assert "Maison Aurore" in bots["assistant"]["description"]["fr"]


def test_webchat_cookie_then_history(srv):
    r = webchat_post(srv, "stade", "deux corona svp", msg_id="w-1")
    assert r.status == 202, r.body
    body = r.json()
    assert isinstance(body["message_id"], int) and isinstance(body["conversation_id"], int)
    set_cookie = r.headers["Set-Cookie"]
    cookie = http.cookies.SimpleCookie(set_cookie)["palabre_visitor"]
    assert re.fullmatch(r"[0-9a-f]{32,}", cookie.value)
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    visitor = cookie.value

    def replied():
        h = history(srv, "stade", visitor)
        return h if any(m["direction"] == "out" for m in h["messages"]) else None

    h = wait_until(replied)
    assert h, history(srv, "stade", visitor)
    assert h["conversation_id"] == body["conversation_id"]
    assert [(m["direction"], m["text"]) for m in h["messages"]] == [
        ("in", "deux corona svp"), ("out", "2 × Corona. Comment payez-vous ?")]
    assert h["messages"][1]["quick_replies"] == ["Carte enregistrée **** 0345", "Nouvelle carte"]
    # with the cookie, no new one is made, and the conversation goes on
    r = webchat_post(srv, "stade", "la carte enregistrée", visitor=visitor)
    assert r.status == 202 and "Set-Cookie" not in r.headers
    assert r.json()["conversation_id"] == body["conversation_id"]
    h = wait_until(lambda: len(history(srv, "stade", visitor)["messages"]) >= 4 and
                   history(srv, "stade", visitor))
    assert h["messages"][3]["text"].startswith("C'est noté : 2 × Corona"), h
    # the same client id again is not a new message
    r = webchat_post(srv, "stade", "deux corona svp", visitor=visitor, msg_id="w-1")
    assert r.status == 202 and r.json()["duplicate"] is True
    assert r.json()["message_id"] == body["message_id"]
    assert len(history(srv, "stade", visitor)["messages"]) == 4


def test_webchat_history_of_a_new_visitor_is_empty(srv):
    r = srv.get("/webchat/stade/history")
    assert r.status == 200
    assert r.json() == {"conversation_id": None, "messages": []}


def test_webchat_events_stream_new_messages_and_resume(srv):
    visitor, first = new_visitor(srv, "monresultat", "#MonRésultat 75011")
    wait_until(lambda: len(history(srv, "monresultat", visitor)["messages"]) >= 2)
    stream = EventStream(srv, "monresultat", visitor)
    try:
        assert stream.resp.status == 200
        assert stream.resp.headers["Content-Type"].startswith("text/event-stream")
        # the history first (no Last-Event-ID): the first message and its reply
        old = stream.until(lambda ev: json.loads(ev["data"])["direction"] == "out")
        assert json.loads(old[0]["data"])["text"] == "#MonRésultat 75011"
        # then what is posted while the stream is open
        r = webchat_post(srv, "monresultat", "#MonRésultat 69003", visitor=visitor)
        assert r.status == 202
        new_id = r.json()["message_id"]
        got = stream.until(lambda ev: json.loads(ev["data"]).get("in_reply_to") == new_id)
    finally:
        stream.close()
    assert all(ev["event"] == "message" for ev in old + got)
    # the wire format, line by line
    at = stream.lines.index(f"id: {new_id}")
    assert stream.lines[at + 1] == "event: message"
    assert stream.lines[at + 2].startswith("data: {") and stream.lines[at + 3] == ""
    for ev in old + got:
        assert int(ev["id"]) == json.loads(ev["data"])["id"]
    mine = [json.loads(ev["data"]) for ev in got]
    assert mine[0]["id"] == new_id and mine[0]["direction"] == "in"
    assert mine[0]["text"] == "#MonRésultat 69003"
    assert mine[-1]["direction"] == "out"
    assert "Lyon 3e Arrondissement (69003)" in mine[-1]["text"]
    ids = [int(ev["id"]) for ev in old + got]
    assert ids == sorted(ids)
    # Last-Event-ID: resumes after that id, nothing older
    stream = EventStream(srv, "monresultat", visitor, last_event_id=new_id)
    try:
        [ev] = stream.until(lambda ev: True)
    finally:
        stream.close()
    data = json.loads(ev["data"])
    assert data["in_reply_to"] == new_id and int(ev["id"]) > new_id


def test_webchat_visitors_never_see_each_other(srv):
    alice, _ = new_visitor(srv, "stade", "alice veut deux corona")
    bob, _ = new_visitor(srv, "stade", "bob voudrait trois bud")
    stream = EventStream(srv, "stade", bob)
    try:
        webchat_post(srv, "stade", "alice encore un secret", visitor=alice)
        r = webchat_post(srv, "stade", "bob dit merci", visitor=bob)
        bob_id = r.json()["message_id"]
        evs = stream.until(lambda ev: json.loads(ev["data"]).get("in_reply_to") == bob_id)
    finally:
        stream.close()
    seen = " ".join(json.loads(ev["data"])["text"] for ev in evs)
    assert "bob voudrait trois bud" in seen and "bob dit merci" in seen
    assert "alice" not in seen
    wait_until(lambda: len(history(srv, "stade", alice)["messages"]) >= 4)
    a = history(srv, "stade", alice)
    b = history(srv, "stade", bob)
    assert a["conversation_id"] != b["conversation_id"]
    assert not any("bob" in m["text"] for m in a["messages"])
    assert not any("alice" in m["text"] for m in b["messages"])
    # the REST api does not know the visitor's token, only its hash
    for conv in (a, b):
        detail = srv.api("GET", f"/api/v1/conversations/{conv['conversation_id']}").json()
        [identity] = detail["customer"]["identities"]
        assert identity["channel"] == "webchat"
        assert alice not in identity["external_id"] and bob not in identity["external_id"]


# -- static pages -----------------------------------------------------------------

def test_chat_page_and_widget(srv):
    r = srv.get("/chat")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<html" in r.body.lower()
    r = srv.get("/widget.js")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    assert r.body and b"<html" not in r.body.lower()


# -- a clean stop with requests in flight ------------------------------------------

def test_sigterm_with_requests_in_flight_loses_nothing(tmp_path, orders):
    s = make_server(tmp_path / "data", orders).start()
    try:
        # a conversation in the middle of the order form
        mid = "mid-form"
        assert texts(s.say("stade", mid, "2 corona")) == ["2 × Corona. Comment payez-vous ?"]

        results, lock, stop = [], threading.Lock(), threading.Event()

        def client(n):
            for i in itertools.count():
                if stop.is_set():
                    return
                wait = i % 3 != 0
                bot, text = [("stade", "deux corona svp"), ("monresultat", "#MonRésultat 75011"),
                             ("assistant", "où en est ma commande 482913 ?")][(n + i) % 3]
                try:
                    r = s.say(bot, f"flight-{n}-{i}", text, msg_id=f"f{n}.{i}", wait=wait)
                except OSError:
                    return  # the server is gone: not acknowledged
                with lock:
                    results.append((wait, r))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        wait_until(lambda: len(results) >= 30, timeout=10, interval=0.01)
        rc = s.stop()
        stop.set()
        for t in threads:
            t.join(30)
        assert rc == 0, f"palabre serve exited {rc}"
        acked = [(w, r) for w, r in results if 200 <= r.status < 300]
        assert len(acked) >= 30
        for w, r in results:
            assert r.status in (200, 202, 503), (r.status, r.body)
            if r.status == 503:
                assert r.json()["error"]["code"] in ("stopping", "overloaded")
        with s.db() as db:
            assert db.execute("SELECT count(*) FROM messages WHERE direction = 'in' "
                              "AND status = 'received'").fetchone()[0] == 0
            for w, r in acked:
                body = r.json()
                mid_id = body["message_id"]
                [status] = db.execute("SELECT status FROM messages WHERE id = ?",
                                      (mid_id,)).fetchone()
                assert status == "processed", body
                stored = [t for (t,) in db.execute(
                    "SELECT text FROM messages WHERE in_reply_to = ? ORDER BY id", (mid_id,))]
                assert stored, body
                if w and r.status == 200:
                    assert [x["text"] for x in body["replies"]] == stored
        # after a restart on the same data, the order goes on where it was
        s.start()
        [done] = texts(s.say("stade", mid, "carte enregistrée"))
        assert re.fullmatch(r"C'est noté : 2 × Corona, payé avec la carte \*\*\*\* 0345\. "
                            r"Commande n° \d+, livrée à votre place\.", done), done
    finally:
        s.stop()


def test_messages_sent_without_waiting_are_processed_in_arrival_order(srv):
    """Four steps of an order sent at once (wait=false): each is processed after
    the one before it, so the form fills in the order the customer wrote."""
    c = uid()
    steps = ["je voudrais des bières", "3", "corona", "carte enregistrée"]
    acks = [srv.say("stade", c, text, msg_id=f"seq-{i}", wait=False)
            for i, text in enumerate(steps)]
    assert [a.status for a in acks] == [202] * 4, [a.body for a in acks]
    conv_id = acks[0].json()["conversation_id"]
    last = acks[-1].json()["message_id"]

    def done():
        conv = srv.api("GET", f"/api/v1/conversations/{conv_id}").json()
        msgs = conv["messages"]
        return msgs if any(m.get("in_reply_to") == last for m in msgs) else None

    msgs = wait_until(done, timeout=15)
    assert msgs, "the last message was not answered"
    assert [m["text"] for m in msgs if m["direction"] == "in"] == steps
    assert [m["text"] for m in msgs if m["direction"] == "out"][:3] == [
        "Combien de bières ? (1 à 4)", "Laquelle : Bud, Coors ou Corona ?",
        "3 × Corona. Comment payez-vous ?"]
    assert msgs[-1]["text"].startswith("C'est noté : 3 × Corona"), msgs[-1]


def test_openapi_description_is_public_json(srv):
    """`palabre serve --help` and routes_api.c say the API is described at
    /api/v1/openapi.json (a static file of web/), without a token."""
    r = srv.get("/api/v1/openapi.json")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    paths = list(doc["paths"])
    assert any(p.endswith("/messages") for p in paths), paths
    assert any("conversations" in p for p in paths), paths


def test_pipelined_messages_on_one_connection_are_answered_in_order(srv):
    """Three messages written at once on one keep-alive connection: three
    answers, in order, each the next step of the form."""
    c = uid()
    wire = b""
    for i, text in enumerate(["je voudrais des bières", "3", "corona"]):
        body = json.dumps({"customer": c, "text": text}).encode()
        wire += (f"POST /api/v1/bots/stade/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n").encode()
        wire += (b"Connection: close\r\n" if i == 2 else b"") + b"\r\n" + body
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        sock.sendall(wire)
        answers = []
        for _ in range(3):
            resp = http.client.HTTPResponse(sock, method="POST")
            resp.begin()
            answers.append(Response(resp.status, resp.headers, resp.read()))
    assert [texts(a) for a in answers] == [["Combien de bières ? (1 à 4)"],
                                           ["Laquelle : Bud, Coors ou Corona ?"],
                                           ["3 × Corona. Comment payez-vous ?"]]


def test_webchat_stream_opened_before_the_first_message(srv):
    """The page opens the live stream first (the visitor has no conversation
    yet), then the visitor writes: the stream delivers both messages."""
    r = srv.get("/webchat/stade/history")
    visitor = http.cookies.SimpleCookie(r.headers["Set-Cookie"])["palabre_visitor"].value
    stream = EventStream(srv, "stade", visitor)
    try:
        r = webchat_post(srv, "stade", "2 corona", visitor=visitor, lang="en")
        assert r.status == 202 and "Set-Cookie" not in r.headers
        mid = r.json()["message_id"]
        evs = stream.until(lambda ev: json.loads(ev["data"]).get("in_reply_to") == mid)
    finally:
        stream.close()
    data = [json.loads(ev["data"]) for ev in evs]
    assert [(m["direction"], m["text"]) for m in data] == [
        ("in", "2 corona"), ("out", "2 × Corona. How do you pay?")]


def test_conversations_evicted_from_memory_continue_from_the_store(tmp_path, orders):
    """With conversation_cache=16 per engine thread, 60 customers in the middle of an order
    push each other out of memory: each one's next message still continues its own order
    (the state comes back from the store)."""
    s = make_server(tmp_path / "data", orders, settings={"conversation_cache": 16})
    s.start()
    try:
        customers = [uid() for _ in range(60)]
        for c in customers:
            assert texts(s.say("stade", c, "deux corona svp")) == [
                "2 × Corona. Comment payez-vous ?"]
        for c in customers:
            assert texts(s.say("stade", c, "Nouvelle carte")) == [
                "Pour une nouvelle carte, un conseiller vous envoie un lien de "
                "paiement sécurisé pour vos 2 × Corona."]
    finally:
        assert s.stop() == 0
