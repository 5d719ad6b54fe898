"""The recording webhook receiver of the backup drill (deploy/runbooks/backup-drill.sh).

    python3 drill_receiver.py PORT_FILE LOG_FILE SECRET

Listens on a free loopback port (written to PORT_FILE once it listens) and answers every POST
with 200 and `{"messageId": "<id>"}`: a new id for a new message (`text`, `buttons`, `file`),
the given `messageId` for an `edit`. Each delivery is appended to LOG_FILE as one JSON line:
`{"deliveryId", "headerDeliveryId", "idempotencyKey", "signatureOk", "type", "chatId",
"messageId", "text", "receivedAt"}`; `signatureOk` says whether the `v1` signature verifies
under SECRET. A body that is not JSON is logged with `"type": "invalid"` (and answered 200, so
the drill sees it instead of a retry loop).
"""
import hashlib
import hmac
import http.server
import itertools
import json
import os
import sys
import threading
import time

PORT_FILE, LOG_FILE, SECRET = sys.argv[1], sys.argv[2], sys.argv[3].encode()
LOCK = threading.Lock()
IDS = itertools.count(1)


def signature_ok(headers, body):
    timestamp = headers.get("x-open-cowork-gateway-webhook-timestamp", "")
    presented = headers.get("x-open-cowork-gateway-webhook-signature", "")
    expected = "v1=" + hmac.new(SECRET, b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(presented.encode(), expected.encode())


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            delivery = json.loads(body)
            if not isinstance(delivery, dict):
                raise ValueError("not an object")
        except ValueError:
            delivery = {"type": "invalid"}
        with LOCK:
            if delivery.get("type") == "edit" and delivery.get("messageId"):
                message_id = str(delivery["messageId"])
            else:
                message_id = "m-%d" % next(IDS)
            record = {
                "deliveryId": delivery.get("deliveryId"),
                "headerDeliveryId": self.headers.get("x-open-cowork-gateway-delivery-id"),
                "idempotencyKey": self.headers.get("idempotency-key"),
                "signatureOk": signature_ok(self.headers, body),
                "type": delivery.get("type"),
                "chatId": (delivery.get("target") or {}).get("chatId"),
                "messageId": message_id,
                "text": delivery.get("text"),
                "receivedAt": time.time(),
            }
            with open(LOG_FILE, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
                log.flush()
                os.fsync(log.fileno())
        answer = json.dumps({"messageId": message_id}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
open(LOG_FILE, "a", encoding="utf-8").close()
with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
