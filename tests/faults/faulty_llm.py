"""A real HTTP server speaking the OpenAI chat-completions protocol that misbehaves on
cue: each request takes the next behaviour from a script (the last one repeats)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK = ("ok", '{"score": 7}')


def _completion(content: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "faulty",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}}).encode()


class FaultyLLM:
    """Behaviours: ("ok", content), ("status", code), ("retry_after", seconds), ("hang", seconds),
    ("invalid_json",), ("truncated",), ("no_choices",)."""

    def __init__(self, script: list[tuple] | None = None):
        self.script = list(script or [OK])
        self.requests: list[tuple[float, dict]] = []
        self.headers: list[dict[str, str]] = []
        self.echo_authorization = False  # error bodies quote the Authorization header, as careless servers do
        self.lock = threading.Lock()
        faulty = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            def do_GET(self):  # /v1/models: the readiness probe
                self._send(200, json.dumps({"object": "list", "data": [{"id": "faulty"}]}).encode())

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with faulty.lock:
                    faulty.requests.append((time.monotonic(), json.loads(body or b"{}")))
                    faulty.headers.append({k.lower(): v for k, v in self.headers.items()})
                    behaviour = faulty.script.pop(0) if len(faulty.script) > 1 else faulty.script[0]
                kind = behaviour[0]
                if kind == "ok":
                    self._send(200, _completion(behaviour[1]))
                elif kind == "status":
                    message = f"refused {self.headers.get('Authorization')}" if faulty.echo_authorization else "injected"
                    self._send(behaviour[1], json.dumps({"error": {"message": message, "type": "server_error"}})
                               .encode())
                elif kind == "retry_after":
                    self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": str(behaviour[1])})
                elif kind == "hang":
                    time.sleep(behaviour[1])
                    self._send(200, _completion('{"score": 7}'))
                elif kind == "invalid_json":
                    self._send(200, b'{"choices": [ this is not json')
                elif kind == "no_choices":
                    self._send(200, b'{"id": "x", "object": "chat.completion", "choices": []}')
                elif kind == "truncated":
                    whole = _completion('{"score": 7}')
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(whole)))
                    self.end_headers()
                    self.wfile.write(whole[: len(whole) // 3])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyLLM:
        self.thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.server.shutdown()
        self.server.server_close()
