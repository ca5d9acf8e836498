-- wrk script for bench/queue_load.py: GET <path> with a random member session cookie per request.
-- args: <path> <tokens file or "-" for no cookie>. Prints one BENCH_JSON line (wrk's own counts and latency).
local path = "/"
local tokens = {}

function init(args)
  path = args[1] or "/"
  if args[2] and args[2] ~= "-" then
    for line in io.lines(args[2]) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  math.randomseed(os.time())
end

function request()
  if #tokens == 0 then
    return wrk.format("GET", path)
  end
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", path, { ["Cookie"] = "__Host-tenure_session=" .. token })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
