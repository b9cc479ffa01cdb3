-- wrk script: POST pre-signed, unique Standard Webhooks events (made by gen_requests.py).
-- Each wrk thread takes every Nth line, so no two requests of a run share an event id.
local threads_total = 0
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  threads_total = counter
end

function init(args)
  local file = os.getenv("BENCH_REQUESTS") or "requests.txt"
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
  ids, sigs, stamps, convs = {}, {}, {}, {}
  local n = 0
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      local id, ts, sig, conv = line:match("^(%S+) (%S+) (%S+) (%S+)$")
      n = n + 1
      ids[n], stamps[n], sigs[n], convs[n] = id, ts, sig, conv
    end
    i = i + 1
  end
  total = n
  next_index = 0
end

function request()
  next_index = next_index + 1
  if next_index > total then next_index = 1 end
  local id = ids[next_index]
  local body = '{"event_type":"message_create","event_id":"' .. id ..
    '","conversation_id":"' .. convs[next_index] ..
    '","user_id":"u1","message":{"role":"user","content":"hello"}}'
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["webhook-id"] = id,
    ["webhook-timestamp"] = stamps[next_index],
    ["webhook-signature"] = sigs[next_index],
  }, body)
end
