"""The proxy handler: route → auth → upstream → stream back unchanged, teeing bytes into a usage reader.

Unchanged except where the client asked for nothing the gateway adds: an OpenAI-compatible chat stream
that did not ask for usage is asked for it upstream, and what that adds is hidden again (stream_usage).

Every request that passes auth ends in exactly one `RequestRecord`, whatever happens: upstream
down, timeouts, a client that disconnects mid-stream, malformed bodies. The record is submitted to
the writer (non-blocking) and rendered onto the gateway span in a single `finally`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import aiohttp
from aiohttp import web
from yarl import URL

from .. import semconv as sc
from .. import wire
from .._redact import redact_url
from ..tags import Tags
from .auth import Authenticator
from .batch_urls import ResultsUrlFilter, results_base
from .budgets import NO_BUDGETS, Budgets, NoBudgets
from .credentials import ProviderCredentials
from .errors import error_body
from .headers import REQUEST_ID_HEADER, TRACE_ID_HEADER, downstream_headers, upstream_headers
from .keys import hash_provider_key
from .metrics import GatewayMetrics, NoMetrics
from .pricing import Pricer
from .providers import Family, ProviderTable, StreamUsage
from .record import RequestRecord, new_request_id
from .request_body import BodyFacts, read_body_facts
from .routes import SUPPORTED, Route, RouteCache, UnknownProvider, UnknownRoute
from .settings import Settings
from .span_plan import SpanPlan
from .spans import GatewaySpans
from .storable import make_storable, storable
from .store import RecordWriter
from .stream_usage import HiddenUsage, ask_for_usage
from .upstream_auth import (
    provider_auth_header,
    read_client_credentials,
    strip_majordomo_query_key,
    without_client_keys,
    without_majordomo_keys,
)
from .usage import NoUsageReader, UsageReader, UsageStatus, reader_for

log = logging.getLogger("majordomo_otel.gateway")

_CLIENT_KEYS_OFF: Final = (
    "this gateway does not accept provider keys from clients: send your Majordomo key (mdm_sk_...) as the "
    "SDK's api_key instead, and the gateway sends its own {provider} key"
)
_NO_PROVIDER_KEY: Final = (
    "this gateway holds no {provider} key to send for you: the operator sets {env}, or runs "
    "`majordomo credentials set {provider}`; or send your own {provider} key as the SDK's api_key "
    f"with the Majordomo key in {wire.KEY}"
)
#: What may change a response body on its way to the client (the usage chunk the gateway asked for, a batch's
#: `results_url`); everything else passes byte for byte.
BodyFilter = HiddenUsage | ResultsUrlFilter
CLIENT_CLOSED_REQUEST: Final = 499  # nginx's convention: the client went away before the response ended
_JSON: Final = {"Content-Type": "application/json"}


class Proxy:
    def __init__(
        self,
        settings: Settings,
        *,
        session: Callable[[], aiohttp.ClientSession],
        writer: RecordWriter,
        authenticator: Authenticator,
        pricer: Pricer,
        spans: GatewaySpans,
        metrics: GatewayMetrics | NoMetrics,
        table: ProviderTable,
        credentials: ProviderCredentials | None = None,
        budgets: Budgets | NoBudgets = NO_BUDGETS,
    ) -> None:
        self._settings = settings
        self._session = session
        self._writer = writer
        self._auth = authenticator
        self._pricer = pricer
        self._spans = spans
        self._metrics = metrics
        self._routes = RouteCache(table)
        self._credentials = credentials
        self._budgets = budgets
        self._hosts = {p.name: _host(p.origin or "") for p in table}  # span attribute, once, not per request

    # ---------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = request.headers
        path = request.rel_url.raw_path  # as sent: never decoded, see routes
        try:
            route = self._routes.resolve(request.method, path, headers)
        except UnknownProvider as exc:
            return _reply(None, 400, str(exc))
        except UnknownRoute:
            return _reply(
                None,
                404,
                f"no route for {request.method} {redact_url(path)}: no provider API has this path. Supported: "
                + "; ".join(SUPPORTED),
            )
        provider = route.provider
        family = provider.family

        creds = read_client_credentials(headers, request.query)
        key_id = None
        if self._settings.auth:
            outcome = await self._auth.check(creds.majordomo_key, origin=lambda: f"{request.scheme}://{request.host}")
            if not outcome.ok:
                return _reply(family, outcome.status, outcome.reason)
            key_id = outcome.key_id
        # Whose provider key goes upstream: the client's own (pass-through), else the one this gateway holds.
        upstream_key = None
        if creds.provider_key is not None:
            if not self._settings.client_provider_keys:
                return _reply(family, 403, _CLIENT_KEYS_OFF.format(provider=provider.name))
        elif self._credentials is not None and (stored := self._credentials.key_for(provider, key_id)) is not None:
            upstream_key = stored
        elif creds.in_provider_slot:  # a Majordomo key where the provider key goes, and none to put there
            return _reply(family, 401, _NO_PROVIDER_KEY.format(provider=provider.name, env=provider.credential_env))
        if not self._writer.accepting:  # serving it would leave it unbilled
            return _reply(family, 503, "the gateway cannot keep records right now (store and spool failing)")

        plan = self._spans.begin(headers)
        path_model = redact_url(route.path_model) if route.path_model is not None else None
        record = RequestRecord(
            id=new_request_id(),
            provider=route.provider.name,
            operation=route.operation,
            request_path=redact_url(path),
            request_method=request.method,
            requested_at=datetime.now(UTC),
            majordomo_api_key_id=key_id,
            streamed=route.path_streams,
            request_model=path_model,
            model=path_model,
            trace_id=plan.trace_id_hex,
            span_id=format(plan.span_id, "016x"),
            parent_span_id=format(plan.parent.span_id, "016x") if plan.parent is not None else None,
        )
        tags, problems = Tags.from_headers(headers.items())
        record.raw_metadata = tags.raw_metadata()
        if self._spans.exporting:
            plan.server_attributes = tags.span_attributes()
        for problem in problems:
            record.add_error(problem)
        if (credential := upstream_key or creds.provider_key) is not None:
            record.provider_api_key_hash = hash_provider_key(credential)

        try:
            return await self._forward(request, route, record, plan, upstream_key, creds.in_provider_slot)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client disconnects
            if record.status_code is None:  # mid-stream disconnects are already recorded by `_relay`
                record.status_code = CLIENT_CLOSED_REQUEST
                record.add_error("client disconnected before the response started")
            raise
        finally:
            self._commit(record, plan)
            self._spans.finish(plan, record)
            self._metrics.record(record, upstream_seconds=plan.upstream_seconds)

    def _commit(self, record: RequestRecord, plan: SpanPlan) -> asyncio.Future[None] | None:
        """Finish the record and hand it to the writer, once; the returned future (if any) is done when
        the record is in the journal. A record with a `response_time_ms` is final: nothing changes it after."""
        if record.response_time_ms is not None:
            return None
        record.response_time_ms = plan.elapsed_ms()
        if record.responded_at is None:
            record.responded_at = record.requested_at + timedelta(milliseconds=record.response_time_ms)
        self._budgets.spend(record)  # before make_storable: the tags as the decision read them
        if make_storable(record) and plan.server_attributes:
            plan.server_attributes = {
                k: storable(v) if isinstance(v, str) else v for k, v in plan.server_attributes.items()
            }
        self._writer.submit(record)
        return self._writer.durable()

    # ---------------------------------------------------------------------------------------------
    async def _forward(
        self,
        request: web.Request,
        route: Route,
        record: RequestRecord,
        plan: SpanPlan,
        upstream_key: str | None = None,
        majordomo_key_in_slot: bool = False,
    ) -> web.StreamResponse:
        ids = {REQUEST_ID_HEADER: record.id, TRACE_ID_HEADER: record.trace_id or ""}
        limit = self._settings.max_body_bytes
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            record.status_code = 413
            record.add_error(f"request body larger than {limit} bytes")
            return _reply(route.provider.family, 413, record.error_message or "", ids)

        provider = route.provider
        encoding = request.headers.get("Content-Encoding")
        facts = None
        if provider.family is not Family.GEMINI and body:  # Gemini's model and streaming are in the path
            facts = await read_body_facts(body, encoding, limit=limit)
            _note_body(facts, record)
        if (refusal := self._budgets.check(record)) is not None:  # a used-up budget: it never goes upstream
            return _reply(provider.family, 429, refusal.message, {**ids, **refusal.headers})
        body_filter: BodyFilter | None = None
        if (
            record.streamed
            and route.operation == "chat_completions"
            and provider.stream_usage is StreamUsage.ASK
            and self._settings.stream_usage
            and not encoding
            and not (facts is not None and facts.usage_asked)  # the usual case: no second parse
            and (asked := ask_for_usage(body)) is not None
        ):
            body, body_filter = asked, HiddenUsage()
        elif base := results_base(route, request):
            body_filter = ResultsUrlFilter(base)  # a batch's results must be fetched through the gateway too

        target = route.upstream_path  # the raw path and query, as sent: see `_upstream_url`
        query = request.rel_url.raw_query_string
        if majordomo_key_in_slot:
            query = strip_majordomo_query_key(query)
        for name, value in provider.query:  # defaults the provider needs (Azure's api-version)
            if f"{name}=" not in query:
                query = f"{query}&{name}={value}" if query else f"{name}={value}"
        if query:
            target = f"{target}?{query}"
        out_headers = upstream_headers(request.headers.items(), request.headers.get("Connection"))
        if upstream_key is not None:  # the gateway's key, in the provider's own header, replaces the client's
            out_headers = without_client_keys(out_headers)
            out_headers.append(provider_auth_header(provider, upstream_key))
        elif majordomo_key_in_slot:
            out_headers = without_majordomo_keys(out_headers)
        if body_filter is not None:  # the body is filtered as it passes: it must arrive uncompressed
            out_headers = [(k, v) for k, v in out_headers if k.lower() != "accept-encoding"]
            out_headers.append(("Accept-Encoding", "identity"))
        out_headers.append(("traceparent", plan.upstream_traceparent()))
        if plan.tracestate:
            out_headers.append(("tracestate", plan.tracestate))
        shown_path = redact_url(route.upstream_path)
        plan.upstream_name = f"{request.method} {shown_path}"
        plan.upstream_attributes = {
            sc.HTTP_REQUEST_METHOD: request.method,
            sc.SERVER_ADDRESS: self._hosts[provider.name],
            sc.URL_PATH: shown_path,
        }
        upstream: aiohttp.ClientResponse | None = None
        try:
            plan.upstream_start_ns = plan.now_ns()
            try:
                upstream = await self._session().request(
                    request.method,
                    _upstream_url(provider.origin or "", target),
                    data=body or None,  # no body, no Content-Length: 0 (a GET stays as the client sent it)
                    headers=out_headers,
                    allow_redirects=False,
                )
            except (TimeoutError, aiohttp.ServerTimeoutError):
                return self._upstream_failed(record, route, 504, "upstream timed out", ids)
            except aiohttp.ClientError as exc:
                return self._upstream_failed(record, route, 502, f"upstream unreachable: {_describe(exc)}", ids)
            plan.upstream_attributes[sc.HTTP_RESPONSE_STATUS_CODE] = upstream.status
            return await self._relay(request, upstream, route, record, ids, plan, body_filter)
        finally:
            if upstream is not None:
                upstream.release()
            if not plan.upstream_end_ns:
                plan.upstream_end_ns = plan.now_ns()

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        route: Route,
        record: RequestRecord,
        ids: dict[str, str],
        plan: SpanPlan,
        body_filter: BodyFilter | None,
    ) -> web.StreamResponse:
        record.status_code = upstream.status
        reader = (
            reader_for(
                route.provider,
                route.operation,
                streamed=record.streamed,
                content_type=upstream.headers.get("Content-Type"),
                content_encoding=upstream.headers.get("Content-Encoding"),
            )
            if route.priced
            else NoUsageReader(billable=route.billable)
        )
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        out = downstream_headers(upstream.headers.items(), upstream.headers.get("Connection"))
        if body_filter is not None:  # the length changes: chunked, not the provider's Content-Length
            out = [(k, v) for k, v in out if k.lower() != "content-length"]
        response.headers.extend(out)
        response.headers.update(ids)
        complete = False
        length = upstream.content_length  # None when chunked: then write_eof sends the last bytes
        received = 0
        try:
            await response.prepare(request)
            content = upstream.content
            while True:
                try:
                    chunk = await content.readany()
                except TimeoutError:  # sock_read: no byte from upstream for upstream_timeout seconds
                    record.add_error("upstream timed out mid-response")
                    break
                except aiohttp.ClientPayloadError as exc:
                    record.add_error(f"upstream response cut short: {_describe(exc)}")
                    break
                if not chunk:
                    complete = True
                    plan.upstream_end_ns = plan.now_ns()
                    break
                if record.time_to_first_token_ms is None:
                    record.time_to_first_token_ms = plan.elapsed_ms()
                reader.feed(chunk)
                received += len(chunk)
                if reader.ended and record.response_time_ms is None:
                    # The stream's terminal event: the request succeeded, whatever the client does next
                    # (the openai SDKs close at `data: [DONE]`). Journal the record before it leaves.
                    await self._settle(reader, record, plan)
                sent = body_filter.feed(chunk) if body_filter is not None else chunk
                if length is not None and received >= length:  # the last bytes: journal the record first
                    complete = True
                    plan.upstream_end_ns = plan.now_ns()
                    await self._settle(reader, record, plan)
                    if body_filter is not None:
                        sent += body_filter.flush()
                    if sent:
                        await response.write(sent)
                    break
                if sent:
                    await response.write(sent)
            if complete:
                if record.response_time_ms is None:  # not settled at its last bytes or terminal event
                    await self._settle(reader, record, plan)
                if body_filter is not None and (rest := body_filter.flush()):
                    await response.write(rest)
                await response.write_eof()
            elif request.transport is not None:
                # Upstream broke off: end the client's connection too, so the client sees a
                # truncated response rather than a short one that looks complete.
                request.transport.close()
        except ConnectionResetError:
            self._client_gone(record, upstream)
        except asyncio.CancelledError:  # aiohttp cancels the handler when the client disconnects
            self._client_gone(record, upstream)
            raise
        finally:
            if record.response_time_ms is None:  # not settled above: an incomplete or failed response
                self._account(reader, record, complete=complete)
                record.responded_at = record.requested_at + timedelta(milliseconds=plan.elapsed_ms())
        return response

    async def _settle(self, reader: UsageReader, record: RequestRecord, plan: SpanPlan) -> None:
        """Account and commit a complete response, and wait until its record is in the journal: the
        client must not get the last byte of a response whose record a SIGKILL could still lose."""
        if record.response_time_ms is not None:
            return
        self._account(reader, record, complete=True)
        record.responded_at = record.requested_at + timedelta(milliseconds=plan.elapsed_ms())
        if (journaled := self._commit(record, plan)) is not None:
            await journaled

    @staticmethod
    def _client_gone(record: RequestRecord, upstream: aiohttp.ClientResponse) -> None:
        upstream.close()  # stop paying for tokens nobody reads
        if record.response_time_ms is not None:
            return  # the whole response was delivered and recorded; only the connection's end was lost
        record.status_code = CLIENT_CLOSED_REQUEST
        record.add_error("client disconnected before the response ended")

    def _account(self, reader: UsageReader, record: RequestRecord, *, complete: bool) -> None:
        """Usage → tokens on the record → price."""
        result = reader.finish(complete=complete)
        usage = result.usage
        record.usage_status = result.status.value
        if result.error:
            record.add_error(result.error)
        if result.model:
            record.model = result.model
        record.input_tokens = usage.input_tokens
        record.output_tokens = usage.output_tokens
        record.cached_tokens = usage.cache_read_tokens
        record.cache_creation_tokens = usage.cache_write_tokens
        record.reasoning_tokens = usage.reasoning_tokens
        if isinstance(reader, NoUsageReader):
            record.pricing_status = reader.pricing_status
            return
        if result.status is UsageStatus.MISSING or not usage.reported:
            record.pricing_status = "no_usage"
            return
        price, record.pricing_status = self._pricer.price_record(record.provider, record.model, usage)
        if price is None:
            if record.pricing_status == "unpriceable":
                record.add_error("genai-prices refused these token counts (e.g. more cached than input tokens)")
            return
        record.input_cost, record.output_cost, record.total_cost = price.input_cost, price.output_cost, price.total_cost

    def _upstream_failed(
        self, record: RequestRecord, route: Route, status: int, message: str, ids: dict[str, str]
    ) -> web.Response:
        record.status_code = status
        record.add_error(message)
        log.warning("request %s: %s", record.id, message)
        return _reply(route.provider.family, status, message, ids)


def _note_body(facts: BodyFacts, record: RequestRecord) -> None:
    """Model and stream flag from the body; a body they cannot be read from is forwarded and noted, never refused."""
    if facts.model is not None:
        record.request_model = record.model = facts.model
    record.streamed = facts.stream is True
    if facts.note is not None:
        record.add_error(facts.note)


def _upstream_url(base_url: str, target: str) -> URL:
    """`target` (raw path and query) on the provider's host, never quoted again (`encoded=True`): a
    decoded `%3F` would become a query upstream, a `%2F` another path segment.

    yarl reads an encoded URL's host lazily, inside the request, where aiohttp would not turn a bad
    one into a ClientError; so it is read here, failing as aiohttp fails a bad URL string.
    """
    text = base_url + target
    url = URL(text, encoded=True)
    try:
        valid = bool(url.host)
    except ValueError:  # e.g. a port that is not a number
        valid = False
    if not valid:
        raise aiohttp.InvalidUrlClientError(text)
    return url


def _host(base_url: str) -> str:
    return base_url.split("://", 1)[-1].split("/", 1)[0]


def _describe(exc: BaseException) -> str:
    """Type and message of an upstream error, for logs and records: any URL query key is masked."""
    return redact_url(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _reply(
    family: Family | None, status: int, message: str, extra_headers: dict[str, str] | None = None
) -> web.Response:
    headers = dict(_JSON)
    if extra_headers:
        headers.update(extra_headers)
    return web.Response(status=status, body=error_body(family, status, message), headers=headers)
