"""The fake platforms (tests/fakes/platforms.py) checked on their own, without
palabre: the webhook signers reproduce CHANNELS.md's test vectors, each fake
accepts a well-formed send in its platform's exact form and refuses a
malformed one the way the platform does (recording the violation), and the
fault injection answers 500 / 429 / late as asked.

Run: /usr/bin/python3 -m pytest -q tests/e2e/test_fakes.py
"""
import base64
import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from fakes import platforms as P  # noqa: E402


def call(url, body=None, headers=None, method="POST", form=False, timeout=10):
    """(status, headers, parsed JSON body) of a request to a fake."""
    h = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, bytes):
            data = body
        elif form:
            data = urllib.parse.urlencode(body).encode()
            h.setdefault("Content-Type", P.FORM_TYPE)
        else:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


@pytest.fixture
def fakes():
    made = []

    def make(cls, **kw):
        fake = cls(**kw).start()
        made.append(fake)
        return fake

    yield make
    for f in made:
        f.stop()


# -- signers: CHANNELS.md's test vectors ------------------------------------------


def test_twilio_signature_vector():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    assert P.twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                              params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    # the order the parameters come in does not matter: they are sorted by name
    assert P.twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                              list(reversed(list(params.items())))) == \
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_x_crc_vector():
    assert P.x_crc_expected("z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu",
                            "9b4507b3-9040-4669-9ca3-6b94edb50553") == \
        "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8="


def test_meta_signature_vector():
    assert P.meta_signature("appsecret", b'{"object":"page","entry":[]}') == \
        "sha256=0e9e0080a310f376450c46d999aa4d49ed772bfe43c13205f38a3a6e6611ed2b"
    hook = P.messenger_event("appsecret", [])
    assert hook.headers["X-Hub-Signature-256"] == P.meta_signature("appsecret", hook.body)


# -- webhook builders -----------------------------------------------------------------


def test_meta_webhooks_escape_non_ascii_and_sign_the_raw_bytes():
    hook = P.messenger_message("s3cret", "2400000000000001", "Ça coûte combien ? 🍺", mid="m_1")
    assert hook.body.isascii() and b"\\u00c7a co\\u00fbte" in hook.body
    assert b"\\ud83c\\udf7a" in hook.body  # outside the BMP: a surrogate pair, as Meta
    assert hook.headers["X-Hub-Signature-256"] == P.meta_signature("s3cret", hook.body)
    event = json.loads(hook.body)
    item = event["entry"][0]["messaging"][0]
    assert event["object"] == "page"
    assert item["message"] == {"mid": "m_1", "text": "Ça coûte combien ? 🍺"}
    assert item["sender"]["id"] == "2400000000000001"
    echo = json.loads(P.messenger_message("s", "24", "x", is_echo=True).body)
    assert echo["entry"][0]["messaging"][0]["message"]["is_echo"] is True
    assert echo["entry"][0]["messaging"][0]["sender"]["id"] == "104000000000001"

    wa = P.whatsapp_message("s3cret", "33600000001", "Bière ?", wamid="wamid.A1",
                            timestamp=1700000000)
    assert wa.body.isascii()
    value = json.loads(wa.body)["entry"][0]["changes"][0]["value"]
    assert value["messages"][0] == {"from": "33600000001", "id": "wamid.A1",
                                    "timestamp": "1700000000", "type": "text",
                                    "text": {"body": "Bière ?"}}
    st = json.loads(P.whatsapp_status("s", "wamid.B", "read", "336").body)
    value = st["entry"][0]["changes"][0]["value"]
    assert "messages" not in value and value["statuses"][0]["status"] == "read"


def test_telegram_update_carries_the_secret_header():
    hook = P.telegram_update("tok_en-1", 1001, 42, text="deux")
    assert hook.headers["X-Telegram-Bot-Api-Secret-Token"] == "tok_en-1"
    assert json.loads(hook.body)["message"]["text"] == "deux"
    assert "X-Telegram-Bot-Api-Secret-Token" not in P.telegram_update(None, 1, 2, "x").headers
    cb = json.loads(P.telegram_update("t", 1002, 42, callback_data="yes").body)
    assert cb["callback_query"]["data"] == "yes"


