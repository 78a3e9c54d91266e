"""A local OTLP/HTTP receiver for bench_gateway.py: accepts POST /v1/traces, counts, returns 200.

    python bench/_otlp_sink.py --port 4318

It does not decode the protobuf (an empty ExportTraceServiceResponse is an empty body), so the
gateway's export cost is measured against a receiver that costs almost nothing. Bench-only code.
"""

from __future__ import annotations

import argparse

import uvloop
from aiohttp import web

_COUNTS = {"requests": 0, "bytes": 0}


async def _traces(request: web.Request) -> web.Response:
    body = await request.read()
    _COUNTS["requests"] += 1
    _COUNTS["bytes"] += len(body)
    return web.Response(body=b"", content_type="application/x-protobuf")


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(_COUNTS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", _traces)
    app.router.add_get("/stats", _stats)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
