#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the unit tests' samples.

Run from anywhere: `python3 fuzz/make_corpus.py`. The result is committed; CI does not run this.
Every seed is copied or derived from a test sample (the email testdata, the JSON bodies and
tables of the providers' tests, the config tests' files), in the input format of its target (see
each target's doc comment): a settings byte before a Slack body, line-separated fields for the
signature and egress targets, and so on.
"""

import base64
import hashlib
import hmac
import json
import re
import shutil
import struct
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
PROVIDERS = ROOT / "providers" / "src"


def source(path):
    return (ROOT / path).read_text()


def unescape(raw):
    """Decodes the escapes of a Rust string literal, line continuations included."""
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}

    def replace(match):
        body = match.group(1)
        if body[0] in simple:
            return simple[body[0]]
        if body.startswith("u{"):
            return chr(int(body[2:-1], 16))
        if body.startswith("x"):
            return chr(int(body[1:], 16))
        return ""  # a backslash-newline continuation swallows the following whitespace

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|\n\s*|.)", replace, raw, flags=re.S)


def rust_strings(path):
    """The plain `"..."` literals of a Rust file, escapes decoded."""
    text = re.sub(r"'(?:\\.|[^'\\])'", "''", source(path))  # char literals such as '"'
    return [unescape(m.group(1)) for m in re.finditer(r'(?<![#\w])"((?:[^"\\]|\\.)*)"', text, re.S)]


def raw_strings(path):
    """The `r#"..."#` and `br#"..."#` literals of a Rust file."""
    return [m.group(1) for m in re.finditer(r'b?r#"(.*?)"#', source(path), re.S)]


WRITTEN = set()


def write(target, name, data):
    """Writes one seed (a content already written for `target` is skipped)."""
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    if (target, data) in WRITTEN:
        return
    WRITTEN.add((target, data))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "seed"
    (directory / safe).write_bytes(data)


def sign(secret, prefix, ts, body):
    return hmac.new(secret.encode(), f"{prefix}:{ts}:".encode() + body, hashlib.sha256).hexdigest()


def webhook():
    bodies = {
        "minimal": {"id": "evt-1", "target": {"chatId": "chat-1"}, "sender": {"userId": "user-1"}, "text": "hello"},
        "full": {
            "id": " evt-9 ",
            "target": {"chatId": "c", "isDirect": True, "threadId": "t", "userId": "u", "messageId": "m"},
            "sender": {"userId": "u", "username": "ann", "displayName": "Ann Lee", "isBot": False},
            "text": "  line one\n\tline two  ",
            "rawText": "raw",
            "attachments": [
                {"filename": "a.txt", "sizeBytes": 3, "bufferBase64": base64.b64encode(b"abc").decode()},
                {"filename": "b.bin", "providerFileId": "f1", "mimeType": "x/y"},
            ],
            "receivedAt": "2024-05-01T12:30:00.123Z",
            "extraField": {"ignored": True},
        },
        "raw_text_fallback": {"target": {"chatId": "c"}, "sender": {"userId": "u", "username": "ann"}, "rawText": "from raw"},
        "click": {"id": "e", "target": {"chatId": "c"}, "sender": {"userId": "u"},
                  "interaction": {"id": "i-1", "token": "h4ndle", "kind": "button"}},
        "approve": {"id": "e", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "/approve abc"},
        "answer": {"id": "e", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "/answer abc the blue one"},
        "stop": {"target": {"chatId": "c", "threadId": "t"}, "sender": {"userId": "u"}, "text": "/stop"},
        "received_offset": {"id": "e", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "x",
                            "receivedAt": "2024-05-01t12:30:00+02:00"},
        "bad_size": {"id": "e", "target": {"chatId": "c"}, "sender": {"userId": "u"}, "text": "x",
                     "attachments": [{"filename": "a", "sizeBytes": 2, "bufferBase64": "YWJj"}]},
        "bad_target": {"target": "chat", "sender": {"userId": "u"}, "text": "x"},
    }
    for name, body in bodies.items():
        write("webhook_inbound", name, json.dumps(body))
    for body in raw_strings("providers/src/webhook/verify.rs") + raw_strings("providers/src/signature.rs"):
        write("webhook_inbound", "raw_" + hashlib.sha1(body.encode()).hexdigest()[:8], body)


def signatures():
    body = b'{"target":{"chatId":"c"},"sender":{"userId":"u"},"text":"hi"}'
    ts = "1700000000"
    # Slack's documented example request (slack/verify.rs).
    doc = dict(re.findall(r'const (DOC_\w+): &str = "([^"]*)";', source("providers/src/slack/verify.rs")))
    cases = {
        "webhook_valid": (0, ts, "v1=" + sign("fuzz-secret-new", "v1", ts, body), body),
        "slack_valid": (1, ts, "v0=" + sign("fuzz-secret-old", "v0", ts, body), body),
        "known_vector": (0, ts, "v1=7eb31e0ae593e6cd33d3487be9464bfb2addeaff0032ce0728d6cf276a7b430b",
                         b'{"hello":"world"}'),
        "slack_doc": (1, doc["DOC_TIMESTAMP"], doc["DOC_SIGNATURE"], doc["DOC_BODY"].encode()),
        "expired": (0x7f, "1699999699", "v1=" + sign("fuzz-secret-new", "v1", "1699999699", body), body),
        "garbled_ts": (0, "17e8", "v1=00", body),
        "bearer": (8, ts, "Bearer relay-secret", b""),
        "uppercase": (2, ts, "V1=" + sign("fuzz-secret-new", "v1", ts, body).upper(), body),
        "blank": (4, "  ", " ", b""),
    }
    for name, (mode, ts_value, sig, payload) in cases.items():
        write("signature_headers", name, bytes([mode]) + ts_value.encode() + b"\n" + sig.encode() + b"\n" + payload)


def slack():
    def callback(event, team="T1"):
        return {"token": "x", "team_id": team, "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1",
                "event_time": 1700000000, "event": event}

    def mention(text, channel="C1"):
        return {"type": "app_mention", "user": "U1", "text": text, "ts": "1700000000.000100", "channel": channel}

    def message(text, channel_type="channel", channel="C1", **extra):
        event = {"type": "message", "user": "U1", "text": text, "ts": "1700000000.000200", "channel": channel,
                 "channel_type": channel_type}
        event.update(extra)
        return event

    def block_actions(actions):
        return {
            "type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": "U1", "username": "ann", "name": "ann.lee", "team_id": "T1"},
            "container": {"type": "message", "message_ts": "1700000001.000300", "channel_id": "C1", "is_ephemeral": False},
            "channel": {"id": "C1", "name": "general"},
            "message": {"type": "message", "ts": "1700000001.000300", "thread_ts": "1700000000.000100", "text": "Approve?"},
            "response_url": "https://hooks.slack.com/actions/T1/1/x",
            "actions": actions,
        }

    def form(payload):
        return urllib.parse.urlencode({"payload": json.dumps(payload)})

    bodies = {
        "url_verification": '{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}',
        "mention": json.dumps(callback(mention("<@UBOT> summarize &lt;this&gt; &amp; that"))),
        "mention_colon": json.dumps(callback(mention("<@UBOT>: /approve abc123"))),
        "dm": json.dumps(callback(message("hello there", "im", "D1", user_profile={"display_name": "Ann"}))),
        "thread_reply": json.dumps(callback(message("more <@UOTHER>", "channel", "C1", thread_ts="1700000000.000100"))),
        "bot_message": json.dumps(callback(message("from a bot", "channel", "C1", bot_id="B1"))),
        "deleted": json.dumps(callback({"type": "message", "subtype": "message_deleted", "channel": "D1", "ts": "1.2",
                                        "hidden": True})),
        "file_share": json.dumps(callback(message("see file", "im", "D1", subtype="file_share"))),
        "reaction": json.dumps(callback({"type": "reaction_added", "user": "U1", "reaction": "tada"})),
        "other_team": json.dumps(callback(mention("<@UBOT> hi"), team="T2")),
        "stop": json.dumps(callback(message("/stop", "im", "D1"))),
        "block_actions": form(block_actions([{"action_id": "oc_0", "block_id": "oc_row_0", "value": "h-abc:y",
                                              "type": "button", "action_ts": "1700000002.1"}])),
        "block_actions_many": form(block_actions([{"value": "h1:y"}, {"value": "v" * 40}, {"action_id": "url"}])),
        "view_submission": form({"type": "view_submission", "team": {"id": "T1"}, "user": {"id": "U1"}, "view": {}}),
        "slash_command": "token=x&team_id=T1&channel_id=C1&user_id=U1&command=%2Fcowork&text=hi&trigger_id=1.2",
        "not_slack": "hello=world",
    }
    for index, (name, body) in enumerate(bodies.items()):
        # Settings byte: cycle through the combinations, the workspace bit (8) mostly set.
        write("slack_inbound", name, bytes([(index % 8) | 8]) + body.encode())
    write("slack_inbound", "mention_no_bot_id", bytes([0]) + bodies["mention"].encode())


def email():
    for path in sorted((PROVIDERS / "email" / "testdata").glob("*.eml")):
        write("email_mime", path.stem, path.read_bytes())
    relays = {
        "full": {
            "messageId": "<m2@mail.example.org>",
            "from": {"email": "Ann.Lee@Example.org", "name": "Ann Lee"},
            "to": "agent@cowork.example.com",
            "subject": "Re: Plan",
            "text": "Sounds good.\n\n> quoted",
            "threadId": "relay-thread-1",
            "inReplyTo": "<m1@mail.example.org>",
            "references": ["<m0@mail.example.org>", "m1@mail.example.org"],
            "attachments": [{"filename": "a.txt", "mimeType": "text/plain", "sizeBytes": 3,
                             "contentBase64": base64.b64encode(b"abc").decode()}],
            "unknownRelayField": True,
        },
        "aliases": {
            "id": "m3@x", "sender": "\"Lee, Ann\" <ann@example.org>", "body": "Hello", "threadId": "relay-thread-1",
            "references": "<a@x> <b@x>",
            "attachments": [{"name": "b.bin", "contentType": "application/x-thing", "size": 2,
                             "bufferBase64": base64.b64encode(b"hi").decode()}],
        },
        "html_only": {"id": "m4@x", "from": "ann@example.org", "html": "<p>Hi <b>there</b></p>", "threadId": "<t-9@x>"},
        "headers_object": {"id": "m5@x", "from": "ann@example.com", "text": "hi",
                           "headers": {"Auto-Submitted": "auto-replied", "Authentication-Results": [
                               "mx.example.net; dmarc=pass header.from=example.com"]}},
        "headers_pairs": {"id": "m6@x", "from": "ann@example.com", "text": "/approve Ab3dE9xYz1:y",
                          "headers": [["List-Id", "<list.example.com>"], ["Precedence", "bulk"]]},
        "number_reply": {"id": "m7@x", "from": "ann@example.org", "text": "2",
                         "inReplyTo": "<ocw.0.0b7e5d3c1a9f8e7d6c5b4a3928170615@cowork.example.com>"},
        "bad_id": {"id": "bad id", "from": "a@b.c", "text": "x"},
        "too_many": {"id": "a@x", "from": "a@b.c", "attachments": [{"filename": f"{i}.txt"} for i in range(21)]},
    }
    for name, body in relays.items():
        write("email_relay_json", name, json.dumps(body))

    helpers = [
        "Ann@Example.COM", "<ann@example.com>", "Ann Lee <ann@example.com>", "\"Lee, Ann\" <ann@example.com>",
        "a b@example.com", "ann@example.com\r\nBcc: x@y.z", "Ann\r\nBcc: evil@x.y", " <abc@example.com> ",
        "<a@x> (comment) <b@x>\r\n <c@x>", "a@x b@x,c@x", "<a@x> <bad id> <b@x",
        "Re[2]: AW: Plan", "RE: re:Plan", "Ratio: 3:1", "Fwd: Plan",
        '{"messageId":"<m@x>","references":["ok@x","bad\\r\\nBcc: y@z"]}',
        '{"messageId":"m2@x","references":["m1@x","m2@x"],"subject":"Plan","senderName":"Ann"}',
    ]
    for index, text in enumerate(helpers):
        write("email_helpers", f"sample_{index:02}", text)

    html = rust_strings("providers/src/email/html.rs")
    for index, text in enumerate(s for s in html if "<" in s or " " in s):
        write("email_html_to_text", f"test_{index:02}", text)
    for path in ("html_only.eml", "gmail_reply.eml", "outlook_reply.eml"):
        raw = (PROVIDERS / "email" / "testdata" / path).read_text(errors="replace")
        body = raw.split("\n\n", 1)[-1]
        write("email_html_to_text", "eml_" + path, body)


def retry_after():
    now = 784_111_777 // 4
    values = ["120", " 7 ", "Sun, 06 Nov 1994 08:50:07 GMT", "Sun, 06 Nov 1994 08:00:00 GMT",
              "Thu, 01 Jan 1970 00:00:00 GMT", "Tue, 29 Feb 2000 12:00:00 GMT", "soon", "-5", "1.5",
              "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT", "", "99999999999999999999999"]
    for index, value in enumerate(values):
        write("retry_after", f"value_{index:02}", struct.pack("<I", now) + value.encode())


def commands():
    texts = ["/approve abc123", "  /deny   abc123 ", "/answer abc123 the blue one", "/stop", "  /ABORT \n",
             "/stop now please", "please /stop", "/allow Ab3dE9xYz1:y", "/reject Ab3dE9xYz1", "hello /approve x",
             "/approve", "/answer abc", "/help me", "Ab3dE9xYz1:2", "Ab3dE9xYz1:r", "first|second|third",
             "/answer Ab3dE9xYz1 2"]
    for index, text in enumerate(texts):
        write("interaction_commands", f"text_{index:02}", text)


def markdown():
    mrkdwn = [s for s in rust_strings("providers/src/slack/mrkdwn.rs") if s.strip()]
    for index, text in enumerate(mrkdwn):
        write("slack_mrkdwn", f"table_{index:02}", text)
    samples = [s for s in rust_strings("providers/src/email/markdown.rs") if len(s) > 3]
    for index, text in enumerate(samples + mrkdwn[:20]):
        write("markdown_html", f"sample_{index:02}", text)
    write("markdown_html", "table_tasks", "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n- [ ] todo\n- [x] done\n\n3. three\n\n"
          "```rust\nfn main() {}\n```\n\n> quote\n\n---\n\n~~gone~~ <b>raw</b> &copy; <mail@example.com>")


def split():
    words = "word " * 100
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8
    block = "```\n" + "fn f() {}\n" * 40 + "```"
    code = "\n".join(f'    println!("{i}");' for i in range(60))
    cases = {
        "paragraphs": (60, ("a " * 20).strip() + "\n\n" + ("b " * 15).strip() + "\nshort line\n" + "c" * 30),
        "lines": (100, "\n".join(f"line number {i:02}" for i in range(40))),
        "words": (50, words),
        "one_word": (100, "é" * 250),
        "fence_moves": (120, "intro " * 12 + "\n\n```rust\n" + "\n".join(f"let x{i} = {i};" for i in range(6))
                        + "\n```\n\nafter"),
        "long_fence": (200, "Here:\n```rust\n" + code + "\n```\nDone."),
        "unclosed_fence": (80, "```\n" + "code line\n" * 30),
        "slack_limit": (1000, "\n\n".join(block if i % 7 == 3 else paragraph for i in range(9))),
        "small_limit": (3, "tiny limit " * 10),
        "crlf": (45, "line one\r\nline two\r\n\r\n" * 6),
    }
    for name, (limit, text) in cases.items():
        write("slack_split", name, struct.pack("<H", limit) + text.encode())


def egress():
    rules = {"open()": ("", ""), "private()": ("p", ""), "wildcard()": ("", "*.example.com")}
    answers = {
        "mixed-loop.test": "127.0.0.1,10.0.0.1", "public-loop.test": "93.184.216.34,127.0.0.1",
        "meta.test": "169.254.169.254", "meta6.test": "fd00:ec2::254", "meta-mixed.test": "93.184.216.34,169.254.169.254",
    }
    text = source("providers/src/egress/tests/hostile.rs")
    for index, match in enumerate(re.finditer(r'\("([^"]+)", (\w+\(\)|only\(&\[([^\]]*)\]\))', text)):
        url, rule, only = match.group(1), match.group(2), match.group(3)
        flags, allow = rules.get(rule, ("", ""))
        if only is not None:
            allow = ",".join(re.findall(r'"([^"]+)"', only))
        try:
            host = urllib.parse.urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        resolved = answers.get(host, "93.184.216.34")
        write("egress_url", f"hostile_{index:03}", f"{url}\n{flags}\n{allow}\n{resolved}")
    good = [
        ("https://hooks.example.com/in?x=1", "", "", "93.184.216.34"),
        ("https://api.example.com/", "", "*.example.com,hooks.test", "93.184.216.34"),
        ("http://localhost:8080/hook", "p", "", "127.0.0.1"),
        ("http://[::1]:9/", "p", "", ""),
        ("https://10.1.2.3/", "p", "", ""),
        ("https://hooks.test/", "", "", "!"),
        ("https://hooks.test/", "", "", "?"),
        ("https://hooks.test/", "", "", ""),
        ("https://[2606:4700::1]/", "", "", ""),
        ("https://xn--bcher-kva.example/", "", "*.example", "93.184.216.34"),
    ]
    for index, (url, flags, allow, resolved) in enumerate(good):
        write("egress_url", f"allowed_{index:02}", f"{url}\n{flags}\n{allow}\n{resolved}")


def config():
    sources = ["gateway/src/config/tests.rs", "gateway/src/config/contracts.rs", "cloud/src/config/contracts.rs",
               "cloud/src/config/server.rs", "cloud/src/config/auth.rs"]
    seen = set()
    for path in sources:
        for raw in raw_strings(path):
            try:
                json.loads(raw)
            except ValueError:
                continue
            if "file:" in raw or raw in seen:
                continue
            seen.add(raw)
            write("config_file", "test_" + hashlib.sha1(raw.encode()).hexdigest()[:10], raw)
    full = {
        "gateway": {
            "server": {"host": "127.0.0.1", "port": 8790, "maxRequestBodyBytes": 1048576,
                       "trustedProxyCidrs": "10.0.0.0/8, 192.168.1.1", "rateLimit": {"perSecond": 10, "burst": 20}},
            "timeouts": {"shutdownDrainMs": 1000, "smtpMs": 5000, "webhookDeliveryMs": 1},
            "logging": {"level": "debug"},
            "delivery": {"maxAttempts": 5},
            "providers": [
                {"kind": "webhook", "id": "hook", "credentials": {"sharedSecret": ["a", "b"]},
                 "settings": {"deliveryUrl": "https://hooks.example.com/in", "deliveryUrlAllowedHosts": ["*.example.com"]}},
                {"kind": "slack", "id": "slack", "credentials": {"botToken": "xoxb-1", "signingSecret": "s"},
                 "settings": {"respondTo": "all", "botUserId": "UBOT"}},
                {"kind": "email", "id": "mail", "credentials": {"inboundSecret": "r", "smtpPassword": "p"},
                 "settings": {"from": "Agent <agent@example.com>", "smtpHost": "smtp.example.com",
                              "allowedSenders": ["@example.com"], "requireAuthenticationResults": ["dmarc"]}},
                {"kind": "fake", "id": "fake", "enabled": False},
            ],
        },
        "cloud": {"runtime": "demo", "sessionConcurrency": 4, "demo": {"deltaIntervalMs": 5},
                  "agents": {"build": {"runtime": "demo"}}, "allowRemoteApprovalResponses": True},
    }
    write("config_file", "full", json.dumps(full, indent=1))


def sse():
    streams = [
        b": connected\n\nid: 1\nevent: assistant.message\ndata: {\"a\":\r\ndata: 1}\n\n: keep-alive\n\nid: 2\ndata: x\n\n",
        "data: é\n\n".encode(),
        b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n",
        b"event: session.idle\nid: 42\ndata: {}\n\nretry: 1000\ndata:no space\ndata:  two spaces\n\ndata: unterminated",
    ]
    for index, stream in enumerate(streams):
        cuts = [3, 7, 1]
        write("sse_streams", f"stream_{index}", bytes([len(cuts)]) + bytes(cuts) + stream)


def traceparent():
    for index, value in enumerate(s for s in rust_strings("cloud-client/src/trace.rs") if "-" in s or s == ""):
        write("traceparent", f"test_{index:02}", value)


def main():
    # Regenerate the seeds; inputs found by fuzzing (`regression_*`) stay.
    for path in sorted(CORPUS.glob("*/*")) if CORPUS.exists() else []:
        if not path.name.startswith("regression_"):
            path.unlink()
    webhook()
    signatures()
    slack()
    email()
    retry_after()
    commands()
    markdown()
    split()
    egress()
    config()
    sse()
    traceparent()
    for directory in sorted(CORPUS.iterdir()):
        print(f"{directory.name}: {len(list(directory.iterdir()))} seeds")


if __name__ == "__main__":
    main()
