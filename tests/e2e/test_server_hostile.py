"""`palabre serve` against hostile requests (SPEC §4: malformed input gets a
clear 4xx JSON error and changes nothing; overload answers 429/503 with
Retry-After and never crashes).

A table of well over 100 hostile requests goes to one server: each must get
the expected status and, for every refusal palabre makes itself, a JSON body
{"error": {"code", "message"}}. Afterwards the server still answers and the
store's row counts are what they were. Rate limits and overload run on
servers of their own with small limits.

libmicrohttpd answers a few requests itself, before palabre sees them, with
its own HTML body: requests that are not valid HTTP/1.1 at all (no colon in a
header line, bad chunk sizes, an HTTP/0.9 line, an unparsable Content-Length)
and requests over its memory limit (a 100 KB URL, 70 KB of headers: 414/431).
Those cases are marked `mhd` and only their status is checked.
"""
import base64
import http.client
import json
import os
import shutil
import socket
import threading
import time

import pytest

from server import TOKEN, PalabreServer, Response, raw_http, table_counts

MSG = "/api/v1/bots/stade/messages"
WMSG = "/webchat/stade/messages"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_CT = {"Content-Type": "application/json"}
API = {**AUTH, **JSON_CT}
SECRET = "TOP-SECRET-OUTSIDE-WEB-ROOT"
PASSWD_MARK = b"root:x:0:0"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A server with a copy of web/ that holds symbolic links leading out of it."""
    base = tmp_path_factory.mktemp("hostile")
    web = base / "web"
    src = os.path.join(os.path.dirname(__file__), "..", "..", "web")
    shutil.copytree(src, web)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (web / "secret.txt").symlink_to(outside / "secret.txt")
    (web / "passwd.txt").symlink_to("/etc/passwd")
    (web / "outside").symlink_to(outside)
    (web / ".hidden.txt").write_text(SECRET)
    s = PalabreServer(base / "data", settings={"web_root": str(web)})
    s.start()
    try:
        # something in the store, so that "unchanged" means something
        for customer, text in (("h1", "deux corona svp"), ("h2", "#MonRésultat 75011")):
            bot = "stade" if "corona" in text else "monresultat"
            r = s.say(bot, customer, text, msg_id="seed")
            assert r.status == 200 and r.json()["replies"], r.body
        s.before = table_counts(s)
        assert s.before["messages"] >= 4
        yield s
    finally:
        rc = s.stop()
        assert rc == 0, f"palabre serve exited {rc}"


def body_of(text=None, customer="x", **extra):
    d = {"customer": customer, "text": "bonjour" if text is None else text}
    d.update(extra)
    return json.dumps(d).encode()


def case(name, status, code, method="POST", path=MSG, headers=None, body=b"", raw=None,
         mhd=False, check=None, send_after=None):
    return pytest.param(dict(status=status, code=code, method=method, path=path,
                             headers=API if headers is None else headers, body=body, raw=raw,
                             mhd=mhd, check=check, send_after=send_after), id=name)


def raw_req(method, path, headers=(), body=b"", length=True):
    h = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
    for line in headers:
        h += (line if isinstance(line, bytes) else line.encode()) + b"\r\n"
    if length:
        h += b"Content-Length: %d\r\n" % len(body)
    return h + b"\r\n" + body


RAW_API = [f"Authorization: Bearer {TOKEN}", "Content-Type: application/json"]


def no_header(name, needle):
    def check(r):
        for k, v in r.headers.items():
            assert needle.lower() not in (k + ":" + v).lower(), (k, v)
    return check


def no_secret(r):
    assert SECRET.encode() not in r.body and PASSWD_MARK not in r.body, r.body[:200]


def www_auth(r):
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), dict(r.headers)


def retry_after(r):
    assert int(r.headers["Retry-After"]) >= 1


BAD_JSON = [
    ("truncated", b'{"customer":"x","text":"hi"'),
    ("truncated-string", b'{"customer":"x","text":"hi'),
    ("trailing-garbage", b'{"customer":"x","text":"hi"}garbage'),
    ("two-documents", b'{"customer":"x","text":"hi"} {"customer":"y","text":"ho"}'),
    ("top-array", b'[{"customer":"x","text":"hi"}]'),
    ("top-string", b'"hello"'),
    ("top-number", b"42"),
    ("top-null", b"null"),
    ("top-true", b"true"),
    ("duplicate-text", b'{"customer":"x","text":"hi","text":"ho"}'),
    ("duplicate-customer", b'{"customer":"x","customer":"y","text":"hi"}'),
    ("deep-array-10000", b"[" * 10000 + b"]" * 10000),
    ("deep-object-10000", b'{"a":' * 10000 + b"1" + b"}" * 10000),
    ("deep-in-field", b'{"customer":"x","text":"hi","x":' + b"[" * 10000 + b"]" * 10000 + b"}"),
    ("empty-body", b""),
    ("whitespace-body", b"   \n\t "),
    ("single-quotes", b"{'customer':'x','text':'hi'}"),
    ("unquoted-keys", b'{customer:"x",text:"hi"}'),
    ("trailing-comma", b'{"customer":"x","text":"hi",}'),
    ("comment", b'{"customer":"x",/* hi */"text":"hi"}'),
    ("nan", b'{"customer":"x","text":"hi","n":NaN}'),
    ("bad-escape", b'{"customer":"x","text":"\\x41"}'),
    ("short-unicode-escape", b'{"customer":"x","text":"\\u12"}'),
    ("lone-surrogate-escape", b'{"customer":"x","text":"\\ud800"}'),
    ("nul-escape-in-text", b'{"customer":"x","text":"a\\u0000b"}'),
    ("nul-escape-in-customer", b'{"customer":"x\\u0000y","text":"hi"}'),
    ("raw-control-char", b'{"customer":"x","text":"a\x01b"}'),
    ("raw-newline-in-string", b'{"customer":"x","text":"a\nb"}'),
    ("bom", b'\xef\xbb\xbf{"customer":"x","text":"hi"}'),
    ("huge-exponent", b'{"customer":"x","text":"hi","n":1e999999}'),
    ("huge-integer", b'{"customer":"x","text":"hi","n":123456789012345678901234567890}'),
    ("just-brace", b"{"),
]

BAD_UTF8 = [
    ("overlong-2", b"\xc0\xaf"),
    ("overlong-3", b"\xe0\x80\xaf"),
    ("overlong-4", b"\xf0\x80\x80\xaf"),
    ("overlong-nul", b"\xc0\x80"),
    ("surrogate-high", b"\xed\xa0\x80"),
    ("surrogate-low", b"\xed\xbf\xbf"),
    ("cesu-pair", b"\xed\xa0\xbd\xed\xb8\x80"),
    ("lone-continuation", b"\x80"),
    ("lone-continuation-bf", b"\xbf"),
    ("byte-ff", b"\xff"),
    ("byte-fe", b"\xfe"),
    ("truncated-sequence", b"\xe2\x82"),
    ("five-bytes", b"\xf8\x88\x80\x80\x80"),
    ("above-10ffff", b"\xf4\x90\x80\x80"),
    ("latin1", b"caf\xe9"),
]

CASES = []
CASES += [case(f"json-{n}", 400, "invalid_json", body=b) for n, b in BAD_JSON]
CASES += [case(f"utf8-{n}", 400, "invalid_utf8",
               body=b'{"customer":"x","text":"a' + b + b'b"}') for n, b in BAD_UTF8]
CASES += [
    case("utf8-in-key", 400, "invalid_utf8", body=b'{"cust\xffomer":"x","text":"hi"}'),
    case("utf8-in-customer", 400, "invalid_utf8", body=b'{"customer":"\xc3","text":"hi"}'),
    case("raw-nul-byte", 400, "invalid_utf8", body=b'{"customer":"x","text":"a\x00b"}'),
    case("raw-nul-after-document", 400, "invalid_utf8",
         body=b'{"customer":"x","text":"hi"}\x00'),
]

# Content-Type (415)
CASES += [
    case(f"content-type-{n}", 415, "unsupported_media_type", headers={**AUTH, **h},
         body=body_of())
    for n, h in [("text-plain", {"Content-Type": "text/plain"}),
                 ("missing", {}),
                 ("form", {"Content-Type": "application/x-www-form-urlencoded"}),
                 ("multipart", {"Content-Type": "multipart/form-data; boundary=x"}),
                 ("jsonx", {"Content-Type": "application/jsonx"}),
                 ("json-patch", {"Content-Type": "application/json-patch+json"}),
                 ("bare-json", {"Content-Type": "json"}),
                 ("empty", {"Content-Type": ""}),
                 ("javascript", {"Content-Type": "application/javascript"}),
                 ("text-json", {"Content-Type": "text/json"})]
]

# sizes (413)
CASES += [
    case("body-10MiB-refused-unread", 413, "body_too_large",
         raw=raw_req("POST", MSG, RAW_API + ["Content-Length: 10485760"], length=False),
         send_after=b"x" * (1 << 20)),
    case("body-chunked-2MiB", 413, "body_too_large",
         raw=raw_req("POST", MSG, RAW_API + ["Transfer-Encoding: chunked"], length=False,
                     body=(b"10000\r\n" + b" " * 0x10000 + b"\r\n") * 32 + b"0\r\n\r\n")),
    case("body-one-byte-over", 413, "body_too_large",
         body=b" " * (65537 - len(body_of())) + body_of()),
    case("text-4097-bytes", 413, "text_too_long", body=body_of("a" * 4097)),
    case("text-too-long-in-bytes-not-chars", 413, "text_too_long", body=body_of("€" * 1366)),
]

# fields (400)
CASES += [
    case("text-empty", 400, "invalid_text", body=body_of("")),
    case("text-missing", 400, "invalid_text", body=b'{"customer":"x"}'),
    case("text-number", 400, "invalid_text", body=b'{"customer":"x","text":42}'),
    case("text-null", 400, "invalid_text", body=b'{"customer":"x","text":null}'),
    case("text-array", 400, "invalid_text", body=b'{"customer":"x","text":["hi"]}'),
    case("text-object", 400, "invalid_text", body=b'{"customer":"x","text":{"a":"hi"}}'),
    case("customer-missing", 400, "invalid_customer", body=b'{"text":"hi"}'),
    case("customer-number", 400, "invalid_customer", body=b'{"customer":42,"text":"hi"}'),
    case("customer-null", 400, "invalid_customer", body=b'{"customer":null,"text":"hi"}'),
    case("customer-empty", 400, "invalid_customer", body=body_of(customer="")),
    case("customer-array", 400, "invalid_customer", body=b'{"customer":["x"],"text":"hi"}'),
    case("customer-bool", 400, "invalid_customer", body=b'{"customer":true,"text":"hi"}'),
    case("customer-257-bytes", 400, "invalid_customer", body=body_of(customer="c" * 257)),
    case("customer-newline", 400, "invalid_customer", body=body_of(customer="a\r\nb")),
    case("customer-tab", 400, "invalid_customer", body=body_of(customer="a\tb")),
    case("customer-del", 400, "invalid_customer", body=body_of(customer="a\x7fb")),
    case("id-129-bytes", 400, "invalid_id", body=body_of(id="i" * 129)),
    case("id-huge", 400, "invalid_id", body=body_of(id="i" * 20000)),
    case("id-number", 400, "invalid_id", body=body_of(id=5)),
    case("id-empty", 400, "invalid_id", body=body_of(id="")),
    case("id-null", 400, "invalid_id", body=body_of(id=None)),
    case("id-control", 400, "invalid_id", body=body_of(id="a\nb")),
    case("lang-de", 400, "invalid_lang", body=body_of(lang="de")),
    case("lang-number", 400, "invalid_lang", body=body_of(lang=5)),
    case("lang-empty", 400, "invalid_lang", body=body_of(lang="")),
]

# addresses (404) and methods (405)
CASES += [
    case("unknown-bot", 404, "unknown_bot", path="/api/v1/bots/nope/messages", body=body_of()),
    case("bot-dotdot", 404, "unknown_bot", path="/api/v1/bots/../messages", body=body_of()),
    case("bot-200-chars", 404, "not_found", path=f"/api/v1/bots/{'b' * 200}/messages",
         body=body_of()),
    case("bot-without-messages", 404, "not_found", path="/api/v1/bots/stade", body=body_of()),
    case("messages-extra-segment", 404, "not_found", path=MSG + "/x", body=body_of()),
    case("api-unknown", 404, "not_found", method="GET", path="/api/v1/nothing", body=None),
    case("conversation-abc", 404, "not_found", method="GET", path="/api/v1/conversations/abc",
         body=None),
    case("conversation-0", 404, "not_found", method="GET", path="/api/v1/conversations/0",
         body=None),
    case("conversation-negative", 404, "not_found", method="GET",
         path="/api/v1/conversations/-1", body=None),
    case("conversation-overflow", 404, "not_found", method="GET",
         path="/api/v1/conversations/99999999999999999999999", body=None),
    case("conversation-absent", 404, "not_found", method="GET",
         path="/api/v1/conversations/987654", body=None),
    case("conversation-sql", 404, "not_found", method="GET",
         path="/api/v1/conversations/1%20OR%201=1", body=None),
    case("list-limit-0", 400, "invalid_limit", method="GET",
         path="/api/v1/conversations?limit=0", body=None),
    case("list-limit-501", 400, "invalid_limit", method="GET",
         path="/api/v1/conversations?limit=501", body=None),
    case("list-limit-abc", 400, "invalid_limit", method="GET",
         path="/api/v1/conversations?limit=abc", body=None),
    case("list-before-abc", 400, "invalid_before", method="GET",
         path="/api/v1/conversations?before=abc", body=None),
    case("list-mode-robot", 400, "invalid_mode", method="GET",
         path="/api/v1/conversations?mode=robot", body=None),
    case("webchat-unknown-bot", 404, "unknown_bot", method="GET", path="/webchat/nope/history",
         headers={}, body=None),
    case("webchat-unknown-address", 404, "not_found", method="GET", path="/webchat/stade/x",
         headers={}, body=None),
    case("unknown-page", 404, "not_found", method="GET", path="/nope.html", headers={},
         body=None),
    case("unknown-no-extension", 404, "not_found", method="GET", path="/nope", headers={},
         body=None),
    case("get-messages", 405, "method_not_allowed", method="GET", path=MSG, body=None),
    case("put-messages", 405, "method_not_allowed", method="PUT", path=MSG, body=body_of()),
    case("delete-conversation", 405, "method_not_allowed", method="DELETE",
         path="/api/v1/conversations/1", body=None),
    case("post-conversations", 405, "method_not_allowed", path="/api/v1/conversations",
         body=body_of()),
    case("webchat-get-messages", 405, "method_not_allowed", method="GET", path=WMSG,
         headers={}, body=None),
    case("webchat-post-history", 405, "method_not_allowed", path="/webchat/stade/history",
         headers=JSON_CT, body=b"{}"),
    case("webchat-post-bots", 405, "method_not_allowed", path="/webchat/bots",
         headers=JSON_CT, body=b"{}"),
    case("delete-chat", 405, "method_not_allowed", method="DELETE", path="/chat", headers={},
         body=None),
    case("put-widget", 405, "method_not_allowed", method="PUT", path="/widget.js", headers={},
         body=b"alert(1)"),
]

# bearer token (401 with WWW-Authenticate)
CASES += [
    case(f"auth-{n}", 401, "unauthorized", headers={**JSON_CT, **h}, body=body_of(),
         check=www_auth)
    for n, h in [("missing", {}),
                 ("wrong", {"Authorization": "Bearer wrong-token"}),
                 ("upper-case-token", {"Authorization": f"Bearer {TOKEN.upper()}"}),
                 ("basic", {"Authorization": "Basic " +
                            base64.b64encode(f"admin:{TOKEN}".encode()).decode()}),
                 ("bearer-alone", {"Authorization": "Bearer"}),
                 ("bearer-empty", {"Authorization": "Bearer "}),
                 ("token-longer", {"Authorization": f"Bearer {TOKEN}x"}),
                 ("token-prefix", {"Authorization": f"Bearer {TOKEN[:-1]}"}),
                 ("token-scheme", {"Authorization": f"Token {TOKEN}"}),
                 ("token-alone", {"Authorization": TOKEN})]
] + [
    case("auth-get-list", 401, "unauthorized", method="GET", path="/api/v1/conversations",
         headers={}, body=None, check=www_auth),
    case("auth-token-in-query", 401, "unauthorized", method="GET",
         path=f"/api/v1/conversations?access_token={TOKEN}", headers={}, body=None,
         check=www_auth),
    case("auth-before-unknown-bot", 401, "unauthorized", path="/api/v1/bots/nope/messages",
         headers=JSON_CT, body=body_of(), check=www_auth),
]

# static files: nothing outside web/, ever (404)
TRAVERSAL = [
    "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/chat.html/..", "/.git/config",
    "//etc/passwd", "/..%5c..%5cetc%5cpasswd", "/%5c..%5c..%5cetc%5cpasswd",
    "/..%2f..%2fetc%2fpasswd", "/%252e%252e/%252e%252e/etc/passwd", "/secret.txt",
    "/passwd.txt", "/outside/secret.txt", "/.hidden.txt", "/chat.html/", "/./chat.html",
    "/.env", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/..;/etc/passwd", "/etc/passwd",
    "/chat.html%2f..%2f..%2fetc%2fpasswd", "//..//..//etc/passwd",
    "/..%c0%af..%c0%afetc/passwd", "/proc/self/environ", "/widget.js::$DATA",
    "/web/chat.html", "/%2e/secret.txt", "/outside%2fsecret.txt",
]
CASES += [case(f"static{p}", 404, "not_found", method="GET", path=p, headers={}, body=None,
               check=no_secret) for p in TRAVERSAL]
CASES += [
    case("static-absolute-form", 404, "not_found", check=no_secret,
         raw=b"GET http://127.0.0.1/../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Connection: close\r\n\r\n"),
    case("static-backslash-raw", 404, "not_found", check=no_secret,
         raw=b"GET /..\\..\\etc\\passwd HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
]

# header injection: nothing of the request comes back as a header
CASES += [
    case("crlf-in-bot-name", 404, "unknown_bot", method="GET",
         path="/webchat/stade%0d%0aSet-Cookie:%20evil=1/history", headers={}, body=None,
         check=no_header("Set-Cookie", "evil")),
    case("crlf-in-static-path", 404, "not_found", method="GET",
         path="/chat%0d%0aX-Injected:%20yes", headers={}, body=None,
         check=no_header("X-Injected", "x-injected")),
    case("crlf-in-api-path", 404, "not_found", method="GET",
         path="/api/v1/x%0d%0aX-Injected:%20yes", body=None,
         check=no_header("X-Injected", "x-injected")),
    case("crlf-in-query", 400, "invalid_mode", method="GET",
         path="/api/v1/conversations?mode=bot%0d%0aX-Injected:%20yes", body=None,
         check=no_header("X-Injected", "x-injected")),
    # an id with CR LF is refused, so it never reaches a header or the store
    case("crlf-in-id", 400, "invalid_id", body=body_of(id="a\r\nX-Injected: yes")),
]

# malformed HTTP: libmicrohttpd's own answers (not valid HTTP at all, or over its limits)
CASES += [
    case("http-header-without-colon", 400, None, mhd=True,
         raw=b"GET /healthz HTTP/1.1\r\nHost: x\r\nBogus header\r\nConnection: close\r\n\r\n"),
    case("http-bad-chunk-size", 400, None, mhd=True,
         raw=raw_req("POST", MSG, RAW_API + ["Transfer-Encoding: chunked"], length=False,
                     body=b"zz\r\nabc\r\n0\r\n\r\n")),
    case("http-0.9", 400, None, mhd=True, raw=b"GET /healthz\r\n\r\n"),
    case("http-negative-length", 400, None, mhd=True,
         raw=raw_req("POST", MSG, RAW_API + ["Content-Length: -1"], length=False)),
    case("http-length-not-a-number", 400, None, mhd=True,
         raw=raw_req("POST", MSG, RAW_API + ["Content-Length: abc"], length=False)),
    case("http-length-overflow", 413, None, mhd=True,
         raw=raw_req("POST", MSG, RAW_API + ["Content-Length: 99999999999999999999999"],
                     length=False)),
    case("http-url-100KB", 414, None, mhd=True,
         raw=raw_req("GET", "/chat?" + "a" * 100000, length=False)),
    case("http-headers-70KB", 431, None, mhd=True,
         raw=raw_req("GET", "/healthz", ["X-Big: " + "a" * 70000], length=False)),
    # over a connection's memory (16 KiB: palabre keeps it small, libmicrohttpd
    # clears it for every request) a URL is refused by libmicrohttpd itself
    case("http-url-20KB", 414, None, mhd=True,
         raw=raw_req("GET", "/" + "a" * 20000 + ".html", length=False)),
    # within it, a long URL is palabre's to answer
    case("url-8KB-static", 404, "not_found", method="GET", path="/" + "a" * 8000 + ".html",
         headers={}, body=None),
    case("url-8KB-api", 404, "not_found", method="GET",
         path="/api/v1/conversations/" + "9" * 8000, body=None),
    # two different lengths: the framing is ambiguous (request smuggling):
    # RFC 9112 §6.3 says 400, whatever the body
    case("http-two-content-lengths", 400, None, mhd=True,
         raw=raw_req("POST", "/api/v1/bots/monresultat/messages",
                     RAW_API + ["Content-Length: %d" % len(body_of("#MonRésultat 69003")),
                                "Content-Length: 2"],
                     body=body_of("#MonRésultat 69003"), length=False)),
]

# web chat
ORIGIN_BODY = json.dumps({"text": "deux corona svp"}).encode()
CASES += [
    case("webchat-cross-origin", 403, "cross_origin", headers={**JSON_CT,
         "Origin": "http://evil.example"}, path=WMSG, body=ORIGIN_BODY),
    case("webchat-origin-null", 403, "cross_origin", headers={**JSON_CT, "Origin": "null"},
         path=WMSG, body=ORIGIN_BODY),
    case("webchat-origin-suffix", 403, "cross_origin",
         headers={**JSON_CT, "Origin": "http://127.0.0.1.evil.example"}, path=WMSG,
         body=ORIGIN_BODY),
    case("webchat-origin-embedded", 403, "cross_origin",
         headers={**JSON_CT, "Origin": "http://evil.example/http://127.0.0.1"}, path=WMSG,
         body=ORIGIN_BODY),
    case("webchat-form-post", 415, "unsupported_media_type",
         headers={"Content-Type": "application/x-www-form-urlencoded"}, path=WMSG,
         body=b"text=deux+corona"),
    case("webchat-text-plain", 415, "unsupported_media_type",
         headers={"Content-Type": "text/plain"}, path=WMSG, body=ORIGIN_BODY),
    case("webchat-bad-json", 400, "invalid_json", headers=JSON_CT, path=WMSG,
         body=b'{"text":"hi"'),
    case("webchat-empty-text", 400, "invalid_text", headers=JSON_CT, path=WMSG,
         body=b'{"text":""}'),
    case("webchat-text-too-long", 413, "text_too_long", headers=JSON_CT, path=WMSG,
         body=json.dumps({"text": "a" * 5000}).encode()),
    case("webchat-bad-utf8", 400, "invalid_utf8", headers=JSON_CT, path=WMSG,
         body=b'{"text":"\xed\xa0\x80"}'),
    case("webchat-id-too-long", 400, "invalid_id", headers=JSON_CT, path=WMSG,
         body=json.dumps({"text": "hi", "id": "i" * 129}).encode()),
    case("webchat-dup-keys", 400, "invalid_json", headers=JSON_CT, path=WMSG,
         body=b'{"text":"hi","text":"ho"}'),
]
CASES += [
    case(f"sse-last-event-id-{n}", 400, "invalid_after", method="GET",
         path="/webchat/stade/events", headers={"Last-Event-ID": v}, body=None)
    for n, v in [("letters", "abc"), ("negative", "-1"), ("float", "1.5"),
                 ("exponent", "1e5"), ("hex", "0x10"), ("trailing", "12abc"),
                 ("overflow", "99999999999999999999999")]
] + [
    case("sse-after-letters", 400, "invalid_after", method="GET",
         path="/webchat/stade/events?after=xyz", headers={}, body=None),
]


def send(server, c):
    if c["raw"] is not None:
        return raw_http(server.port, c["raw"], send_after=c["send_after"])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        headers = dict(c["headers"])
        headers.setdefault("Connection", "close")
        conn.putrequest(c["method"], c["path"], skip_accept_encoding=True)
        body = c["body"]
        if body is not None:
            headers["Content-Length"] = str(len(body))
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders(body if body else None)
        r = conn.getresponse()
        if r.headers.get("Content-Type", "").startswith("text/event-stream"):
            return Response(r.status, r.headers, b"")  # an open stream: not read to its end
        return Response(r.status, r.headers, r.read())
    finally:
        conn.close()


def test_the_table_is_big_enough():
    assert len(CASES) >= 100, len(CASES)


@pytest.mark.parametrize("c", CASES)
def test_hostile_request(hostile, c):
    t0 = time.monotonic()
    r = send(hostile, c)
    elapsed = time.monotonic() - t0
    assert r.status == c["status"], (r.status, r.body[:300])
    if not c["mhd"]:
        assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
        err = json.loads(r.body)["error"]
        assert set(err) == {"code", "message"}, err
        assert err["code"] == c["code"], err
        assert isinstance(err["message"], str) and err["message"]
    if c["send_after"] is not None:
        assert elapsed < 3, f"the 10 MiB body seems to have been read ({elapsed:.1f} s)"
    if c["check"]:
        c["check"](r)
    assert PASSWD_MARK not in r.body


def test_405_names_the_allowed_methods(hostile):
    """RFC 9110 §15.5.6: a 405 must say what is allowed (Allow header)."""
    for method, path, allowed in (("GET", MSG, "POST"), ("POST", "/api/v1/conversations", "GET"),
                                  ("DELETE", "/chat", "GET"),
                                  ("GET", WMSG, "POST")):
        r = hostile.request(method, path, headers={**API}, body=b"{}" if method == "POST"
                            else None)
        assert r.status == 405
        assert allowed in (r.headers.get("Allow") or ""), (method, path, dict(r.headers))


def test_server_alive_and_store_unchanged_after_the_table(hostile):
    r = hostile.get("/healthz")
    assert r.status == 200
    assert hostile.get("/readyz").status == 200
    assert hostile.alive()
    assert table_counts(hostile) == hostile.before
    # and it still works
    r = hostile.say("assistant", "after-hostile", "aide")
    assert r.status == 200 and r.json()["replies"]


def test_content_length_with_chunked_is_refused_or_closes(hostile):
    """Content-Length and Transfer-Encoding: chunked together (a request
    smuggling shape): RFC 9112 §6.1 lets a server refuse it (400) or follow
    the chunks, but then it MUST close the connection, so that nothing after
    it on the connection is read as another request."""
    body = json.dumps({"customer": "smuggler", "text": "aide"}).encode()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    req = raw_req("POST", "/api/v1/bots/assistant/messages",
                  RAW_API + ["Content-Length: 4", "Transfer-Encoding: chunked"],
                  body=chunked, length=False).replace(b"Connection: close\r\n", b"")
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", hostile.port), timeout=5) as c:
        c.sendall(req + smuggled)
        resp = http.client.HTTPResponse(c, method="POST")
        resp.begin()
        first = resp.read()
        if resp.status == 400:
            return  # refused (nothing stored: checked by the next test)
        assert resp.status == 200, first
        # the request was followed by its chunks: the connection must end here
        assert resp.will_close or resp.getheader("Connection", "").lower() == "close", \
            dict(resp.headers)
        c.settimeout(2)
        try:
            rest = c.recv(65536)
        except (ConnectionResetError, TimeoutError):
            rest = b""
        assert rest == b"", f"the bytes after the request were answered: {rest[:80]!r}"


ODD_TEXTS = ["   ", "\n\n", "\t", "\U0001F600" * 1000, "e\u0301" * 1000, "\u202eevil",
             "\ufeff", "\u200b" * 100, "a" * 4096, "é" * 2048, "<script>alert(1)</script>",
             "'; DROP TABLE messages; --", "{{quantity}} {{order.id}}", "%s%s%s%n",
             "\U0001F1EB\U0001F1F7" * 500, "\U0010FFFF", "\x1b[2J"]


def test_odd_but_valid_texts_get_an_answer_never_an_echo(hostile):
    """Valid UTF-8 that is unusual (only spaces, 4096 bytes, emoji, bidi
    overrides, markup, SQL, template syntax, format strings, ANSI escapes):
    each bot answers (at least its contract), never repeats the text, and the
    store is not hurt."""
    for bot in ("stade", "monresultat", "assistant"):
        for i, text in enumerate(ODD_TEXTS):
            r = hostile.say(bot, f"odd-{i}", text)
            assert r.status == 200, (bot, text[:20], r.status, r.body[:200])
            replies = " ".join(x["text"] for x in r.json()["replies"])
            assert replies, (bot, text[:20])
            if len(text.strip()) > 3:
                assert text.strip() not in replies, (bot, text[:20], replies)
    assert hostile.alive()
    with hostile.db() as db:
        n = db.execute("SELECT count(*) FROM messages WHERE text = ?",
                       ("'; DROP TABLE messages; --",)).fetchone()[0]
    assert n == 3


def test_forged_visitor_cookie_is_replaced_not_reflected(hostile):
    for forged in ("../../etc/passwd", "a" * 4000, "x; Path=/; Domain=evil.example",
                   "ABCDEF" * 8, "0" * 47):
        r = hostile.get("/webchat/stade/history", headers={"Cookie": f"palabre_visitor={forged}"})
        assert r.status == 200, r.body[:200]
        assert r.json() == {"conversation_id": None, "messages": []}
        set_cookie = r.headers.get("Set-Cookie", "")
        token = set_cookie.split(";")[0].split("=", 1)[1]
        assert len(token) == 48 and all(ch in "0123456789abcdef" for ch in token), set_cookie
        assert forged not in set_cookie and "evil" not in set_cookie


# -- rate limits ------------------------------------------------------------------

@pytest.fixture()
def limited(tmp_path):
    s = PalabreServer(tmp_path / "data", settings={"rate_customer_per_minute": 5,
                                                   "rate_ip_per_minute": 8})
    s.start()
    try:
        yield s
    finally:
        assert s.stop() == 0


def test_customer_rate_limit(limited):
    for i in range(5):
        r = limited.say("assistant", "chatty", f"aide {i}")
        assert r.status == 200, (i, r.body)
    before = table_counts(limited)
    r = limited.say("assistant", "chatty", "aide encore")
    assert r.status == 429, r.body
    assert 1 <= int(r.headers["Retry-After"]) <= 60  # 5 a minute: one more within 12 s
    assert r.json()["error"]["code"] == "rate_limited" and r.json()["error"]["message"]
    assert table_counts(limited) == before  # refused: not stored
    # the limit is per customer (and per bot): the others are served
    assert limited.say("assistant", "quiet", "aide").status == 200
    assert limited.say("stade", "chatty", "aide").status == 200


def test_ip_rate_limit_on_webchat(limited):
    statuses = []
    for i in range(8):
        # no cookie: a new visitor each time, so only the address limit applies
        r = limited.request("POST", WMSG, {"text": f"bonjour {i}"}, JSON_CT)
        statuses.append(r.status)
    assert statuses == [202] * 8, statuses
    r = limited.request("POST", WMSG, {"text": "encore"}, JSON_CT)
    assert r.status == 429, r.body
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    r = limited.get("/webchat/stade/events")
    assert r.status == 429
    # the authenticated api is not limited by address
    assert limited.say("stade", "api-customer", "deux corona svp").status == 200
    assert limited.get("/healthz").status == 200


def test_visitor_rate_limit_on_webchat(limited):
    r = limited.request("POST", WMSG, {"text": "bonjour"}, JSON_CT)
    assert r.status == 202
    visitor = r.headers["Set-Cookie"].split(";")[0]
    h = {**JSON_CT, "Cookie": visitor}
    for i in range(4):
        assert limited.request("POST", WMSG, {"text": f"encore {i}"}, h).status == 202
    r = limited.request("POST", WMSG, {"text": "une de trop"}, h)
    assert r.status == 429, r.body
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    # reading the live stream is not a message: still allowed for this visitor
    conn = http.client.HTTPConnection("127.0.0.1", limited.port, timeout=10)
    try:
        conn.request("GET", "/webchat/stade/events", headers={"Cookie": visitor})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
    finally:
        conn.close()


# -- overload ---------------------------------------------------------------------

def test_overload_answers_503_and_loses_nothing(tmp_path):
    s = PalabreServer(tmp_path / "data", settings={"queue_limit": 1, "engine_threads": 1,
                                                   "http_threads": 4})
    s.start()
    try:
        results, lock = [], threading.Lock()
        go = threading.Barrier(24)

        def client(n):
            go.wait()
            for i in range(4):
                bot, text = [("monresultat", "#MonRésultat 75011"), ("stade", "deux corona svp"),
                             ("assistant", "où en est ma commande 482913 ?")][(n + i) % 3]
                # a refused message is sent again (same id), a little later
                for attempt in range(40):
                    r = s.say(bot, f"burst-{n}-{i}", text, msg_id=f"b{n}.{i}",
                              wait=(n + i) % 2 == 0)
                    with lock:
                        results.append(r)
                    if r.status != 503:
                        break
                    time.sleep(0.02)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert s.alive() and s.get("/healthz").status == 200
        busy = [r for r in results if r.status == 503]
        ok = [r for r in results if 200 <= r.status < 300]
        assert {r.status for r in results} <= {200, 202, 503}, {r.status for r in results}
        assert busy, "queue_limit=1 under a burst of 24 clients never said 503"
        assert len(ok) == 96, f"{len(ok)} of 96 messages got through after retries"
        for r in busy:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["code"] == "overloaded"
        # every acknowledged message is processed, once, with its replies stored
        deadline = time.monotonic() + 20
        while s.count("SELECT count(*) FROM messages WHERE status = 'received'") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        with s.db() as db:
            for r in ok:
                mid = r.json()["message_id"]
                [status] = db.execute("SELECT status FROM messages WHERE id = ?",
                                      (mid,)).fetchone()
                assert status == "processed", r.body
                n_replies = db.execute("SELECT count(*) FROM messages WHERE in_reply_to = ?",
                                       (mid,)).fetchone()[0]
                assert n_replies >= 1, r.body
                if r.status == 200:
                    assert len(r.json()["replies"]) == n_replies
            # refused copies are not stored: one row per message
            n_in = db.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()[0]
        assert n_in == 96
    finally:
        assert s.stop() == 0


# -- clients that go away -----------------------------------------------------------

def test_clients_that_vanish_do_not_hurt(tmp_path):
    """Clients that close the connection while their message is processed, or
    right after opening a live stream, leave a server that answers, stores
    and processes every message it read, and stops cleanly (exit 0) even with
    live streams open."""
    s = PalabreServer(tmp_path / "data")
    s.start()
    try:
        for i in range(100):
            b = json.dumps({"customer": f"gone-{i}", "text": "#MonRésultat 75011"}).encode()
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
                c.sendall(raw_req("POST", "/api/v1/bots/monresultat/messages", RAW_API, b))
        for i in range(100):
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
                c.sendall(b"GET /webchat/stade/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if i % 2:
                    c.recv(100)
        assert s.get("/healthz").status == 200
        deadline = time.monotonic() + 20
        while s.count("SELECT count(*) FROM messages WHERE status = 'received'") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.count("SELECT count(*) FROM messages WHERE status = 'received'") == 0
        n_in = s.count("SELECT count(*) FROM messages WHERE direction = 'in'")
        assert n_in <= 100
        assert s.count("SELECT count(*) FROM messages WHERE direction = 'out'") == n_in
        # live streams open during a stop: they end, the process exits 0, quickly
        streams = []
        for _ in range(5):
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=20)
            conn.request("GET", "/webchat/stade/events")
            streams.append((conn, conn.getresponse()))
        t0 = time.monotonic()
        assert s.stop() == 0
        assert time.monotonic() - t0 < 10
        for conn, resp in streams:
            assert resp.status == 200
            assert resp.read().startswith(b"retry:")  # ended, not hanging
            conn.close()
    finally:
        s.stop()
