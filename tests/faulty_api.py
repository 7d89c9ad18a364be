"""An OpenAI-compatible server that fails on purpose: a seeded mix of 429 (with and without
Retry-After), 500/502/503, requests it never answers, reset connections, truncated bodies and
streams, malformed JSON and wrong content types, between correct answers.

Plain sockets, one thread per connection, so every fault is real on the wire (a reset is a TCP
RST, a truncated body is a short read). A correct answer is a pure function of the request (the
last number in the last user message), so an answer given to the wrong request shows; every
answer sent whole is entered in :attr:`FaultyAPI.ledger` with the tokens it billed.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

FAULTS = (
    "429",
    "429-retry-after",
    "500",
    "502",
    "503",
    "hang",
    "reset",
    "truncated",
    "malformed-json",
    "wrong-content-type",
)


@dataclass
class Billed:
    prompt: str
    answer: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class FaultyAPI:
    """``fault_rate`` of the completion requests fail, each with a fault drawn from ``faults``
    (seeded). ``hang_s``: how long a hung request holds its connection before closing it (set
    the client's timeout below it)."""

    fault_rate: float = 0.3
    seed: int = 0
    faults: tuple[str, ...] = FAULTS
    hang_s: float = 2.0
    model: str = "m"
    delay_s: float = 0.0
    """How long each correct answer takes (lets a test kill its client in the middle of a run)."""
    ledger: list[Billed] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    received: list[tuple[str, str]] = field(default_factory=list)
    """(API key, text) of every completion prompt and every embedded text, as it arrives: the
    key tells which client process asked (a test gives each its own)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    # -- the wire --------------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (
                        int(h.split(":", 1)[1])
                        for h in lines
                        if h.lower().startswith("content-length:")
                    ),
                    0,
                )
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                key = next(
                    (
                        h.split(":", 1)[1].strip().removeprefix("Bearer ")
                        for h in lines
                        if h.lower().startswith("authorization:")
                    ),
                    "",
                )
                if not self._answer(conn, lines[0], body, key):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _send(
        self, conn: socket.socket, status: str, body: bytes, ctype: str, extra: str = ""
    ) -> None:
        conn.sendall(
            f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
            f"{extra}\r\n".encode()
            + body
        )

    def _answer(self, conn: socket.socket, request_line: str, body: bytes, key: str = "") -> bool:
        """Answer one request; False when the connection is to be dropped."""
        if request_line.startswith("GET /v1/models"):
            data = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            self._send(conn, "200 OK", json.dumps(data).encode(), "application/json")
            return True
        if request_line.startswith("POST /v1/embeddings"):
            self._embed(conn, json.loads(body), key)
            return True
        if not request_line.startswith("POST /v1/chat/completions"):
            self._send(
                conn,
                "404 Not Found",
                b'{"error": {"message": "no such route"}}',
                "application/json",
            )
            return True
        request = json.loads(body)
        with self._lock:
            fault = self._rng.choice(self.faults) if self._rng.random() < self.fault_rate else "ok"
            self.outcomes.append(fault)
            self.received.append((key, _last_user_text(request)))
        return self._reply(conn, fault, request)

    def _embed(self, conn: socket.socket, request: dict[str, Any], key: str) -> None:
        """Vectors that are a pure function of the text: hashed word counts, unit length."""
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        with self._lock:
            self.received.extend((key, text) for text in texts)
        time.sleep(self.delay_s)
        data = []
        for i, text in enumerate(texts):
            vector = [0.0] * EMBED_DIM
            for word in re.findall(r"\w+", text.lower()):
                vector[zlib.crc32(word.encode()) % EMBED_DIM] += 1.0
            norm = sum(v * v for v in vector) ** 0.5 or 1.0
            data.append(
                {"object": "embedding", "index": i, "embedding": [v / norm for v in vector]}
            )
        words = sum(len(t.split()) for t in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": request.get("model", self.model),
            "usage": {"prompt_tokens": words, "total_tokens": words},
        }
        self._send(conn, "200 OK", json.dumps(payload).encode(), "application/json")

    def _reply(self, conn: socket.socket, fault: str, request: dict[str, Any]) -> bool:
        error = json.dumps(
            {"error": {"message": f"injected {fault}", "type": "server_error"}}
        ).encode()
        if fault.startswith("429"):
            extra = "retry-after: 0\r\n" if fault == "429-retry-after" else ""
            self._send(conn, "429 Too Many Requests", error, "application/json", extra)
            return True
        if fault in ("500", "502", "503"):
            reason = {
                "500": "Internal Server Error",
                "502": "Bad Gateway",
                "503": "Service Unavailable",
            }
            self._send(conn, f"{fault} {reason[fault]}", error, "application/json")
            return True
        if fault == "hang":
            time.sleep(self.hang_s)
            return False
        if fault == "reset":
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if fault == "malformed-json":
            self._send(conn, "200 OK", b'{"id": "x", "choices": [{"mess', "application/json")
            return True
        if fault == "wrong-content-type":
            self._send(conn, "200 OK", b"<html><body>Gateway login</body></html>", "text/html")
            return True
        prompt = _last_user_text(request)
        time.sleep(self.delay_s)
        numbers = re.findall(r"\d+", prompt)
        answer = numbers[-1] if numbers else "none"
        words = sum(len(str(m.get("content", "")).split()) for m in request["messages"])
        usage = {"prompt_tokens": words, "completion_tokens": 1, "total_tokens": words + 1}
        if request.get("stream"):
            return self._stream(conn, fault, answer, usage, prompt)
        data = {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        payload = json.dumps(data).encode()
        if fault == "truncated":
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
            conn.sendall(head.encode() + payload[: len(payload) // 2])
            return False
        self._send(conn, "200 OK", payload, "application/json")
        with self._lock:
            self.ledger.append(Billed(prompt, answer, words, 1))
        return True

    def _stream(
        self, conn: socket.socket, fault: str, answer: str, usage: dict[str, int], prompt: str
    ) -> bool:
        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {
                "id": "chatcmpl-x",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(chunk)}\n\n".encode()

        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        conn.sendall(event({"role": "assistant", "content": ""}))
        if fault == "truncated":
            return False  # the stream stops before its text and its [DONE]
        conn.sendall(event({"content": answer}, "stop") + b"data: [DONE]\n\n")
        with self._lock:
            self.ledger.append(
                Billed(prompt, answer, usage["prompt_tokens"], usage["completion_tokens"])
            )
        return False

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()


EMBED_DIM = 64


def _last_user_text(request: dict[str, Any]) -> str:
    prompt = request["messages"][-1]["content"]
    if isinstance(prompt, list):  # content parts
        prompt = " ".join(p.get("text", "") for p in prompt)
    return str(prompt)
