"""A local emulator of Twilio's Messages API for tests: a real HTTP server on loopback that
checks Basic auth and the form, records each message, answers 201 with a Message resource,
and can be told to fail the next requests."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class TwilioEmulator:
    """``with TwilioEmulator("ACtest", "token") as twilio: twilio.api_base`` …"""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token"):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        """Where the emulator listens."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def options(self, sender: str = "+15005550006") -> dict[str, Any]:
        """Channel options that point loket-twilio at this emulator."""
        return {"account_sid": self.account_sid, "auth_token": self.auth_token,
                "from": sender, "api_base": self.api_base}

    def __enter__(self) -> TwilioEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                path = f"/2010-04-01/Accounts/{emulator.account_sid}/Messages.json"
                expected = base64.b64encode(
                    f"{emulator.account_sid}:{emulator.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._answer(401, {"code": 20003, "message": "Authenticate",
                                       "status": 401})
                    return
                if self.path != path:
                    self._answer(404, {"code": 20404, "message": "The requested resource "
                                       "was not found", "status": 404})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with emulator._lock:
                    if emulator.fail_next > 0:
                        emulator.fail_next -= 1
                        self._answer(503, {"code": 20503, "message": "Service unavailable",
                                           "status": 503})
                        return
                for field in ("To", "From", "Body"):
                    if not form.get(field):
                        self._answer(400, {"code": 21604 if field == "To" else 21603,
                                           "message": f"A '{field}' is required",
                                           "status": 400})
                        return
                number = form["To"].removeprefix("whatsapp:")
                if not number.startswith("+") or not number[1:].isdigit():
                    self._answer(400, {"code": 21211, "message": f"The 'To' number "
                                       f"{form['To']} is not a valid phone number.",
                                       "status": 400})
                    return
                sid = "SM" + secrets.token_hex(16)
                record = {"sid": sid, "account_sid": emulator.account_sid, "to": form["To"],
                          "from": form["From"], "body": form["Body"], "status": "queued",
                          "status_callback": form.get("StatusCallback"),
                          "direction": "outbound-api", "num_segments": "1"}
                with emulator._lock:
                    emulator.messages.append(record)
                self._answer(201, {k: v for k, v in record.items() if k != "status_callback"})

        return Handler
