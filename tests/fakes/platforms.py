"""Fake messaging platforms for palabre's end-to-end tests (stdlib only).

The facts come from /work/shared/CHANNELS.md (the platforms' own documents);
where a detail below goes beyond it (an error body's exact form, a limit),
it is the platform's documented behaviour as far as we know it, and the
comment says so.

Each fake is an HTTP server on 127.0.0.1:<free port>, in a thread, that
speaks one platform's SEND API:

    FakeMessenger  POST /v25.0/me/messages?access_token=PAGE_TOKEN
    FakeWhatsApp   POST /v25.0/<PHONE_NUMBER_ID>/messages  (Bearer)
    FakeTelegram   POST /bot<TOKEN>/sendMessage (and answerCallbackQuery)
    FakeX          POST /2/tweets, POST /2/dm_conversations/with/<id>/messages (Bearer)
    FakeTwilio     POST /2010-04-01/Accounts/<SID>/Messages.json (Basic auth, form)

Every request is recorded (fake.requests, a list of dicts: method, path,
query, headers (lower-case names), raw, body (parsed JSON or form), at
(time.monotonic()), wall (time.time()), status, answer, fault, violations)
and CHECKED: a request the real platform would refuse for its format is
answered as the platform answers it (4xx, the platform's error body) and
the reason is appended to fake.errors, which tests assert empty. Refusals
that are the platform's normal behaviour (an opted-out number, a WhatsApp
user outside the 24 h window) are answered the same way but are not
format errors: they are not in fake.errors.

Fault injection (any fake): fail_next(n, status=500), throttle_next(n,
retry_after=S) (429, Retry-After: S; Telegram in its body form),
hang_next(n, seconds) (the answer comes after `seconds`; palabre's send
timeout is 10 s). A fault applies to the next well-formed requests, in
order. wait_requests(k) / wait_sent(k) / wait_for(predicate) wait with a
timeout.

Webhook builders (messenger_event, whatsapp_message, whatsapp_status,
telegram_update, x_tweet, x_retweet, x_dm, twilio_sms) return a Webhook
(method, query, body bytes, headers) signed exactly as the platform signs;
deliver(base_url, bot, channel, hook) POSTs it to palabre's
/webhooks/{bot}/{channel} and returns an Answer (status, headers, body).
"""
import base64
import collections
import hashlib
import hmac
import json
import math
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = [
    "Answer", "FakeMessenger", "FakeWhatsApp", "FakeTelegram", "FakeX", "FakeTwilio",
    "FakePlatform", "Webhook", "deliver", "handshake", "meta_signature", "messenger_item",
    "messenger_event", "messenger_message", "messenger_postback", "meta_verify_query",
    "whatsapp_message", "whatsapp_status", "telegram_update", "x_signature",
    "x_crc_expected", "x_tweet_object", "x_tweet", "x_tweets", "x_retweet", "x_dm",
    "twilio_signature", "twilio_sms", "webhook_path",
]

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


def _now_ms():
    return int(time.time() * 1000)


class Refusal(Exception):
    """An answer other than success. violation: palabre sent something the
    platform refuses for its form (recorded in fake.errors)."""

    def __init__(self, status, body, reason, violation=True, headers=None):
        super().__init__(reason)
        self.status = status
        self.body = body
        self.reason = reason
        self.violation = violation
        self.headers = headers or {}


# -- the HTTP server shared by the fakes ----------------------------------------


