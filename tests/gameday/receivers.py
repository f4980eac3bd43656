"""Local HTTP receivers for webhooks and the Grafana annotation API (127.0.0.1:0, a thread each).

`behaviour`: "ok" answers 200 (Grafana's annotation API answers `{"id": n, "message": ...}`),
"fail" answers 500, "hang" holds every request until the receiver is closed (bounded: 60 s).
Every request is recorded (path, headers with lower-case names, body).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HOLD_S = 60.0


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    behaviour: str = "ok"
    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_receiver(behaviour: str = "ok") -> Receiver:
    receiver = Receiver(behaviour=behaviour)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                n = len(receiver.requests)
            if receiver.behaviour == "hang":
                receiver.released.wait(_HOLD_S)
                return
            status = 500 if receiver.behaviour == "fail" else 200
            answer = json.dumps({"id": n, "message": "Annotation added"} if status == 200 else {"error": "boom"})
            data = answer.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.server = server
    threading.Thread(target=server.serve_forever, name=f"receiver-{behaviour}", daemon=True).start()
    return receiver