def test_x_tweet_objects():
    hook = P.x_tweet("sec", "900", "1234", "77", "alice", "@monresultat #MonRésultat 75011",
                     mentions={"monresultat": "900"})
    assert hook.headers["x-twitter-webhooks-signature"] == P.x_signature("sec", hook.body)
    payload = json.loads(hook.body)
    assert payload["for_user_id"] == "900"
    tweet = payload["tweet_create_events"][0]
    assert tweet["id_str"] == "1234" and tweet["user"] == {**tweet["user"], "id_str": "77",
                                                           "screen_name": "alice"}
    # indices in code points, hashtag text without '#'
    assert tweet["entities"]["hashtags"] == [{"text": "MonRésultat", "indices": [13, 25]}]
    assert tweet["entities"]["user_mentions"][0]["id_str"] == "900"
    assert tweet["display_text_range"] == [0, 31]
    rt = json.loads(P.x_retweet("sec", "900", "1235", "78", "bob",
                                P.x_tweet_object("555", "900", "monresultat", "Résultat")).body)
    rt = rt["tweet_create_events"][0]
    assert rt["retweeted_status"]["user"]["id_str"] == "900"
    assert rt["text"] == "RT @monresultat: Résultat"
    long = P.x_tweet_object("1", "2", "c", "x" * 200)
    assert long["truncated"] and long["extended_tweet"]["full_text"] == "x" * 200
    dm = json.loads(P.x_dm("sec", "900", "e1", "77", "900", "bonjour").body)
    ev = dm["direct_message_events"][0]
    assert ev["message_create"]["sender_id"] == "77" and ev["id"] == "e1"


def test_twilio_sms_signs_url_and_every_parameter():
    url = "https://palabre.example:8443/webhooks/stade/twilio?x=1"
    hook = P.twilio_sms("tok", url, "+33611111111", "+15005550006", "STOP", message_sid="SM1")
    params = dict(urllib.parse.parse_qsl(hook.body.decode(), keep_blank_values=True))
    assert params["Body"] == "STOP" and params["MessageSid"] == "SM1"
    assert hook.query == "x=1"
    assert hook.headers["X-Twilio-Signature"] == P.twilio_signature("tok", url, params)
    assert hook.headers["X-Twilio-Signature"] != P.twilio_signature(
        "tok", url.replace("?x=1", ""), params)


# -- the fakes: well-formed sends -------------------------------------------------------


