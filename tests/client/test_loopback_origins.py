"""`localhost`, `127.0.0.1` and `::1` on the gateway's scheme and port are the gateway: a client pointed at
any of them gets the key and tags (`MAJORDOMO_GATEWAY_URL=http://localhost:7680` is the default).
Another port, scheme or host never is."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import aiohttp
import httpx2
import pytest

import majordomo_otel
from majordomo_otel._settings import origin_of
from majordomo_otel.propagator import configure
from majordomo_otel.sim import SimServer

from ._helpers import majordomo_headers
from .conftest import API_KEY

TAGGED = [{"x-majordomo-feature": "local", "x-majordomo-key": API_KEY}]


@pytest.mark.parametrize(
    ("configured", "requested", "same"),
    [
        ("http://localhost:7680", "http://127.0.0.1:7680", True),
        ("http://127.0.0.1:7680", "http://localhost:7680/v1/chat/completions", True),
        ("http://localhost:7680", "http://[::1]:7680", True),
        ("http://[::1]:7680", "http://127.0.0.1:7680", True),
        ("http://LocalHost:7680", "http://localhost:7680", True),
        ("http://localhost", "http://127.0.0.1:80", True),
        ("http://localhost:7680", "http://127.0.0.1:7681", False),
        ("http://localhost:7680", "https://127.0.0.1:7680", False),
        ("http://localhost:7680", "http://127.0.0.2:7680", False),
        ("http://localhost:7680", "http://0.0.0.0:7680", False),
        ("http://localhost:7680", "http://localhost.example.com:7680", False),
        ("http://127.0.0.1:7680", "http://gateway.internal:7680", False),
    ],
)
def test_same_origin(configured: str, requested: str, same: bool) -> None:
    assert (origin_of(configured) == origin_of(requested)) is same


async def _send(client: str, url: str) -> None:
    with majordomo_otel.tags(feature="local"):
        if client == "aiohttp":
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                await response.read()
        else:
            async with httpx2.AsyncClient() as http:
                await http.get(url)


def _port(server: SimServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.fixture
def gateway_named(gateway: SimServer) -> Iterator[Callable[[str, int], None]]:
    """Configure the gateway origin as `http://{host}:{port}`; the package's gateway again afterwards."""
    yield lambda host, port: configure([f"http://{host}:{port}"], API_KEY)
    configure([gateway.url], API_KEY)


@pytest.fixture(scope="module")
def ipv6_gateway() -> Iterator[SimServer]:
    with SimServer.in_thread(host="::1") as server:
        yield server


@pytest.mark.parametrize("client", ["aiohttp", "httpx2"])
async def test_configured_localhost_covers_127_0_0_1(exporter, gateway: SimServer, gateway_named, client: str) -> None:
    gateway_named("localhost", _port(gateway))
    await _send(client, f"http://127.0.0.1:{_port(gateway)}")
    assert majordomo_headers(gateway) == TAGGED


@pytest.mark.parametrize("client", ["aiohttp", "httpx2"])
async def test_configured_127_0_0_1_covers_localhost(exporter, gateway: SimServer, gateway_named, client: str) -> None:
    gateway_named("127.0.0.1", _port(gateway))
    await _send(client, f"http://localhost:{_port(gateway)}")
    assert majordomo_headers(gateway) == TAGGED


@pytest.mark.parametrize("client", ["aiohttp", "httpx2"])
async def test_configured_localhost_covers_ipv6_loopback(
    exporter, ipv6_gateway: SimServer, gateway_named, client: str
) -> None:
    ipv6_gateway.clear()
    gateway_named("localhost", _port(ipv6_gateway))
    await _send(client, f"http://[::1]:{_port(ipv6_gateway)}")
    assert majordomo_headers(ipv6_gateway) == TAGGED


@pytest.mark.parametrize("client", ["aiohttp", "httpx2"])
async def test_another_loopback_port_is_not_the_gateway(
    exporter, gateway: SimServer, other_host: SimServer, gateway_named, client: str
) -> None:
    gateway_named("localhost", _port(gateway))
    await _send(client, other_host.url)
    assert majordomo_headers(other_host) == [{}]
