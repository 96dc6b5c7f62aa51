-- wrk script: revoke request + approval pairs. Each thread asks to revoke a
-- new certificate (PUT .../certificate/{serial}/revoke, no skip_approval: a
-- pending request, 201) and approves the requests it has been answered with
-- (PUT /services/v2/request/{id}/status approved, 204) before asking again.
-- Serials come from the file named by SERIALS, threads striding through it
-- as in revoke.lua. done() prints "approved N" (N = 204 answers to approvals).
dofile(debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "wrk-common.lua")

-- Kept for done(), which reads each thread's count.
local threads = {}
local number_thread = setup
function setup(thread)
  number_thread(thread)
  table.insert(threads, thread)
end

function init(args)
  next_serial = striding(lines("SERIALS"))
  headers = { ["X-DC-DEVKEY"] = os.getenv("KEY"), ["Content-Type"] = "application/json" }
  pending = {}
  approved = 0
end

function request()
  local id = table.remove(pending)
  if id then
    return wrk.format("PUT", "/services/v2/request/" .. id .. "/status", headers,
      '{"status": "approved"}')
  end
  return wrk.format("PUT", "/services/v2/certificate/" .. next_serial() .. "/revoke", headers,
    '{"revocation_reason": "superseded"}')
end

function response(status, headers, body)
  if status == 201 then
    local id = body:match('^{"id":(%d+)')
    if id then table.insert(pending, id) end
  elseif status == 204 then
    approved = approved + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("approved") end
  io.write(string.format("approved %d\n", total))
end
