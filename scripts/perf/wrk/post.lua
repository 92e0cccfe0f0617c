-- wrk script: POSTs one documented JSON body to one gateway endpoint, over
-- and over on each keep-alive connection. scripts/loadtest.sh sets:
--   WRK_PATH          the endpoint's path
--   WRK_BODY          the JSON body
--   WRK_TOKEN         a bearer token
--   WRK_UNS_ID        the X-UNS-ID header (Graph's endpoint only)
--   WRK_CONTENT_TYPE  the Content-Type [application/json]
-- wrk counts non-2xx answers itself ("Non-2xx or 3xx responses").
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
local uns = os.getenv("WRK_UNS_ID")
if uns and uns ~= "" then
  wrk.headers["X-UNS-ID"] = uns
end

-- The summary as one line for the calling script: requests, seconds, non-2xx
-- answers, socket errors, latency percentiles in microseconds.
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "wrk-summary requests=%d seconds=%.3f non2xx=%d socket_errors=%d p50=%d p90=%d p99=%d p999=%d max=%d\n",
    summary.requests, summary.duration / 1e6, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
