"""The gateway's own span export: its two fixed-shape spans encoded straight to OTLP protobuf.

The OTel SDK's exporters spend ~60 µs of pure Python per span building protobuf objects and
grouping them by resource (bench/bench_spans.py measures it, bench/README.md has the figures).
The gateway's spans always have the same shape, one resource and one scope, so `encode` writes
their wire bytes directly (resource and scope once, attribute encodings cached), `queue` hands them
to one export thread without ever blocking a request, and `http_sender` / `grpc_sender` post the
batches as OTLP/HTTP or OTLP/gRPC.
`sdk` keeps the SDK route for a `SpanExporter` passed in by code (tests, the demo).
"""