class FakePlatform:
    """Base of the fakes: the server, the records, the faults."""

    name = "platform"
    retry_after_header = True  # 429 faults carry Retry-After

    def __init__(self, port=None):
        self.port = port or 0
        self.requests = []
        self.errors = []
        self.lock = threading.Lock()
        self._faults = collections.deque()
        self._stopping = threading.Event()
        self._n = 0
        self.httpd = None
        self.thread = None

    # -- life ---------------------------------------------------------------
    @property
    def api_base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the platforms
            disable_nagle_algorithm = True

            def _serve(self):
                fake._serve(self)

            do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

            def log_message(self, fmt, *args):
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address):
                # palabre gone (killed, timed out) in the middle of an answer
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self._stopping.clear()
        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True,
                                       name=f"fake-{self.name}")
        self.thread.start()
        return self

    def stop(self):
        """Stops serving (the port stays this fake's: start() again reuses it).
        Hanging answers are cut short."""
        self._stopping.set()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
        self.httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- faults ---------------------------------------------------------------
    def fail_next(self, n=1, status=500):
        """The next n well-formed requests are answered `status` (5xx) with
        the platform's error body."""
        with self.lock:
            self._faults.extend([("status", status)] * n)

    def throttle_next(self, n=1, retry_after=1):
        """The next n well-formed requests are answered 429 with Retry-After
        (Telegram: parameters.retry_after in the body)."""
        with self.lock:
            self._faults.extend([("429", retry_after)] * n)

    def hang_next(self, n=1, seconds=12.0, then=500):
        """The next n well-formed requests are answered only after `seconds`
        (then with status `then`): longer than palabre's 10 s send timeout
        by default."""
        with self.lock:
            self._faults.extend([("hang", (seconds, then))] * n)

    def clear_faults(self):
        with self.lock:
            self._faults.clear()

    # -- inspection -------------------------------------------------------------
    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def sent(self):
        """The requests the platform accepted (2xx): what the customer got."""
        return [r for r in self.snapshot() if 200 <= r["status"] < 300]

    def wait_for(self, predicate, timeout=10, interval=0.02):
        """Waits until predicate(list of records) is true; returns the records
        (whatever they are at the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.snapshot()
            if predicate(records) or time.monotonic() > deadline:
                return records
            time.sleep(interval)

    def wait_requests(self, k, timeout=10, check=True):
        """Waits until k requests were recorded; AssertionError on timeout
        (check=False: returns what there is)."""
        records = self.wait_for(lambda r: len(r) >= k, timeout)
        if check and len(records) < k:
            raise AssertionError(f"{self.name}: {len(records)} requests after {timeout} s, "
                                 f"expected {k}; errors: {self.errors[:3]}")
        return records

    def wait_sent(self, k, timeout=10, check=True):
        """Waits until k requests were accepted (2xx)."""
        records = self.wait_for(lambda r: sum(200 <= x["status"] < 300 for x in r) >= k,
                                timeout)
        accepted = [r for r in records if 200 <= r["status"] < 300]
        if check and len(accepted) < k:
            raise AssertionError(
                f"{self.name}: {len(accepted)} sends accepted after {timeout} s, expected {k} "
                f"({len(records)} requests, statuses "
                f"{collections.Counter(r['status'] for r in records)}); errors: {self.errors[:3]}")
        return accepted

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.errors.clear()
            self._faults.clear()

    def next_id(self):
        with self.lock:
            self._n += 1
            return self._n

    # -- per platform (overridden) ---------------------------------------------------
    def check(self, record):
        """Raises Refusal when the request is not one the platform accepts
        (form, credentials)."""
        raise Refusal(404, {"error": "not found"}, f"unknown path {record['path']}")

    def accept(self, record):
        """The platform's answer to a well-formed request: (status, body,
        headers); may raise Refusal(violation=False) for the platform's own
        refusals (opted out, window closed)."""
        raise NotImplementedError

    def fault_answer(self, status):
        return status, {"error": "fault"}, {}

    def throttle_answer(self, retry_after):
        return 429, {"error": "too many requests"}, {}

    # -- the request ---------------------------------------------------------------------
    def _serve(self, h):
        split = urllib.parse.urlsplit(h.path)
        raw = _read_body(h)
        headers = {k.lower(): v for k, v in h.headers.items()}
        record = {
            "method": h.command, "path": split.path, "raw_query": split.query,
            "query": dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True)),
            "headers": headers, "raw": raw, "body": None, "at": time.monotonic(),
            "wall": time.time(), "status": None, "answer": None, "fault": None,
            "violations": [],
        }
        hang = None
        try:
            self.check(record)
            with self.lock:
                fault = self._faults.popleft() if self._faults else None
            if fault is None:
                status, body, extra = self.accept(record)
            elif fault[0] == "status":
                record["fault"] = str(fault[1])
                status, body, extra = self.fault_answer(fault[1])
            elif fault[0] == "429":
                record["fault"] = "429"
                status, body, extra = self.throttle_answer(fault[1])
                if self.retry_after_header:
                    extra = dict(extra, **{"Retry-After": str(fault[1])})
            else:
                record["fault"] = "hang"
                hang = fault[1][0]
                status, body, extra = self.fault_answer(fault[1][1])
        except Refusal as r:
            status, body, extra = r.status, r.body, r.headers
            if r.violation:
                record["violations"].append(r.reason)
            else:
                record["refusal"] = r.reason
        except Exception as e:  # a bug of the fake: make it loud
            status, body, extra = 500, {"fake_error": repr(e)}, {}
            record["violations"].append(f"the fake itself failed: {e!r}")
        record["status"] = status
        record["answer"] = body
        with self.lock:
            self.requests.append(record)
            for v in record["violations"]:
                self.errors.append(f"{self.name} {record['method']} {record['path']}: {v}")
        if hang:
            self._stopping.wait(hang)
        out = json.dumps(body).encode() if not isinstance(body, bytes) else body
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            for k, v in extra.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(out)))
            h.end_headers()
            h.wfile.write(out)
        except OSError:
            pass  # the client gave up (a hang longer than its timeout)

    # -- helpers for check() ---------------------------------------------------------------
    @staticmethod
    def json_body(record, refuse):
        """Parses the body as a JSON object (Content-Type application/json);
        refuse(reason) makes the platform's Refusal."""
        ctype = record["headers"].get("content-type", "")
        if ctype.split(";")[0].strip().lower() != JSON_TYPE:
            raise refuse(f"Content-Type is {ctype!r}, not {JSON_TYPE}")
        try:
            body = json.loads(record["raw"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise refuse(f"body is not JSON: {e}") from None
        if not isinstance(body, dict):
            raise refuse("body is not a JSON object")
        record["body"] = body
        return body

    @staticmethod
    def bearer(record):
        auth = record["headers"].get("authorization", "")
        return auth[7:] if auth[:7].lower() == "bearer " else None


def _read_body(h):
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n > 0 else b""


def _is_str(v, lo=1, hi=None):
    return isinstance(v, str) and len(v) >= lo and (hi is None or len(v) <= hi)


def _only_keys(obj, allowed):
    return [k for k in obj if k not in allowed]


# -- Meta (Messenger, WhatsApp) ---------------------------------------------------------


def meta_error(status, code, message, type_="OAuthException", details=None, transient=None,
               subcode=None):
    """A Graph API error: {"error":{message,type,code,error_subcode,
    error_data,is_transient,fbtrace_id}}."""
    err = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if details is not None:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details} \
            if isinstance(details, str) else details
    if transient is not None:
        err["is_transient"] = transient
    err["fbtrace_id"] = "A" + uuid.uuid4().hex[:22]
    return {"error": err}


class _MetaFake(FakePlatform):
    version_re = re.compile(r"^/(v\d+\.\d+)/")

    def refuse100(self, reason, status=400, code=100):
        return Refusal(status, meta_error(status, code, f"(#{code}) {reason}"), reason)

    def fault_answer(self, status):
        return status, meta_error(status, 2, "An unexpected error has occurred. Please retry "
                                  "your request later.", transient=True), {}

    def throttle_answer(self, retry_after):
        return 429, meta_error(429, 4, "(#4) Application request limit reached",
                               transient=True), {}

    def check_version(self, record):
        m = self.version_re.match(record["path"])
        if not m or m.group(1) != self.version:
            raise Refusal(400, meta_error(400, 2500, "Unknown path components: "
                                          + record["path"]),
                          f"path {record['path']} is not under /{self.version}/")
        if record["method"] != "POST":
            raise Refusal(400, meta_error(400, 100, f"Unsupported {record['method'].lower()} "
                                          "request."), f"method {record['method']}")


class FakeMessenger(_MetaFake):
    """The Messenger Send API (CHANNELS.md §1).

    Checks: POST /v25.0/me/messages; access_token in the query equals the
    page token (else 400 code 190); a JSON object with only recipient,
    messaging_type, tag, message (and notification_type); recipient.id a
    PSID (digits); messaging_type RESPONSE | UPDATE | MESSAGE_TAG, tag
    present exactly with MESSAGE_TAG (HUMAN_AGENT ...); message.text 1 to
    2000 characters; quick_replies 1 to 13, each content_type "text" with a
    title of 1 to 20 characters and a payload of 1 to 1000. Answers 200
    {"recipient_id","message_id":"m_<n>"}.
    """

    name = "messenger"
    TAGS = {"HUMAN_AGENT", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE"}

    def __init__(self, page_token="page-token-0123", app_secret="messenger-app-secret",
                 verify_token="messenger-verify-token", page_id="104000000000001",
                 version="v25.0", port=None):
        super().__init__(port)
        self.page_token = page_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.page_id = page_id
        self.version = version

    def env(self, bot):
        p = f"PALABRE_{bot.upper()}_MESSENGER_"
        return {p + "APP_SECRET": self.app_secret, p + "VERIFY_TOKEN": self.verify_token,
                p + "PAGE_TOKEN": self.page_token, p + "API_BASE": self.api_base}

    def check(self, record):
        self.check_version(record)
        if record["path"] != f"/{self.version}/me/messages":
            raise Refusal(400, meta_error(400, 2500, "Unknown path components"),
                          f"unknown path {record['path']}")
        token = record["query"].get("access_token")
        if token != self.page_token:
            raise Refusal(400, meta_error(400, 190, "Invalid OAuth access token - Cannot "
                                          "parse access token"),
                          f"access_token {token!r} is not the page token")
        body = self.json_body(record, self.refuse100)
        extra = _only_keys(body, {"recipient", "messaging_type", "tag", "message",
                                  "notification_type"})
        if extra:
            raise self.refuse100(f"unknown parameters {extra}")
        rcpt = body.get("recipient")
        if not isinstance(rcpt, dict) or set(rcpt) != {"id"}:
            raise self.refuse100("recipient must be {\"id\": PSID}")
        if not re.fullmatch(r"\d{1,32}", str(rcpt["id"])) or isinstance(rcpt["id"], bool):
            raise self.refuse100(f"recipient.id {rcpt['id']!r} is not a PSID")
        mtype = body.get("messaging_type")
        if mtype not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            raise self.refuse100(f"messaging_type {mtype!r}")
        if mtype == "MESSAGE_TAG":
            if body.get("tag") not in self.TAGS:
                raise self.refuse100(f"tag {body.get('tag')!r} with MESSAGE_TAG")
        elif "tag" in body:
            raise self.refuse100(f"tag {body['tag']!r} without messaging_type MESSAGE_TAG")
        msg = body.get("message")
        if not isinstance(msg, dict):
            raise self.refuse100("message must be an object")
        extra = _only_keys(msg, {"text", "quick_replies", "metadata", "attachment"})
        if extra:
            raise self.refuse100(f"unknown message fields {extra}")
        if "text" not in msg and "attachment" not in msg:
            raise self.refuse100("message must have text or attachment")
        if "text" in msg and not _is_str(msg["text"], 1, 2000):
            raise self.refuse100("message.text must be 1 to 2000 characters, not "
                                 f"{len(msg['text']) if isinstance(msg['text'], str) else msg['text']!r}")
        qrs = msg.get("quick_replies")
        if qrs is not None:
            if not isinstance(qrs, list) or not 1 <= len(qrs) <= 13:
                raise self.refuse100("quick_replies must be a list of 1 to 13")
            for q in qrs:
                if not isinstance(q, dict) or q.get("content_type") != "text":
                    raise self.refuse100(f"quick reply {q!r}: content_type must be text")
                extra = _only_keys(q, {"content_type", "title", "payload", "image_url"})
                if extra:
                    raise self.refuse100(f"quick reply {q!r}: unknown fields {extra}")
                if not _is_str(q.get("title"), 1, 20):
                    raise self.refuse100(f"quick reply title {q.get('title')!r} must be 1 to "
                                         "20 characters")
                if not _is_str(q.get("payload"), 1, 1000):
                    raise self.refuse100(f"quick reply payload {q.get('payload')!r} must be 1 "
                                         "to 1000 characters")

    def accept(self, record):
        return 200, {"recipient_id": str(record["body"]["recipient"]["id"]),
                     "message_id": f"m_{self.next_id()}"}, {}

    # conveniences: this fake's own secrets
    def message(self, psid, text, mid=None, **kw):
        return messenger_message(self.app_secret, psid, text, mid=mid, page_id=self.page_id, **kw)


class FakeWhatsApp(_MetaFake):
    """The WhatsApp Cloud API send endpoint (CHANNELS.md §2).

    Checks: POST /v25.0/<phone_number_id>/messages with the configured phone
    number id; Authorization: Bearer <access token> (else 401 code 190);
    messaging_product "whatsapp", recipient_type "individual" when present,
    to (a wa_id), type text | interactive | template; text.body 1 to 4096
    characters; interactive button: body.text, 1 to 3 reply buttons with
    unique ids and titles of 1 to 20 characters; list: a button label of 1
    to 20, sections with at most 10 rows in all, row titles 1 to 24,
    descriptions up to 72. Answers 200 {"messaging_product","contacts":
    [{"input","wa_id"}],"messages":[{"id":"wamid.<n>"}]}.
    outside_window(wa_id): free-form messages to that user are refused 400
    code 131047 (templates pass).
    """

    name = "whatsapp"

    def __init__(self, access_token="wa-access-token-0123", app_secret="whatsapp-app-secret",
                 verify_token="whatsapp-verify-token", phone_number_id="109000000000002",
                 display_phone_number="33612345678", version="v25.0", port=None):
        super().__init__(port)
        self.access_token = access_token
        self.app_secret = app_secret
        self.verify_token = verify_token
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self.version = version
        self.closed_windows = set()

    def env(self, bot):
        p = f"PALABRE_{bot.upper()}_WHATSAPP_"
        return {p + "APP_SECRET": self.app_secret, p + "VERIFY_TOKEN": self.verify_token,
                p + "ACCESS_TOKEN": self.access_token, p + "PHONE_NUMBER_ID": self.phone_number_id,
                p + "API_BASE": self.api_base}

    def outside_window(self, wa_id, outside=True):
        with self.lock:
            (self.closed_windows.add if outside else self.closed_windows.discard)(str(wa_id))

    def refuse_interactive(self, reason):
        return Refusal(400, meta_error(400, 131009, "(#131009) Parameter value is not valid",
                                       details=reason), reason)

    def refuse100(self, reason, status=400, code=100):
        return Refusal(status, meta_error(status, code, f"(#{code}) Invalid parameter",
                                          details=reason), reason)

    def check(self, record):
        self.check_version(record)
        if record["path"] != f"/{self.version}/{self.phone_number_id}/messages":
            raise Refusal(400, meta_error(400, 100, "Unsupported post request. Object with ID "
                                          "does not exist", type_="GraphMethodException",
                                          subcode=33),
                          f"path {record['path']} is not /{self.version}/"
                          f"{self.phone_number_id}/messages")
        if self.bearer(record) != self.access_token:
            raise Refusal(401, meta_error(401, 190, "Invalid OAuth access token - Cannot parse "
                                          "access token"),
                          f"Authorization {record['headers'].get('authorization')!r}")
        body = self.json_body(record, self.refuse100)
        extra = _only_keys(body, {"messaging_product", "recipient_type", "to", "type", "text",
                                  "interactive", "template", "context", "biz_opaque_callback_data"})
        if extra:
            raise self.refuse100(f"unknown parameters {extra}")
        if body.get("messaging_product") != "whatsapp":
            raise self.refuse100("messaging_product must be whatsapp")
        if body.get("recipient_type", "individual") != "individual":
            raise self.refuse100(f"recipient_type {body.get('recipient_type')!r}")
        if not isinstance(body.get("to"), str) or not re.fullmatch(r"\+?\d{6,20}", body["to"]):
            raise self.refuse100(f"to {body.get('to')!r} is not a phone number / wa_id")
        kind = body.get("type", "text")
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, dict) or _only_keys(text, {"body", "preview_url"}):
                raise self.refuse100(f"text {text!r}")
            if not _is_str(text.get("body"), 1, 4096):
                raise self.refuse100("text.body must be 1 to 4096 characters")
            if "preview_url" in text and not isinstance(text["preview_url"], bool):
                raise self.refuse100("text.preview_url must be a boolean")
        elif kind == "interactive":
            self.check_interactive(body.get("interactive"))
        elif kind == "template":
            t = body.get("template")
            if (not isinstance(t, dict) or not _is_str(t.get("name"), 1, 512)
                    or not isinstance(t.get("language"), dict)
                    or not _is_str(t["language"].get("code"), 2, 10)):
                raise self.refuse100(f"template {t!r}: name and language.code required")
        else:
            raise self.refuse100(f"type {kind!r} is not text, interactive or template")

    def check_interactive(self, it):
        bad = self.refuse_interactive
        if not isinstance(it, dict):
            raise bad("interactive must be an object")
        body = it.get("body")
        if not isinstance(body, dict) or not _is_str(body.get("text"), 1, 4096):
            raise bad("interactive.body.text is required (1 to 4096 characters)")
        action = it.get("action")
        if not isinstance(action, dict):
            raise bad("interactive.action is required")
        for part, hi in (("header", 60), ("footer", 60)):
            if part in it:
                p = it[part]
                text = p.get("text") if isinstance(p, dict) else None
                if not _is_str(text, 1, hi):
                    raise bad(f"interactive.{part}.text must be 1 to {hi} characters")
        if it.get("type") == "button":
            if len(body["text"]) > 1024:
                raise bad("button message body over 1024 characters")
            buttons = action.get("buttons")
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
                raise bad(f"{len(buttons) if isinstance(buttons, list) else buttons!r} buttons: "
                          "1 to 3 reply buttons")
            ids, titles = set(), set()
            for b in buttons:
                reply = b.get("reply") if isinstance(b, dict) else None
                if not isinstance(b, dict) or b.get("type") != "reply" or not isinstance(reply,
                                                                                         dict):
                    raise bad(f"button {b!r}: type reply with reply{{id,title}}")
                if not _is_str(reply.get("id"), 1, 256):
                    raise bad(f"button id {reply.get('id')!r}: 1 to 256 characters")
                if not _is_str(reply.get("title"), 1, 20):
                    raise bad(f"button title {reply.get('title')!r}: 1 to 20 characters")
                if reply["id"] in ids or reply["title"] in titles:
                    raise bad(f"button {reply!r}: ids and titles must be unique")
                ids.add(reply["id"])
                titles.add(reply["title"])
        elif it.get("type") == "list":
            if not _is_str(action.get("button"), 1, 20):
                raise bad(f"list button label {action.get('button')!r}: 1 to 20 characters")
            sections = action.get("sections")
            if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
                raise bad("list: 1 to 10 sections")
            rows = []
            for s in sections:
                if not isinstance(s, dict) or not isinstance(s.get("rows"), list) or not s["rows"]:
                    raise bad(f"section {s!r}: rows required")
                if len(sections) > 1 and not _is_str(s.get("title"), 1, 24):
                    raise bad("several sections: each needs a title of 1 to 24 characters")
                if "title" in s and not _is_str(s["title"], 1, 24):
                    raise bad(f"section title {s['title']!r}: 1 to 24 characters")
                rows += s["rows"]
            if len(rows) > 10:
                raise bad(f"{len(rows)} rows: at most 10 in all")
            ids = set()
            for r in rows:
                if not isinstance(r, dict) or not _is_str(r.get("id"), 1, 200):
                    raise bad(f"row {r!r}: id of 1 to 200 characters")
                if not _is_str(r.get("title"), 1, 24):
                    raise bad(f"row title {r.get('title')!r}: 1 to 24 characters")
                if "description" in r and not _is_str(r["description"], 0, 72):
                    raise bad(f"row description {r['description']!r}: up to 72 characters")
                if r["id"] in ids:
                    raise bad(f"row id {r['id']!r} repeated")
                ids.add(r["id"])
        else:
            raise bad(f"interactive.type {it.get('type')!r} (button or list)")

    def accept(self, record):
        body = record["body"]
        to = body["to"]
        with self.lock:
            closed = to.lstrip("+") in self.closed_windows
        if closed and body.get("type", "text") != "template":
            raise Refusal(400, meta_error(
                400, 131047, "(#131047) Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since "
                        "the customer last replied to this number."),
                "131047 outside the 24 h window", violation=False)
        wa_id = to.lstrip("+")
        return 200, {"messaging_product": "whatsapp",
                     "contacts": [{"input": to, "wa_id": wa_id}],
                     "messages": [{"id": f"wamid.{self.next_id()}"}]}, {}

    def message(self, wa_id, text, wamid=None, **kw):
        return whatsapp_message(self.app_secret, wa_id, text, wamid=wamid,
                                phone_number_id=self.phone_number_id,
                                display_phone_number=self.display_phone_number, **kw)

    def status(self, wamid, status, recipient_id, **kw):
        return whatsapp_status(self.app_secret, wamid, status, recipient_id,
                               phone_number_id=self.phone_number_id,
                               display_phone_number=self.display_phone_number, **kw)


# -- Telegram -------------------------------------------------------------------------------


def telegram_error(code, description, **parameters):
    body = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


class FakeTelegram(FakePlatform):
    """The Telegram Bot API (CHANNELS.md §3).

    Checks: POST /bot<token>/sendMessage with the configured token (else 401
    Unauthorized); a JSON object (Content-Type application/json); chat_id an
    integer or "@channel"; text of 1 to 4096 characters; parse_mode, when
    present, MarkdownV2 | HTML | Markdown; reply_markup (an object, or that
    object as a JSON string) one of keyboard (rows of buttons with a text),
    inline_keyboard (buttons with a text and exactly one action;
    callback_data 1 to 64 bytes), remove_keyboard, force_reply. Answers
    {"ok":true,"result":{message_id,from,chat,date,text}}; errors
    {"ok":false,"error_code":400,"description":"Bad Request: ..."}.
    Also answers answerCallbackQuery (callback_query_id required).
    blocked(chat_id): sends to it are refused 403 "Forbidden: bot was
    blocked by the user".
    429 faults: {"ok":false,"error_code":429,"description":"Too Many
    Requests: retry after N","parameters":{"retry_after":N}}, without a
    Retry-After header unless retry_after_header is set True.
    """

    name = "telegram"
    retry_after_header = False
    SEND_FIELDS = {"chat_id", "text", "parse_mode", "entities", "reply_markup",
                   "disable_notification", "protect_content", "reply_parameters",
                   "link_preview_options", "message_thread_id", "business_connection_id",
                   "disable_web_page_preview", "reply_to_message_id",
                   "allow_sending_without_reply", "message_effect_id"}
    INLINE_ACTIONS = {"url", "callback_data", "web_app", "login_url", "switch_inline_query",
                      "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                      "copy_text", "callback_game", "pay"}

    def __init__(self, bot_token="123456789:AAE-fake-telegram-token_0123456789",
                 secret_token="telegram-secret_0123", bot_id=None, username="stade_bot",
                 port=None):
        super().__init__(port)
        self.bot_token = bot_token
        self.secret_token = secret_token
        self.bot_id = bot_id or int(bot_token.split(":")[0])
        self.username = username
        self.blocked_chats = set()

    def env(self, bot):
        p = f"PALABRE_{bot.upper()}_TELEGRAM_"
        return {p + "BOT_TOKEN": self.bot_token, p + "SECRET_TOKEN": self.secret_token,
                p + "API_BASE": self.api_base}

    def blocked(self, chat_id, blocked=True):
        with self.lock:
            (self.blocked_chats.add if blocked else self.blocked_chats.discard)(str(chat_id))

    @staticmethod
    def bad(reason, description=None):
        return Refusal(400, telegram_error(400, "Bad Request: " + (description or reason)),
                       reason)

    def fault_answer(self, status):
        return status, telegram_error(status, "Internal Server Error"
                                      if status == 500 else "Bad Gateway"), {}

    def throttle_answer(self, retry_after):
        return 429, telegram_error(429, f"Too Many Requests: retry after {retry_after}",
                                   retry_after=retry_after), {}

    def check(self, record):
        m = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", record["path"])
        if not m:
            raise Refusal(404, telegram_error(404, "Not Found"), f"path {record['path']}")
        if m.group(1) != self.bot_token:
            raise Refusal(401, telegram_error(401, "Unauthorized"),
                          f"bot token {m.group(1)!r} is not the bot's")
        method = m.group(2)
        record["api_method"] = method
        if method not in ("sendMessage", "answerCallbackQuery"):
            raise Refusal(404, telegram_error(404, "Not Found: method not found"),
                          f"method {method}")
        if record["method"] != "POST":
            raise Refusal(400, telegram_error(400, "Bad Request: POST expected"),
                          f"HTTP method {record['method']}")
        body = self.json_body(record, lambda reason: self.bad(reason,
                                                              "can't parse JSON request"))
        if method == "answerCallbackQuery":
            if not _is_str(body.get("callback_query_id"), 1):
                raise self.bad("callback_query_id is required", "QUERY_ID_INVALID")
            if "text" in body and not _is_str(body["text"], 0, 200):
                raise self.bad("answerCallbackQuery text over 200 characters")
            return
        extra = _only_keys(body, self.SEND_FIELDS)
        if extra:
            raise self.bad(f"unknown sendMessage parameters {extra}")
        chat = body.get("chat_id")
        if isinstance(chat, bool) or not (
                isinstance(chat, int) or (isinstance(chat, str)
                                          and re.fullmatch(r"-?\d+|@\w{5,32}", chat))):
            raise self.bad(f"chat_id {chat!r}", "chat not found")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise self.bad(f"text {text!r}", "message text is empty")
        # Telegram counts UTF-16 code units ("1-4096 characters after entities parsing")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise self.bad(f"text of {len(text)} characters", "message is too long")
        if "parse_mode" in body and body["parse_mode"] not in ("MarkdownV2", "HTML", "Markdown"):
            raise self.bad(f"parse_mode {body['parse_mode']!r}", "unsupported parse_mode")
        if "reply_markup" in body:
            self.check_markup(body["reply_markup"])

    def check_markup(self, markup):
        bad = lambda reason: self.bad(reason, "can't parse reply keyboard markup JSON object")  # noqa: E731
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise bad("reply_markup is not JSON") from None
        if not isinstance(markup, dict):
            raise bad("reply_markup must be an object")
        kinds = [k for k in ("keyboard", "inline_keyboard", "remove_keyboard", "force_reply")
                 if k in markup]
        if len(kinds) != 1:
            raise bad(f"reply_markup must have exactly one of keyboard, inline_keyboard, "
                      f"remove_keyboard, force_reply: {sorted(markup)}")
        kind = kinds[0]
        if kind in ("remove_keyboard", "force_reply"):
            if markup[kind] is not True:
                raise bad(f"{kind} must be true")
            return
        rows = markup[kind]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad(f"{kind} must be an array of arrays of buttons")
        if not any(rows):
            raise bad(f"{kind} has no button")
        for row in rows:
            for b in row:
                if kind == "keyboard":
                    if isinstance(b, str):
                        b = {"text": b}
                    if not isinstance(b, dict) or not _is_str(b.get("text"), 1):
                        raise self.bad(f"keyboard button {b!r}", "keyboard button text is empty")
                    continue
                if not isinstance(b, dict) or not _is_str(b.get("text"), 1):
                    raise self.bad(f"inline button {b!r}", "text buttons are unallowed in the "
                                   "inline keyboard")
                actions = [a for a in self.INLINE_ACTIONS if a in b]
                if len(actions) != 1:
                    raise self.bad(f"inline button {b!r}: exactly one action",
                                   "can't parse inline keyboard button: Text buttons are "
                                   "unallowed in the inline keyboard")
                if "callback_data" in b:
                    data = b["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                        raise self.bad(f"callback_data {data!r}: 1 to 64 bytes",
                                       "BUTTON_DATA_INVALID")
        if kind == "keyboard":
            for flag in ("resize_keyboard", "one_time_keyboard", "is_persistent", "selective"):
                if flag in markup and not isinstance(markup[flag], bool):
                    raise bad(f"{flag} must be a boolean")

    def accept(self, record):
        body = record["body"]
        if record["api_method"] == "answerCallbackQuery":
            return 200, {"ok": True, "result": True}, {}
        chat = body["chat_id"]
        with self.lock:
            blocked = str(chat) in self.blocked_chats
        if blocked:
            raise Refusal(403, telegram_error(403, "Forbidden: bot was blocked by the user"),
                          "blocked", violation=False)
        chat_id = int(chat) if isinstance(chat, str) and chat.lstrip("-").isdigit() else chat
        return 200, {"ok": True, "result": {
            "message_id": self.next_id(),
            "from": {"id": self.bot_id, "is_bot": True, "first_name": self.username,
                     "username": self.username},
            "chat": {"id": chat_id, "type": "private"},
            "date": int(time.time()), "text": body["text"]}}, {}

    def sends(self):
        """The accepted sendMessage requests."""
        return [r for r in self.sent() if r.get("api_method") == "sendMessage"]

    def update(self, update_id, chat_id, text=None, **kw):
        return telegram_update(self.secret_token, update_id, chat_id, text=text, **kw)


# -- X -----------------------------------------------------------------------------------------


def x_problem(status, title, detail, type_="about:blank", errors=None):
    body = {"title": title, "detail": detail, "type": type_, "status": status}
    if errors:
        body["errors"] = errors
    return body


class FakeX(FakePlatform):
    """The X API v2 (CHANNELS.md §4).

    Checks: Authorization: Bearer <access token> (else 401); POST /2/tweets
    with a JSON object of known fields: text of 1 to 280 code points (else
    403 "Your Tweet text is too long"), reply.in_reply_to_tweet_id a tweet
    id (digits); POST /2/dm_conversations/with/<participant_id>/messages
    with {"text"} (1 to 10000 characters), never to the account itself.
    Answers 201 {"data":{"id","text"}} and 201 {"data":{"dm_conversation_id",
    "dm_event_id"}}. 429 faults carry Retry-After and x-rate-limit-reset.
    reject_duplicates=True: a tweet with the same text as an earlier one is
    refused 403 "duplicate content", as X does (off by default).
    retry_after_header=False: 429 faults carry only x-rate-limit-reset.
    """

    name = "x"
    TWEET_FIELDS = {"text", "reply", "quote_tweet_id", "media", "poll", "reply_settings",
                    "for_super_followers_only", "direct_message_deep_link", "geo", "nullcast",
                    "card_uri", "community_id", "made_with_ai", "paid_partnership",
                    "share_with_followers"}
    REPLY_FIELDS = {"in_reply_to_tweet_id", "exclude_reply_user_ids",
                    "auto_populate_reply_metadata"}

    def __init__(self, access_token="x-access-token-0123", consumer_secret="x-consumer-secret-0123",
                 user_id="1500000000000000001", screen_name="monresultat", hashtag=None,
                 reject_duplicates=False, port=None):
        super().__init__(port)
        self.access_token = access_token
        self.consumer_secret = consumer_secret
        self.user_id = str(user_id)
        self.screen_name = screen_name
        self.hashtag = hashtag
        self.reject_duplicates = reject_duplicates
        self._texts = set()
        self._tweet_id = 1800000000000000000

    def env(self, bot):
        p = f"PALABRE_{bot.upper()}_X_"
        env = {p + "CONSUMER_SECRET": self.consumer_secret, p + "ACCESS_TOKEN": self.access_token,
               p + "USER_ID": self.user_id, p + "API_BASE": self.api_base}
        if self.hashtag:
            env[p + "HASHTAG"] = self.hashtag
        return env

    @staticmethod
    def invalid(reason, parameter="text"):
        return Refusal(400, x_problem(
            400, "Invalid Request", "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
            errors=[{"parameters": {parameter: []}, "message": reason}]), reason)

    def fault_answer(self, status):
        return status, x_problem(status, "Service Unavailable" if status == 503
                                 else "Internal Server Error", "Something went wrong"), {}

    def throttle_answer(self, retry_after):
        # X's own rate-limit answer names the reset time (epoch seconds); the
        # fake adds Retry-After too unless retry_after_header is False
        reset = math.ceil(time.time()) + math.ceil(retry_after)
        return 429, x_problem(429, "Too Many Requests", "Too Many Requests"), {
            "x-rate-limit-limit": "300", "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset)}

    def check(self, record):
        if self.bearer(record) != self.access_token:
            raise Refusal(401, x_problem(401, "Unauthorized", "Unauthorized"),
                          f"Authorization {record['headers'].get('authorization')!r}")
        path = record["path"]
        dm = re.fullmatch(r"/2/dm_conversations/with/([^/]+)/messages", path)
        if path == "/2/tweets":
            record["kind"] = "tweet"
        elif dm:
            record["kind"] = "dm"
            record["participant_id"] = dm.group(1)
        else:
            raise Refusal(404, x_problem(404, "Not Found Error", f"{path} not found",
                                         "https://api.twitter.com/2/problems/resource-not-found"),
                          f"unknown path {path}")
        if record["method"] != "POST":
            raise Refusal(405, x_problem(405, "Method Not Allowed", record["method"]),
                          f"method {record['method']}")
        body = self.json_body(record, self.invalid)
        if record["kind"] == "tweet":
            extra = _only_keys(body, self.TWEET_FIELDS)
            if extra:
                raise self.invalid(f"{extra} is not one of {sorted(self.TWEET_FIELDS)}")
            text = body.get("text")
            if not isinstance(text, str) or (not text and "media" not in body):
                raise self.invalid(f"text {text!r}")
            if len(text) > 280:
                raise Refusal(403, x_problem(
                    403, "Forbidden", "Your Tweet text is too long. For more information on how "
                    "Twitter determines text length see https://github.com/twitter/twitter-text."),
                    f"tweet of {len(text)} code points (> 280)")
            reply = body.get("reply")
            if reply is not None:
                if not isinstance(reply, dict) or _only_keys(reply, self.REPLY_FIELDS):
                    raise self.invalid(f"reply {reply!r}", "reply")
                rid = reply.get("in_reply_to_tweet_id")
                if not isinstance(rid, str) or not re.fullmatch(r"\d{1,19}", rid):
                    raise self.invalid(f"reply.in_reply_to_tweet_id {rid!r} is not a tweet id "
                                       "(a string of digits)", "reply.in_reply_to_tweet_id")
        else:
            pid = record["participant_id"]
            if not re.fullmatch(r"\d{1,19}", pid):
                raise self.invalid(f"participant_id {pid!r}", "participant_id")
            if pid == self.user_id:
                raise Refusal(403, x_problem(403, "Forbidden", "You cannot send a DM to "
                                             "yourself"), "DM to the account itself")
            extra = _only_keys(body, {"text", "attachments"})
            if extra:
                raise self.invalid(f"unknown DM fields {extra}")
            if not _is_str(body.get("text"), 1, 10000):
                raise self.invalid(f"DM text {body.get('text')!r}: 1 to 10000 characters")

    def accept(self, record):
        body = record["body"]
        if record["kind"] == "dm":
            a, b = sorted([self.user_id, record["participant_id"]], key=int)
            return 201, {"data": {"dm_conversation_id": f"{a}-{b}",
                                  "dm_event_id": str(1900000000000000000 + self.next_id())}}, {}
        if self.reject_duplicates:
            with self.lock:
                dup = body["text"] in self._texts
                self._texts.add(body["text"])
            if dup:
                raise Refusal(403, x_problem(403, "Forbidden", "You are not allowed to create a "
                                             "Tweet with duplicate content."),
                              "duplicate content", violation=False)
        tid = str(self._tweet_id + self.next_id())
        return 201, {"data": {"id": tid, "text": body["text"],
                              "edit_history_tweet_ids": [tid]}}, {}

    def tweets(self):
        return [r for r in self.sent() if r.get("kind") == "tweet"]

    def dms(self):
        return [r for r in self.sent() if r.get("kind") == "dm"]

    # conveniences with this fake's secret and account
    def tweet(self, tweet_id, user_id, screen_name, text, **kw):
        return x_tweet(self.consumer_secret, self.user_id, tweet_id, user_id, screen_name, text,
                       **kw)

    def bot_tweet(self, tweet_id, text, **kw):
        """A tweet object by the bot's own account (for echoes and retweets)."""
        return x_tweet_object(tweet_id, self.user_id, self.screen_name, text, **kw)

    def dm(self, event_id, sender_id, text, **kw):
        recipient = kw.pop("recipient_id", self.user_id if sender_id != self.user_id else "1")
        return x_dm(self.consumer_secret, self.user_id, event_id, sender_id, recipient, text, **kw)


# -- Twilio -------------------------------------------------------------------------------------


def twilio_error(status, code, message):
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


class FakeTwilio(FakePlatform):
    """Twilio's Messages resource (CHANNELS.md §5).

    Checks: POST /2010-04-01/Accounts/<AccountSid>/Messages.json; HTTP Basic
    auth AccountSid:AuthToken with the path's AccountSid (else 401 code
    20003); a form body (application/x-www-form-urlencoded) with To in E.164
    (21211), From equal to one of the account's numbers (21606) or a
    MessagingServiceSid MG<32 hex> (one of them: 21603), Body of 1 to 1600
    characters (21602, 21617). Answers 201 {"sid":"SM<32 hex>","status":
    "queued",...}. opt_out(number): sends to it are refused 400 code 21610
    "Attempt to send to unsubscribed recipient".
    """

    name = "twilio"
    FIELDS = {"To", "From", "MessagingServiceSid", "Body", "MediaUrl", "StatusCallback",
              "ApplicationSid", "MaxPrice", "ProvideFeedback", "Attempt", "ValidityPeriod",
              "ForceDelivery", "ContentRetention", "AddressRetention", "SmartEncoded",
              "PersistentAction", "ShortenUrls", "ScheduleType", "SendAt", "SendAsMms",
              "ContentSid", "ContentVariables", "RiskCheck"}

    def __init__(self, account_sid="AC" + "0123456789abcdef" * 2, auth_token="twilio-auth-0123",
                 from_number="+15005550006", port=None):
        super().__init__(port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.numbers = {from_number}
        self.opted_out = set()

    def env(self, bot, public_url):
        p = f"PALABRE_{bot.upper()}_TWILIO_"
        return {p + "ACCOUNT_SID": self.account_sid, p + "AUTH_TOKEN": self.auth_token,
                p + "FROM": self.from_number, p + "API_BASE": self.api_base,
                p + "PUBLIC_URL": public_url}

    def opt_out(self, number, out=True):
        with self.lock:
            (self.opted_out.add if out else self.opted_out.discard)(number)

    @staticmethod
    def bad(code, message, status=400):
        return Refusal(status, twilio_error(status, code, message), f"{code} {message}")

    def fault_answer(self, status):
        return status, twilio_error(status, 20500, "Internal Server Error"), {}

    def throttle_answer(self, retry_after):
        return 429, twilio_error(429, 20429, "Too Many Requests"), {}

    def check(self, record):
        m = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/Messages\.json", record["path"])
        if not m:
            raise Refusal(404, twilio_error(404, 20404, "The requested resource "
                                            f"{record['path']} was not found"),
                          f"unknown path {record['path']}")
        auth = record["headers"].get("authorization", "")
        user = password = None
        if auth[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(auth[6:], validate=True).decode() \
                    .partition(":")
            except (ValueError, UnicodeDecodeError):
                pass
        if (user, password) != (self.account_sid, self.auth_token) or \
                m.group(1) != self.account_sid:
            raise Refusal(401, twilio_error(401, 20003, "Authenticate"),
                          f"Basic auth {user!r} / path account {m.group(1)!r}")
        if record["method"] != "POST":
            raise Refusal(405, twilio_error(405, 20004, "Method not allowed"),
                          f"method {record['method']}")
        ctype = record["headers"].get("content-type", "").split(";")[0].strip().lower()
        if ctype != FORM_TYPE:
            raise self.bad(21602, f"Message body is required (Content-Type {ctype!r}, not "
                           f"{FORM_TYPE})")
        try:
            pairs = urllib.parse.parse_qsl(record["raw"].decode("utf-8"), keep_blank_values=True,
                                           strict_parsing=bool(record["raw"]))
        except (UnicodeDecodeError, ValueError) as e:
            raise self.bad(21602, f"Message body is required (form not parsed: {e})") from None
        form = {}
        for k, v in pairs:
            if k in form and k != "MediaUrl":
                raise self.bad(20001, f"parameter {k} given twice")
            form[k] = v
        record["body"] = form
        extra = _only_keys(form, self.FIELDS)
        if extra:
            raise self.bad(20001, f"unknown parameters {extra}")
        to = form.get("To")
        if not to or not re.fullmatch(r"\+[1-9]\d{1,14}", to):
            raise self.bad(21211, f"Invalid 'To' Phone Number: {to!r}")
        if "From" in form:
            if form["From"] not in self.numbers:
                raise self.bad(21606, f"The From phone number {form['From']} is not a valid, "
                               "SMS-capable inbound phone number or short code for your account.")
        elif "MessagingServiceSid" in form:
            if not re.fullmatch(r"MG[0-9a-f]{32}", form["MessagingServiceSid"]):
                raise self.bad(21701, "The Messaging Service Sid is invalid")
        else:
            raise self.bad(21603, "A 'From' or 'MessagingServiceSid' parameter is required to "
                           "send a message")
        body = form.get("Body")
        if not body and "MediaUrl" not in form:
            raise self.bad(21602, "Message body is required.")
        if body and len(body) > 1600:
            raise self.bad(21617, "The concatenated message body exceeds the 1600 character "
                           "limit.")

    def accept(self, record):
        form = record["body"]
        with self.lock:
            out = form["To"] in self.opted_out
        if out:
            raise Refusal(400, twilio_error(400, 21610, "Attempt to send to unsubscribed "
                                            "recipient"), "21610 opted out", violation=False)
        sid = "SM" + uuid.uuid4().hex
        self.next_id()
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        body = form.get("Body", "")
        return 201, {
            "sid": sid, "account_sid": self.account_sid, "to": form["To"],
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": body, "status": "queued", "direction": "outbound-api",
            "num_segments": str(max(1, -(-len(body) // 153))), "num_media": "0",
            "date_created": now, "date_updated": now, "date_sent": None, "price": None,
            "price_unit": "USD", "error_code": None, "error_message": None, "api_version":
            "2010-04-01", "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/"
                                          f"{sid}/Media.json"}}, {}

    def sms(self, url, from_, body, message_sid=None, **kw):
        return twilio_sms(self.auth_token, url, from_, self.from_number, body,
                          message_sid=message_sid, account_sid=self.account_sid, **kw)


# -- webhooks: what the platforms POST to palabre ---------------------------------------------


class Webhook:
    """A request as the platform makes it: method, query string (without
    "?"), body bytes, headers."""

    def __init__(self, body=b"", headers=None, query="", method="POST"):
        self.method = method
        self.query = query
        self.body = body
        self.headers = headers or {}

    @property
    def path_suffix(self):
        return f"?{self.query}" if self.query else ""

    def with_headers(self, **changes):
        """A copy with headers changed (a value None removes it); names with
        '_' for '-' (X_Hub_Signature_256=...)."""
        headers = dict(self.headers)
        for k, v in changes.items():
            name = next((h for h in headers if h.lower() == k.replace("_", "-").lower()),
                        k.replace("_", "-"))
            if v is None:
                headers.pop(name, None)
            else:
                headers[name] = v
        return Webhook(self.body, headers, self.query, self.method)

    def with_body(self, body):
        """The same headers (so the signature no longer matches) over another body."""
        return Webhook(body, dict(self.headers), self.query, self.method)

    def __repr__(self):
        return f"Webhook({self.method} ?{self.query} {self.body[:80]!r}...)"


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Answer({self.status}, {self.body[:200]!r})"


def webhook_path(bot, channel):
    return f"/webhooks/{bot}/{channel}"


def _http(method, url, body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Answer(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


def deliver(base_url, bot, channel, hook, timeout=10):
    """POSTs (or GETs) a Webhook to palabre's /webhooks/{bot}/{channel};
    base_url is "http://127.0.0.1:PORT" (PalabreServer.url). Raises OSError
    when palabre does not answer."""
    url = base_url + webhook_path(bot, channel) + hook.path_suffix
    return _http(hook.method, url, hook.body if hook.method != "GET" else None,
                 hook.headers, timeout)


def handshake(base_url, bot, channel, params, timeout=10):
    """GET /webhooks/{bot}/{channel}?params (a dict or query string)."""
    query = params if isinstance(params, str) else urllib.parse.urlencode(params)
    return _http("GET", base_url + webhook_path(bot, channel) + "?" + query, timeout=timeout)


# Meta (Messenger and WhatsApp)

def meta_signature(app_secret, body):
    """X-Hub-Signature-256: "sha256=" + lower-case hex HMAC-SHA256(app secret, raw body)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _meta_json(obj):
    # Meta sends compact JSON with non-ASCII escaped as \uXXXX
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()


def _meta_hook(app_secret, payload):
    body = _meta_json(payload)
    return Webhook(body, {"Content-Type": JSON_TYPE,
                          "X-Hub-Signature-256": meta_signature(app_secret, body),
                          "User-Agent": "facebookexternalua"})


def meta_verify_query(verify_token, challenge, mode="subscribe"):
    return urllib.parse.urlencode({"hub.mode": mode, "hub.verify_token": verify_token,
                                   "hub.challenge": challenge})


def messenger_item(psid, text=None, mid=None, page_id="104000000000001", quick_reply=None,
                   is_echo=False, postback=None, timestamp=None, app_id=None):
    """One messaging[] item: a message (text, quick_reply payload), an echo
    (is_echo: sender = the page, recipient = psid) or a postback ({"title",
    "payload"})."""
    ts = timestamp if timestamp is not None else _now_ms()
    mid = mid or f"m_{uuid.uuid4().hex}"
    sender, recipient = (page_id, psid) if is_echo else (psid, page_id)
    item = {"sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ts}
    if postback is not None:
        item["postback"] = dict({"mid": mid}, **postback)
        return item
    message = {"mid": mid}
    if is_echo:
        message.update({"is_echo": True, "app_id": app_id or 1517776481860111})
    if text is not None:
        message["text"] = text
    if quick_reply is not None:
        message["quick_reply"] = {"payload": quick_reply}
    item["message"] = message
    return item


def messenger_event(app_secret, items, page_id="104000000000001", entries=None):
    """A signed Messenger webhook: object "page", one entry with `items`
    (or `entries`: a list of lists of items, one entry each)."""
    groups = entries if entries is not None else [items]
    now = _now_ms()
    payload = {"object": "page",
               "entry": [{"id": page_id, "time": now, "messaging": g} for g in groups]}
    return _meta_hook(app_secret, payload)


def messenger_message(app_secret, psid, text, mid=None, page_id="104000000000001", **kw):
    return messenger_event(app_secret, [messenger_item(psid, text, mid, page_id, **kw)], page_id)


def messenger_postback(app_secret, psid, payload, title=None, mid=None,
                       page_id="104000000000001"):
    item = messenger_item(psid, mid=mid, page_id=page_id,
                          postback={"title": title or payload, "payload": payload})
    return messenger_event(app_secret, [item], page_id)


def _wa_envelope(phone_number_id, display_phone_number, value):
    value = dict({"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": display_phone_number,
                               "phone_number_id": phone_number_id}}, **value)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398",
                       "changes": [{"value": value, "field": "messages"}]}]}


def whatsapp_message(app_secret, wa_id, text=None, wamid=None, phone_number_id="109000000000002",
                     display_phone_number="33612345678", timestamp=None, name="Client",
                     button_reply=None, list_reply=None, context=None):
    """A signed WhatsApp inbound message. timestamp: unix seconds (default
    now); button_reply / list_reply: (id, title) for an interactive answer."""
    wamid = wamid or "wamid." + base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    ts = str(int(timestamp if timestamp is not None else time.time()))
    msg = {"from": wa_id, "id": wamid, "timestamp": ts}
    if button_reply or list_reply:
        kind, (rid, title) = (("button_reply", button_reply) if button_reply
                              else ("list_reply", list_reply))
        msg["type"] = "interactive"
        msg["interactive"] = {"type": kind, kind: {"id": rid, "title": title}}
    else:
        msg["type"] = "text"
        msg["text"] = {"body": text}
    if context:
        msg["context"] = context
    value = {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [msg]}
    return _meta_hook(app_secret, _wa_envelope(phone_number_id, display_phone_number, value))


def whatsapp_status(app_secret, wamid, status, recipient_id, phone_number_id="109000000000002",
                    display_phone_number="33612345678", timestamp=None, errors=None):
    """A signed WhatsApp status (receipt) of our outbound message wamid."""
    st = {"id": wamid, "status": status,
          "timestamp": str(int(timestamp if timestamp is not None else time.time())),
          "recipient_id": recipient_id}
    if status in ("sent", "delivered"):
        st["conversation"] = {"id": uuid.uuid4().hex, "origin": {"type": "service"}}
        st["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "service"}
    if errors:
        st["errors"] = errors
    return _meta_hook(app_secret, _wa_envelope(phone_number_id, display_phone_number,
                                               {"statuses": [st]}))


# Telegram

def telegram_update(secret_token, update_id, chat_id, text=None, callback_data=None,
                    message_id=None, from_id=None, date=None, first_name="Client",
                    username=None, callback_id=None, edited=False):
    """An Update (message, edited_message or callback_query) with the
    X-Telegram-Bot-Api-Secret-Token header (secret_token None: no header)."""
    from_id = from_id if from_id is not None else chat_id
    user = {"id": from_id, "is_bot": False, "first_name": first_name,
            "language_code": "fr"}
    if username:
        user["username"] = username
    message = {"message_id": message_id if message_id is not None else update_id % 100000,
               "from": user, "chat": {"id": chat_id, "first_name": first_name,
                                      "type": "private"},
               "date": int(date if date is not None else time.time())}
    update = {"update_id": update_id}
    if callback_data is not None:
        message["from"] = {"id": 1, "is_bot": True, "first_name": "bot", "username": "bot"}
        message["text"] = text or "…"
        update["callback_query"] = {"id": callback_id or str(4382000000000000000 + update_id),
                                    "from": user, "message": message,
                                    "chat_instance": "-1234567890123456789",
                                    "data": callback_data}
    else:
        message["text"] = text
        update["edited_message" if edited else "message"] = message
    body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": JSON_TYPE}
    if secret_token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
    return Webhook(body, headers)


# X

def x_signature(consumer_secret, body):
    """x-twitter-webhooks-signature: "sha256=" + base64 HMAC-SHA256(consumer secret, body)."""
    return "sha256=" + base64.b64encode(
        hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()).decode()


def x_crc_expected(consumer_secret, crc_token):
    """The CRC answer's response_token."""
    return x_signature(consumer_secret, crc_token.encode())


def _user_id_of(screen_name):
    return str(1000000000 + zlib.crc32(screen_name.lower().encode()))


def _x_time(ms):
    return time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(ms / 1000))


def _x_entities(text, mentions):
    hashtags = [{"text": m.group(1), "indices": [m.start(), m.end()]}
                for m in re.finditer(r"(?<!\w)[#＃](\w+)", text)]
    user_mentions = []
    for m in re.finditer(r"(?<!\w)@(\w{1,15})", text):
        name = m.group(1)
        uid = (mentions or {}).get(name) or (mentions or {}).get(name.lower()) \
            or _user_id_of(name)
        user_mentions.append({"screen_name": name, "name": name, "id": int(uid),
                              "id_str": str(uid), "indices": [m.start(), m.end()]})
    return {"hashtags": hashtags, "urls": [], "user_mentions": user_mentions, "symbols": []}


def x_tweet_object(tweet_id, user_id, screen_name, text, in_reply_to=None, mentions=None,
                   timestamp_ms=None, retweeted_status=None, quoted_status=None):
    """A v1.1 Tweet as the Account Activity API delivers it. in_reply_to: a
    tweet object (or (tweet id, user id, screen name)) this one answers;
    mentions {screen_name: id_str}. Over 140 code points, `text` is
    truncated and the full text is in extended_tweet, as X does."""
    ts = timestamp_ms if timestamp_ms is not None else _now_ms()
    start = 0
    if in_reply_to is not None:
        # leading @mentions of a reply are outside display_text_range
        m = re.match(r"(@\w+\s+)+", text)
        start = m.end() if m else 0
    entities = _x_entities(text, mentions)
    tweet = {
        "created_at": _x_time(ts), "id": int(tweet_id), "id_str": str(tweet_id),
        "text": text, "display_text_range": [start, len(text)],
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "truncated": False,
        "in_reply_to_status_id": None, "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None, "in_reply_to_user_id_str": None,
        "in_reply_to_screen_name": None,
        "user": {"id": int(user_id), "id_str": str(user_id), "name": screen_name,
                 "screen_name": screen_name, "protected": False, "verified": False,
                 "followers_count": 12, "friends_count": 40, "lang": None},
        "geo": None, "coordinates": None, "place": None, "contributors": None,
        "is_quote_status": quoted_status is not None, "quote_count": 0, "reply_count": 0,
        "retweet_count": 0, "favorite_count": 0, "entities": entities, "favorited": False,
        "retweeted": False, "filter_level": "low", "lang": "fr", "timestamp_ms": str(ts),
    }
    if in_reply_to is not None:
        if isinstance(in_reply_to, dict):
            rid, ruid, rname = (in_reply_to["id_str"], in_reply_to["user"]["id_str"],
                                in_reply_to["user"]["screen_name"])
        else:
            rid, ruid, rname = in_reply_to
        tweet.update({"in_reply_to_status_id": int(rid), "in_reply_to_status_id_str": str(rid),
                      "in_reply_to_user_id": int(ruid), "in_reply_to_user_id_str": str(ruid),
                      "in_reply_to_screen_name": rname})
    if retweeted_status is not None:
        tweet["retweeted_status"] = retweeted_status
    if quoted_status is not None:
        tweet["quoted_status"] = quoted_status
        tweet["quoted_status_id_str"] = quoted_status["id_str"]
    if len(text) > 140:
        tweet["truncated"] = True
        tweet["text"] = text[:139] + "…"
        tweet["display_text_range"] = [start, 140]
        tweet["extended_tweet"] = {"full_text": text, "display_text_range": [start, len(text)],
                                   "entities": entities}
        tweet["entities"] = _x_entities(tweet["text"], mentions)
    return tweet


def _x_hook(consumer_secret, payload):
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Webhook(body, {"Content-Type": JSON_TYPE,
                          "x-twitter-webhooks-signature": x_signature(consumer_secret, body)})


def x_tweets(consumer_secret, for_user_id, tweets):
    """A signed tweet_create_events delivery of tweet objects."""
    return _x_hook(consumer_secret, {"for_user_id": str(for_user_id),
                                     "tweet_create_events": list(tweets)})


def x_tweet(consumer_secret, for_user_id, tweet_id, user_id, screen_name, text, **kw):
    """A signed delivery of one tweet (x_tweet_object's keywords)."""
    return x_tweets(consumer_secret, for_user_id,
                    [x_tweet_object(tweet_id, user_id, screen_name, text, **kw)])


def x_retweet(consumer_secret, for_user_id, tweet_id, user_id, screen_name, original, **kw):
    """A signed delivery of a retweet by user of `original` (a tweet object)."""
    author = original["user"]["screen_name"]
    full = original.get("extended_tweet", {}).get("full_text", original["text"])
    text = f"RT @{author}: {full}"
    mentions = {author: original["user"]["id_str"]}
    mentions.update(kw.pop("mentions", None) or {})
    tweet = x_tweet_object(tweet_id, user_id, screen_name, text, mentions=mentions,
                           retweeted_status=original, **kw)
    if tweet.get("truncated"):  # retweets are cut in text, no extended_tweet of their own
        tweet.pop("extended_tweet", None)
        tweet["truncated"] = False
    return x_tweets(consumer_secret, for_user_id, [tweet])


def x_dm(consumer_secret, for_user_id, event_id, sender_id, recipient_id, text,
         quick_reply_metadata=None, timestamp_ms=None, users=None):
    """A signed direct_message_events delivery (type message_create)."""
    ts = timestamp_ms if timestamp_ms is not None else _now_ms()
    data = {"text": text, "entities": _x_entities(text, None)}
    if quick_reply_metadata is not None:
        data["quick_reply_response"] = {"type": "options", "metadata": quick_reply_metadata}
    event = {"type": "message_create", "id": str(event_id), "created_timestamp": str(ts),
             "message_create": {"target": {"recipient_id": str(recipient_id)},
                                "sender_id": str(sender_id), "source_app_id": "268278",
                                "message_data": data}}
    if users is None:
        users = {str(u): {"id": str(u), "created_timestamp": "1400000000000",
                          "name": f"user{u}", "screen_name": f"user{u}", "protected": False,
                          "verified": False, "followers_count": 1, "friends_count": 1,
                          "statuses_count": 1}
                 for u in (sender_id, recipient_id)}
    payload = {"for_user_id": str(for_user_id), "direct_message_events": [event],
               "apps": {"268278": {"id": "268278", "name": "Twitter Web Client",
                                   "url": "http://twitter.com"}},
               "users": users}
    return _x_hook(consumer_secret, payload)


# Twilio

def twilio_signature(auth_token, url, params):
    """X-Twilio-Signature: base64 HMAC-SHA1(auth token, url + every POST
    parameter sorted by name, as name + value). params: a dict or a list of
    (name, value) pairs (repeated names are sorted by value)."""
    pairs = sorted(params.items() if isinstance(params, dict) else params)
    data = url + "".join(k + v for k, v in pairs)
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(),
                                     hashlib.sha1).digest()).decode()


def twilio_sms(auth_token, url, from_, to, body, message_sid=None, account_sid=None,
               extra=None):
    """A signed inbound SMS. url: the full URL Twilio calls (palabre's
    PUBLIC_URL + /webhooks/{bot}/twilio + any query): the signature covers it,
    and the Webhook keeps its query."""
    sid = message_sid or "SM" + uuid.uuid4().hex
    account_sid = account_sid or "AC" + "0123456789abcdef" * 2
    params = {"ToCountry": "FR", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
              "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus":
              "received", "FromCity": "", "Body": body, "FromCountry": "FR", "To": to,
              "ToZip": "", "NumSegments": "1", "MessageSid": sid, "AccountSid": account_sid,
              "From": from_, "ApiVersion": "2010-04-01"}
    params.update(extra or {})
    data = urllib.parse.urlencode(params).encode()
    headers = {"Content-Type": FORM_TYPE, "X-Twilio-Signature":
               twilio_signature(auth_token, url, params),
               "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": uuid.uuid4().hex}
    return Webhook(data, headers, urllib.parse.urlsplit(url).query)
