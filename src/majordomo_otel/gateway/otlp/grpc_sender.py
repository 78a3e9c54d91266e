"""OTLP/gRPC: the encoded `ExportTraceServiceRequest` goes out as the unary call's message bytes, unserialized.

The channel is made as the SDK's gRPC exporter makes it (plaintext or TLS from the same variables,
headers as metadata, compression); retries the same status codes with jittered exponential
backoff within the export timeout. A short reconnect backoff, so a restarted collector is found
again within seconds rather than gRPC's default two minutes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Final

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ..._otlp import TracesTarget
from .http_sender import backoff_or_give_up
from .queue import ExportError

_METHOD: Final = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_RETRYABLE: Final = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_COMPRESSION: Final = {"gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate}


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


class GrpcSender:
    def __init__(self, target: TracesTarget, user_agent: str) -> None:
        options = [
            ("grpc.primary_user_agent", user_agent),
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        compression = _COMPRESSION.get(target.compression, grpc.Compression.NoCompression)
        if target.insecure:
            self._channel = grpc.insecure_channel(target.endpoint, options=options, compression=compression)
        else:
            try:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=_read(target.certificate),
                    private_key=_read(target.client_key),
                    certificate_chain=_read(target.client_certificate),
                )
            except OSError as exc:
                raise ValueError(
                    f"span export TLS files unreadable ({exc}): check OTEL_EXPORTER_OTLP_CERTIFICATE, "
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY"
                ) from exc
            self._channel = grpc.secure_channel(target.endpoint, credentials, options=options, compression=compression)
        self._export = self._channel.unary_unary(
            _METHOD, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._metadata = tuple((k.lower(), v) for k, v in target.headers)
        self._timeout = target.timeout

    def send(self, body: bytes, stopping: threading.Event) -> int:
        """Export one request; returns the spans the receiver rejected, raises ExportError if it never took it."""
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            try:
                reply = self._export(body, metadata=self._metadata, timeout=max(deadline - time.monotonic(), 0.05))
                return int(reply.partial_success.rejected_spans)
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                error, retry = f"gRPC {code.name}: {details}", code in _RETRYABLE
            if not retry or not backoff_or_give_up(attempt, deadline, stopping):
                raise ExportError(error)
            attempt += 1

    def abort(self) -> None:
        """From another thread: cancel a call in flight now (closing a channel cancels its calls)."""
        self._channel.close()

    def close(self) -> None:
        self._channel.close()
