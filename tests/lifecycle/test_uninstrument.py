"""`uninstrument()` really undoes `instrument()`: run in a fresh interpreter, since both are process-global."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import json, httpx, httpx2
    import majordomo_otel
    from majordomo_otel.sim import SimServer

    def majordomo_headers(server, index):
        names = (name.lower() for name, _ in server.requests[index].headers)
        return sorted(name for name in names if name.startswith("x-majordomo-"))

    body = {"model": "gpt-4o-mini", "messages": []}
    explicit = {"X-Majordomo-Feature": "f"}
    with SimServer.in_thread() as gateway, SimServer.in_thread() as other:
        seen = {}
        majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")
        httpx2.post(other.url + "/v1/chat/completions", json=body, headers=explicit)
        seen["instrumented, other host"] = majordomo_headers(other, 0)
        majordomo_otel.uninstrument()
        httpx2.post(other.url + "/v1/chat/completions", json=body, headers=explicit)
        httpx.post(other.url + "/v1/chat/completions", json=body, headers=explicit)
        seen["uninstrumented, httpx2"] = majordomo_headers(other, 1)
        seen["uninstrumented, httpx"] = majordomo_headers(other, 2)
        majordomo_otel.instrument(gateway_url=gateway.url, api_key="mdm_sk_test")
        with majordomo_otel.tags(feature="again"):
            httpx2.post(gateway.url + "/v1/chat/completions", json=body)
        seen["instrumented again, gateway"] = majordomo_headers(gateway, 0)
    print(json.dumps(seen))
    """
)


def test_uninstrument_removes_the_scoping_and_instrument_works_again() -> None:
    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "instrumented, other host": [],
        "uninstrumented, httpx2": ["x-majordomo-feature"],
        "uninstrumented, httpx": ["x-majordomo-feature"],
        "instrumented again, gateway": ["x-majordomo-feature", "x-majordomo-key"],
    }
