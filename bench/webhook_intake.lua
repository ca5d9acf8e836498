-- wrk script for bench/webhook_intake.py (P6). One wrk thread (-t1).
--
--   wrk -t1 -c64 -d90s -s bench/webhook_intake.lua http://127.0.0.1:PORT -- EVENTS_FILE COUNT [LIMIT_S]
--
-- EVENTS_FILE has one pre-signed event per line: "<Stripe-Signature value>\t<raw JSON body>". Each event is
-- POSTed to /api/webhooks/stripe exactly once, in file order, until COUNT events were sent or LIMIT_S seconds
-- have passed; then the connections that still ask for work get a cheap `GET /health` (liveness) until every
-- event sent has been answered, so no event is ever abandoned in flight, and the thread stops.
--
-- Throughput = events answered / (first request → the COUNT-th answer, or → LIMIT_S). Every response to an
-- event is classified: non-2xx, an acknowledgement of a new event ("duplicate":false) or of a replay
-- ("duplicate":true). Without arguments the script sends the plain GET of the URL (the hello-world baseline).
--
-- wrk's own duration is always -d (its main thread sleeps that long even after a thread stops), so the thread
-- reads the wall clock itself (gettimeofday through LuaJIT's ffi) and prints "BENCH_STOPPED" when done; the
-- driver then ends wrk with SIGINT. done() prints one line "BENCH_JSON {...}" for the driver to parse.

local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]])
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local prepared = {}
local count = 0
local target = 0
local limit_us = 0
local plain = nil
local filler = nil

-- globals, read back by done() through thread:get()
issued = 0
responses = 0
events_issued = 0
event_responses = 0
filler_responses = 0
non2xx = 0
new_acks = 0
dup_acks = 0
unclassified = 0
first_error = ""
started_us = 0
stopped_us = 0
stopped_responses = 0
finished_us = 0

function init(args)
  local path = args[1]
  target = tonumber(args[2] or "0")
  limit_us = tonumber(args[3] or "0") * 1000000
  if path then
    for line in io.lines(path) do
      local tab = line:find("\t", 1, true)
      count = count + 1
      prepared[count] = wrk.format(
        "POST",
        "/api/webhooks/stripe",
        { ["Content-Type"] = "application/json", ["Stripe-Signature"] = line:sub(1, tab - 1) },
        line:sub(tab + 1)
      )
    end
    if target > count then
      target = count
    end
  end
  plain = wrk.format()
  filler = wrk.format("GET", "/health")
end

local verified = false

function request()
  if not verified then
    -- wrk calls request() once before the run to check the request (script_verify_request) and never
    -- sends it: give it the filler, so that no event is "issued" without being sent
    verified = true
    return filler or plain
  end
  if started_us == 0 then
    started_us = now_us()
  end
  issued = issued + 1
  if count == 0 then
    return plain
  end
  if stopped_us == 0 and events_issued < target then
    events_issued = events_issued + 1
    return prepared[events_issued]
  end
  return filler
end

function response(status, headers, body)
  responses = responses + 1
  if count == 0 then
    if status < 200 or status > 299 then
      non2xx = non2xx + 1
    end
    return
  end
  if status >= 200 and status <= 299 and not body:find('"received"', 1, true) then
    filler_responses = filler_responses + 1
  else
    event_responses = event_responses + 1
    if status < 200 or status > 299 then
      non2xx = non2xx + 1
      if first_error == "" then
        first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
      end
    elseif body:find('"duplicate":false', 1, true) then
      new_acks = new_acks + 1
    elseif body:find('"duplicate":true', 1, true) then
      dup_acks = dup_acks + 1
    else
      unclassified = unclassified + 1
    end
  end
  if stopped_us == 0 and (event_responses >= target or (limit_us > 0 and now_us() - started_us >= limit_us)) then
    stopped_us = now_us()
    stopped_responses = event_responses
  end
  if stopped_us > 0 and finished_us == 0 and event_responses >= events_issued then
    finished_us = now_us()
    io.write("BENCH_STOPPED\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local SUMMED = {
  "issued", "responses", "events_issued", "event_responses", "filler_responses", "non2xx", "new_acks",
  "dup_acks", "unclassified", "started_us", "stopped_us", "stopped_responses", "finished_us",
}

function done(summary, latency, requests)
  local sums = {}
  for _, key in ipairs(SUMMED) do
    sums[key] = 0
  end
  local err = ""
  for _, thread in ipairs(threads) do
    for _, key in ipairs(SUMMED) do
      sums[key] = sums[key] + (thread:get(key) or 0)
    end
    local e = thread:get("first_error")
    if e and e ~= "" and err == "" then
      err = e
    end
  end
  local parts = {}
  for _, key in ipairs(SUMMED) do
    table.insert(parts, string.format('"%s":%.0f', key, sums[key]))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,"errors":{"connect":%d,"read":%d,"write":%d,'
      .. '"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},%s,'
      .. '"first_error":%s}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(parts, ","), json_string(err)
  ))
end
