-- wrk script: POST /api/v1/cfssl/revoke on `cfssl serve` (cfssl 1.2 JSON:
-- {"serial": <decimal serial>, "authority_key_id": <lowercase hex AKI>,
-- "reason": "superseded"}), a different certificate per request.
--   CFSSL_SERIALS   file with one serial per line (cfssl_setup writes cfssl-serials.txt)
--   CFSSL_AKI_FILE  file holding the AKI (cfssl_setup writes cfssl-aki.txt)
--   WRK_THREADS     the -t given to wrk (default 2)
-- Thread i takes lines i, i+T, i+2T, ... so no serial is sent twice while the
-- file lasts. Past its end the lines wrap around: cfssl answers 200 to a second
-- revocation of the same row too, so the caller must keep requests < lines.
local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  serials = {}
  for line in io.lines(os.getenv("CFSSL_SERIALS")) do
    if #line > 0 then serials[#serials + 1] = line end
  end
  local f = assert(io.open(os.getenv("CFSSL_AKI_FILE")))
  aki = f:read("*l"):gsub("%s", "")
  f:close()
  stride = tonumber(os.getenv("WRK_THREADS") or "2")
  next_line = thread_index
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  local serial = serials[(next_line % #serials) + 1]
  next_line = next_line + stride
  return wrk.format("POST", "/api/v1/cfssl/revoke", headers,
    '{"serial":"' .. serial .. '","authority_key_id":"' .. aki .. '","reason":"superseded"}')
end
