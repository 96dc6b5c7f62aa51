-- wrk script: PUT /services/v2/certificate/{serial}/revoke with skip_approval,
-- each request a different certificate from the file named by SERIALS.
-- Threads stride through the file (thread i takes lines i, i+T, i+2T, ...),
-- so no certificate is revoked twice while the file lasts.
local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  serials = {}
  for line in io.lines(os.getenv("SERIALS")) do serials[#serials + 1] = line end
  stride = tonumber(os.getenv("WRK_THREADS"))
  next_line = thread_index
  headers = { ["X-DC-DEVKEY"] = os.getenv("KEY"), ["Content-Type"] = "application/json" }
end

function request()
  local serial = serials[(next_line % #serials) + 1]
  next_line = next_line + stride
  return wrk.format("PUT", "/services/v2/certificate/" .. serial .. "/revoke", headers,
    '{"skip_approval": true, "revocation_reason": "superseded"}')
end
