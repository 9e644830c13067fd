-- wrk script: POST the image named by WRK_BODY and count responses by status code.
wrk.method = "POST"
wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "image/jpeg"
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = file:read("*all")
file:close()

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  for status, count in pairs(total) do
    io.write(string.format("status %d %d\n", status, count))
  end
  io.write(string.format("timeouts %d\n", summary.errors.timeout))
  io.write(string.format("socket_errors %d\n", summary.errors.connect + summary.errors.read
                         + summary.errors.write))
  io.write(string.format("p99_ms %.0f\n", latency:percentile(99) / 1000))
end
