-- wrk script: PUT /services/v2/certificate/{serial}/revoke with skip_approval,
-- each request a different certificate from the file named by SERIALS.
-- Threads stride through the file (thread i takes lines i, i+T, i+2T, ...),
-- so no certificate is revoked twice while the file lasts.
dofile(debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "wrk-common.lua")

function init(args)
  next_serial = striding(lines("SERIALS"))
  headers = { ["X-DC-DEVKEY"] = os.getenv("KEY"), ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("PUT", "/services/v2/certificate/" .. next_serial() .. "/revoke", headers,
    '{"skip_approval": true, "revocation_reason": "superseded"}')
end
