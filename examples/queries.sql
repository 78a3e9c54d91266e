-- SQL recipes over llm_requests. Every query runs unchanged on SQLite (>= 3.38) and PostgreSQL
-- (tests/examples/test_queries.py runs each on both). Tags live in raw_metadata, keyed by the
-- X-Majordomo-* header suffix in Title-Case: 'Feature', 'Step', 'User-Id', 'Session-Id', ...
-- total_cost is NULL (never 0) for requests that could not be priced: SUM() skips them; see the last query.
-- NULLS LAST: PostgreSQL sorts NULL first in DESC order, SQLite last; spelling it out makes both agree.
--
--   sqlite3 -header -column majordomo.db < examples/queries.sql
--   psql "$MAJORDOMO_DATABASE_URL" -f examples/queries.sql

-- Cost per user for a feature (the guide's query, verbatim)
SELECT
    raw_metadata->>'User-Id' AS user_id,
    SUM(total_cost) AS total_cost,
    COUNT(*) AS requests
FROM llm_requests
WHERE raw_metadata->>'Feature' = 'document-qa'
GROUP BY raw_metadata->>'User-Id'
ORDER BY total_cost DESC;

-- Cost per step of a workflow (the guide's query, verbatim)
SELECT
    raw_metadata->>'Step' AS step,
    SUM(total_cost) AS total_cost,
    AVG(response_time_ms) AS avg_latency_ms
FROM llm_requests
WHERE raw_metadata->>'Feature' = 'research'
GROUP BY raw_metadata->>'Step';

-- Cost per trace: paste a trace_id into Jaeger or Logfire to see the agent run it came from
SELECT
    trace_id,
    MIN(requested_at) AS started_at,
    COUNT(*) AS requests,
    SUM(total_cost) AS total_cost
FROM llm_requests
WHERE trace_id IS NOT NULL
GROUP BY trace_id
ORDER BY started_at DESC
LIMIT 20;

-- Cost per session
SELECT
    raw_metadata->>'Session-Id' AS session_id,
    raw_metadata->>'User-Id' AS user_id,
    COUNT(*) AS requests,
    SUM(total_cost) AS total_cost
FROM llm_requests
WHERE raw_metadata->>'Session-Id' IS NOT NULL
GROUP BY raw_metadata->>'Session-Id', raw_metadata->>'User-Id'
ORDER BY total_cost DESC NULLS LAST;

-- Top users across all features
SELECT
    raw_metadata->>'User-Id' AS user_id,
    COUNT(*) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens,
    SUM(total_cost) AS total_cost
FROM llm_requests
WHERE raw_metadata->>'User-Id' IS NOT NULL
GROUP BY raw_metadata->>'User-Id'
ORDER BY total_cost DESC NULLS LAST
LIMIT 10;

-- Daily cost per feature (days in UTC on SQLite; in the session's TimeZone on PostgreSQL)
SELECT
    DATE(requested_at) AS day,
    raw_metadata->>'Feature' AS feature,
    COUNT(*) AS requests,
    SUM(total_cost) AS total_cost
FROM llm_requests
GROUP BY DATE(requested_at), raw_metadata->>'Feature'
ORDER BY day, feature;

-- Cost per model and provider
SELECT
    provider,
    model,
    COUNT(*) AS requests,
    SUM(cached_tokens) AS cached_tokens,
    SUM(total_cost) AS total_cost
FROM llm_requests
GROUP BY provider, model
ORDER BY total_cost DESC NULLS LAST;

-- Unpriced requests: unknown models (cost NULL, flagged) and responses that carried no usage
SELECT
    pricing_status,
    usage_status,
    provider,
    model,
    COUNT(*) AS requests,
    SUM(input_tokens) AS input_tokens,
    SUM(output_tokens) AS output_tokens
FROM llm_requests
WHERE pricing_status <> 'priced'
GROUP BY pricing_status, usage_status, provider, model
ORDER BY requests DESC;