def test_messenger_accepts_and_refuses(fakes):
    m = fakes(P.FakeMessenger)
    url = f"{m.api_base}/v25.0/me/messages?access_token={m.page_token}"
    good = {"recipient": {"id": "2400000000000001"}, "messaging_type": "RESPONSE",
            "message": {"text": "Combien ?", "quick_replies": [
                {"content_type": "text", "title": "2", "payload": "2"}]}}
    status, _, body = call(url, good)
    assert status == 200 and body == {"recipient_id": "2400000000000001", "message_id": "m_1"}
    assert m.errors == []
    tagged = dict(good, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    assert call(url, tagged)[0] == 200
    assert m.errors == []

    bad = [
        (url.replace(m.page_token, "nope"), good, 190),
        (url, dict(good, tag="HUMAN_AGENT"), 100),                         # tag without MESSAGE_TAG
        (url, dict(good, messaging_type="MESSAGE_TAG"), 100),              # MESSAGE_TAG without tag
        (url, dict(good, message={"text": "x" * 2001}), 100),
        (url, dict(good, message={"text": "x", "quick_replies": [
            {"content_type": "text", "title": "Carte enregistrée **** 0345", "payload": "p"}]}),
         100),                                                              # title > 20
        (url, dict(good, message={"text": "x", "quick_replies": [
            {"content_type": "text", "title": str(i), "payload": str(i)} for i in range(14)]}),
         100),
        (url, dict(good, recipient={"id": "abc"}), 100),
        (url, {"recipient": {"id": "1"}, "message": {"text": "x"}}, 100),   # no messaging_type
        (url.replace("v25.0", "v2"), good, 2500),
    ]
    for u, body, code in bad:
        status, _, answer = call(u, body)
        assert status == 400 and answer["error"]["code"] == code, (body, answer)
        assert answer["error"]["fbtrace_id"]
    assert len(m.errors) == len(bad)
    assert len(m.sent()) == 2 and len(m.snapshot()) == 2 + len(bad)


def test_whatsapp_accepts_refuses_and_closes_windows(fakes):
    w = fakes(P.FakeWhatsApp)
    url = f"{w.api_base}/v25.0/{w.phone_number_id}/messages"
    auth = {"Authorization": f"Bearer {w.access_token}"}
    text = {"messaging_product": "whatsapp", "recipient_type": "individual",
            "to": "33600000001", "type": "text", "text": {"body": "Bonjour", "preview_url": False}}
    status, _, body = call(url, text, auth)
    assert status == 200
    assert body == {"messaging_product": "whatsapp",
                    "contacts": [{"input": "33600000001", "wa_id": "33600000001"}],
                    "messages": [{"id": "wamid.1"}]}
    buttons = {"messaging_product": "whatsapp", "to": "33600000001", "type": "interactive",
               "interactive": {"type": "button", "body": {"text": "Laquelle ?"}, "action": {
                   "buttons": [{"type": "reply", "reply": {"id": b, "title": b}}
                               for b in ("Bud", "Coors", "Corona")]}}}
    assert call(url, buttons, auth)[0] == 200
    rows = {"messaging_product": "whatsapp", "to": "33600000001", "type": "interactive",
            "interactive": {"type": "list", "body": {"text": "Commune ?"}, "action": {
                "button": "Choisir", "sections": [{"rows": [
                    {"id": f"r{i}", "title": f"Commune {i}"} for i in range(10)]}]}}}
    assert call(url, rows, auth)[0] == 200
    assert w.errors == []

    four = json.loads(json.dumps(buttons))
    four["interactive"]["action"]["buttons"].append(
        {"type": "reply", "reply": {"id": "x", "title": "x"}})
    long_title = json.loads(json.dumps(buttons))
    long_title["interactive"]["action"]["buttons"][0]["reply"]["title"] = "Carte enregistrée **** 0345"
    eleven = json.loads(json.dumps(rows))
    eleven["interactive"]["action"]["sections"][0]["rows"].append({"id": "r10", "title": "x"})
    bad = [
        (url, text, {"Authorization": "Bearer nope"}, 401, 190),
        (url.replace(w.phone_number_id, "1"), text, auth, 400, 100),
        (url, dict(text, messaging_product="sms"), auth, 400, 100),
        (url, dict(text, text={"body": "x" * 4097}), auth, 400, 100),
        (url, dict(text, type="audio"), auth, 400, 100),
        (url, four, auth, 400, 131009),
        (url, long_title, auth, 400, 131009),
        (url, eleven, auth, 400, 131009),
    ]
    for u, body, h, st, code in bad:
        status, _, answer = call(u, body, h)
        assert (status, answer["error"]["code"]) == (st, code), (body, answer)
    assert len(w.errors) == len(bad)

    w.errors.clear()
    w.outside_window("33600000009")
    status, _, answer = call(url, dict(text, to="33600000009"), auth)
    assert status == 400 and answer["error"]["code"] == 131047
    assert "Re-engagement" in answer["error"]["message"]
    template = {"messaging_product": "whatsapp", "to": "33600000009", "type": "template",
                "template": {"name": "relance", "language": {"code": "fr"}}}
    assert call(url, template, auth)[0] == 200
    assert w.errors == []  # the window is the platform's rule, not a format error


def test_telegram_accepts_and_refuses(fakes):
    t = fakes(P.FakeTelegram)
    url = f"{t.api_base}/bot{t.bot_token}/sendMessage"
    good = {"chat_id": 42, "text": "Combien ?", "reply_markup": {
        "keyboard": [[{"text": "1"}, {"text": "2"}]], "resize_keyboard": True,
        "one_time_keyboard": True}}
    status, _, body = call(url, good)
    assert status == 200 and body["ok"] is True
    assert body["result"]["chat"]["id"] == 42 and body["result"]["text"] == "Combien ?"
    assert isinstance(body["result"]["message_id"], int) and body["result"]["date"] > 0
    inline = {"chat_id": "42", "text": "Oui ?", "reply_markup": {
        "inline_keyboard": [[{"text": "Oui", "callback_data": "yes"}]]}}
    assert call(url, inline)[0] == 200
    assert call(f"{t.api_base}/bot{t.bot_token}/answerCallbackQuery",
                {"callback_query_id": "123"})[0] == 200
    assert t.errors == [] and len(t.sends()) == 2

    bad = [
        (f"{t.api_base}/botnope/sendMessage", good, 401),
        (url, dict(good, text=""), 400),
        (url, dict(good, text="x" * 4097), 400),
        (url, {"text": "x"}, 400),
        (url, dict(inline, reply_markup={"inline_keyboard": [[{"text": "x",
                                                               "callback_data": "é" * 33}]]}), 400),
        (url, dict(inline, reply_markup={"inline_keyboard": [[{"text": "x"}]]}), 400),
        (url, dict(good, reply_markup={"keyboard": "1,2"}), 400),
    ]
    for u, body, st in bad:
        status, _, answer = call(u, body)
        assert status == st and answer["ok"] is False and answer["error_code"] == st, answer
        assert answer["description"]
    assert len(t.errors) == len(bad)


def test_x_accepts_and_refuses(fakes):
    x = fakes(P.FakeX)
    auth = {"Authorization": f"Bearer {x.access_token}"}
    status, _, body = call(f"{x.api_base}/2/tweets", {
        "text": "Résultat", "reply": {"in_reply_to_tweet_id": "1234"}}, auth)
    assert status == 201 and body["data"]["text"] == "Résultat" and body["data"]["id"].isdigit()
    status, _, body = call(f"{x.api_base}/2/dm_conversations/with/77/messages",
                           {"text": "Bonjour"}, auth)
    assert status == 201 and set(body["data"]) == {"dm_conversation_id", "dm_event_id"}
    assert x.errors == [] and len(x.tweets()) == 1 and len(x.dms()) == 1

    bad = [
        (f"{x.api_base}/2/tweets", {"text": "x"}, {}, 401),
        (f"{x.api_base}/2/tweets", {"text": "é" * 281}, auth, 403),
        (f"{x.api_base}/2/tweets", {"text": "x", "reply": {"in_reply_to_tweet_id": 1234}}, auth,
         400),
        (f"{x.api_base}/2/tweets", {"text": "x", "in_reply_to_status_id": "1"}, auth, 400),
        (f"{x.api_base}/2/dm_conversations/with/77/messages", {"text": ""}, auth, 400),
        (f"{x.api_base}/2/dm_conversations/with/{x.user_id}/messages", {"text": "x"}, auth, 403),
        (f"{x.api_base}/1.1/statuses/update.json", {"status": "x"}, auth, 404),
    ]
    for u, body, h, st in bad:
        status, _, answer = call(u, body, h)
        assert status == st, answer
        assert answer.get("status", st) == st and answer.get("title"), answer
    assert len(x.errors) == len(bad)
    # 280 code points is fine, whatever their bytes
    assert call(f"{x.api_base}/2/tweets", {"text": "é" * 280}, auth)[0] == 201


def test_twilio_accepts_refuses_and_opts_out(fakes):
    tw = fakes(P.FakeTwilio)
    url = f"{tw.api_base}/2010-04-01/Accounts/{tw.account_sid}/Messages.json"
    basic = "Basic " + base64.b64encode(f"{tw.account_sid}:{tw.auth_token}".encode()).decode()
    auth = {"Authorization": basic}
    good = {"To": "+33611111111", "From": tw.from_number, "Body": "Bonjour"}
    status, _, body = call(url, good, auth, form=True)
    assert status == 201 and body["status"] == "queued"
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert call(url, {"To": "+33611111111", "MessagingServiceSid": "MG" + "a" * 32,
                      "Body": "x"}, auth, form=True)[0] == 201
    assert tw.errors == []

    bad = [
        (url, good, {}, 401, 20003),
        (url.replace(tw.account_sid, "AC" + "f" * 32), good, auth, 401, 20003),
        (url, dict(good, To="0611111111"), auth, 400, 21211),
        (url, dict(good, From="+33700000000"), auth, 400, 21606),
        (url, {"To": "+33611111111", "Body": "x"}, auth, 400, 21603),
        (url, dict(good, Body=""), auth, 400, 21602),
        (url, dict(good, Body="x" * 1601), auth, 400, 21617),
    ]
    for u, body, h, st, code in bad:
        status, _, answer = call(u, body, h, form=True)
        assert (status, answer["code"], answer["status"]) == (st, code, st), answer
    status, _, answer = call(url, good, auth)  # JSON instead of a form
    assert status == 400
    assert len(tw.errors) == len(bad) + 1

    tw.errors.clear()
    tw.opt_out("+33622222222")
    status, _, answer = call(url, dict(good, To="+33622222222"), auth, form=True)
    assert status == 400 and answer == {
        "code": 21610, "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}
    assert tw.errors == []


# -- faults ---------------------------------------------------------------------------------


def test_faults_500_429_and_hang(fakes):
    m = fakes(P.FakeMessenger)
    url = f"{m.api_base}/v25.0/me/messages?access_token={m.page_token}"
    good = {"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"text": "x"}}
    m.fail_next(2)
    m.throttle_next(1, retry_after=3)
    statuses = []
    for _ in range(4):
        status, headers, body = call(url, good)
        statuses.append(status)
        if status == 429:
            assert headers["Retry-After"] == "3"
        if status == 500:
            assert body["error"]["is_transient"] is True
    assert statuses == [500, 500, 429, 200]
    assert [r["fault"] for r in m.snapshot()] == ["500", "500", "429", None]
    assert m.errors == [] and len(m.sent()) == 1

    # a malformed request is refused for its form, and does not use up a fault
    m.fail_next(1)
    assert call(url, {"recipient": {"id": "1"}})[0] == 400
    assert call(url, good)[0] == 500
    m.errors.clear()

    m.hang_next(1, seconds=0.5)
    t0 = time.monotonic()
    assert call(url, good)[0] == 500
    assert time.monotonic() - t0 >= 0.45
    # palabre gives up (timeout) before the answer: the fake records it, then carries on
    m.hang_next(1, seconds=1.0)
    with pytest.raises(OSError):
        call(url, good, timeout=0.3)
    assert m.snapshot()[-1]["fault"] == "hang"
    time.sleep(0.8)
    assert call(url, good)[0] == 200

    t = fakes(P.FakeTelegram)
    t.throttle_next(1, retry_after=2)
    status, headers, body = call(f"{t.api_base}/bot{t.bot_token}/sendMessage",
                                 {"chat_id": 1, "text": "x"})
    assert status == 429 and "Retry-After" not in headers
    assert body == {"ok": False, "error_code": 429, "description":
                    "Too Many Requests: retry after 2", "parameters": {"retry_after": 2}}

    x = fakes(P.FakeX)
    x.throttle_next(1, retry_after=1)
    status, headers, body = call(f"{x.api_base}/2/tweets", {"text": "x"},
                                 {"Authorization": f"Bearer {x.access_token}"})
    assert status == 429 and headers["Retry-After"] == "1"
    assert int(headers["x-rate-limit-reset"]) >= time.time() + 1 - 0.01
    x.retry_after_header = False  # as X itself: only its reset time
    x.throttle_next(1, retry_after=1)
    status, headers, body = call(f"{x.api_base}/2/tweets", {"text": "x"},
                                 {"Authorization": f"Bearer {x.access_token}"})
    assert status == 429 and "Retry-After" not in headers and headers["x-rate-limit-reset"]
    assert body["status"] == 429 and body["title"] == "Too Many Requests"


def test_wait_requests_times_out_with_a_message(fakes):
    w = fakes(P.FakeWhatsApp)
    t0 = time.monotonic()
    with pytest.raises(AssertionError, match="0 requests after 0.2 s"):
        w.wait_requests(1, timeout=0.2)
    assert time.monotonic() - t0 < 2
    assert w.wait_requests(1, timeout=0.1, check=False) == []


def test_a_hanging_answer_does_not_hold_stop(fakes):
    tw = P.FakeTwilio().start()
    tw.hang_next(1, seconds=30)
    url = f"{tw.api_base}/2010-04-01/Accounts/{tw.account_sid}/Messages.json"
    with pytest.raises(OSError):
        call(url, {"To": "+33611111111", "From": tw.from_number, "Body": "x"},
             {"Authorization": "Basic " + base64.b64encode(
                 f"{tw.account_sid}:{tw.auth_token}".encode()).decode()}, form=True, timeout=0.3)
    t0 = time.monotonic()
    tw.stop()
    assert time.monotonic() - t0 < 5
