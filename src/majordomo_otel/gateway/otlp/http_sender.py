"""OTLP/HTTP: POST an encoded `ExportTraceServiceRequest` to …/v1/traces on one kept-alive connection.

Retries what the SDK's exporter retries (connection errors, 429, 502, 503, 504) with jittered
exponential backoff, within the export timeout; the backoff waits on the queue's stop event, so a
shutdown never sits out a retry. Errors name the status or the socket error, never a header.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import random
import socket
import ssl
import threading
import time
import zlib
from typing import Final
from urllib.parse import urlsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ..._otlp import TracesTarget
from .queue import ExportError

_RETRYABLE: Final = frozenset({429, 502, 503, 504})
_ATTEMPTS: Final = 6
_MAX_REPLY: Final = 1 << 20  # an ExportTraceServiceResponse is a few bytes; more is not read (or kept)


def rejected_spans(reply: bytes) -> int:
    """`partial_success.rejected_spans` of an OTLP reply (0 for an empty or non-protobuf body)."""
    if not reply:
        return 0
    try:
        return int(ExportTraceServiceResponse.FromString(reply).partial_success.rejected_spans)
    except Exception:
        return 0


def backoff_or_give_up(attempt: int, deadline: float, stopping: threading.Event) -> bool:
    """Wait before retry `attempt + 1`; False when out of attempts, of time, or shutting down."""
    delay = 2**attempt * random.uniform(0.8, 1.2)
    if attempt + 1 >= _ATTEMPTS or delay > deadline - time.monotonic():
        return False
    return not stopping.wait(delay)


class HttpSender:
    """Sends from the export thread only (the connection is not shared)."""

    def __init__(self, target: TracesTarget, user_agent: str) -> None:
        url = urlsplit(target.endpoint)
        try:
            port = url.port
        except ValueError:
            port = -1
        if url.scheme not in ("http", "https") or not url.hostname or port == -1:
            raise ValueError(
                f"span export endpoint {target.endpoint.rpartition('@')[2]!r} is not an http:// or https:// URL: set "
                "OTEL_EXPORTER_OTLP_ENDPOINT like http://localhost:4318 (or OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
            )
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname, port
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._timeout = target.timeout
        self._compression = target.compression
        self._context: ssl.SSLContext | None = None
        if self._https:
            try:
                self._context = ssl.create_default_context(cafile=target.certificate)
                if target.client_certificate:
                    self._context.load_cert_chain(target.client_certificate, target.client_key)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"span export TLS files unusable ({exc}): check OTEL_EXPORTER_OTLP_CERTIFICATE, "
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
                ) from exc
        headers = {"content-type": "application/x-protobuf", "user-agent": user_agent}
        headers.update({k.lower(): v for k, v in target.headers})
        if target.compression != "none":
            headers["content-encoding"] = target.compression
        self._headers = headers
        self._conn: http.client.HTTPConnection | None = None

    def send(self, body: bytes, stopping: threading.Event) -> int:
        """Post one request; returns the spans the receiver rejected, raises ExportError if it never took it."""
        if self._compression == "gzip":
            body = gzip.compress(body, compresslevel=6)
        elif self._compression == "deflate":
            body = zlib.compress(body)
        deadline = time.monotonic() + self._timeout
        attempt = 0
        stale_retried = False
        while True:
            reused = self._conn is not None
            try:
                status, reply = self._post(body, max(deadline - time.monotonic(), 0.05))
            except ssl.SSLCertVerificationError as exc:  # no retry will make the receiver trustworthy
                self.close()
                raise ExportError(f"TLS: {exc.verify_message} (OTEL_EXPORTER_OTLP_CERTIFICATE names the CA)") from None
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and not stale_retried and not stopping.is_set():  # an idle kept-alive connection closed
                    stale_retried = True
                    continue
                error, retry = f"{type(exc).__name__}: {exc}", True
            else:
                if 200 <= status < 300:
                    return rejected_spans(reply)
                error, retry = f"HTTP {status}", status in _RETRYABLE
            if not retry or not backoff_or_give_up(attempt, deadline, stopping):
                raise ExportError(error)
            attempt += 1

    def _post(self, body: bytes, timeout: float) -> tuple[int, bytes]:
        conn = self._conn
        if conn is None:
            if self._https:
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._context)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._conn = conn
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        conn.request("POST", self._path, body=body, headers=self._headers)
        response = conn.getresponse()
        reply = response.read(_MAX_REPLY)
        if not response.isclosed():  # more than we read, or the server closes: start afresh next time
            self.close()
        return response.status, reply

    def abort(self) -> None:
        """From another thread: end a request in flight now (its `send` fails), without waiting for its lock."""
        conn = self._conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
