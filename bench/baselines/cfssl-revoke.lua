-- wrk script: POST /api/v1/cfssl/revoke on `cfssl serve` (cfssl 1.2 JSON:
-- {"serial": <decimal serial>, "authority_key_id": <lowercase hex AKI>,
-- "reason": "superseded"}), a different certificate per request.
--   CFSSL_SERIALS   file with one serial per line (cfssl_setup writes cfssl-serials.txt)
--   CFSSL_AKI_FILE  file holding the AKI (cfssl_setup writes cfssl-aki.txt)
--   WRK_THREADS     the -t given to wrk (default 2)
-- Thread i takes lines i, i+T, i+2T, ... so no serial is sent twice while the
-- file lasts. Past its end the lines wrap around: cfssl answers 200 to a second
-- revocation of the same row too, so the caller must keep requests < lines.
dofile(debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "../wrk-common.lua")

function init(args)
  next_serial = striding(lines("CFSSL_SERIALS"))
  local f = assert(io.open(os.getenv("CFSSL_AKI_FILE")))
  aki = f:read("*l"):gsub("%s", "")
  f:close()
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("POST", "/api/v1/cfssl/revoke", headers,
    '{"serial":"' .. next_serial() .. '","authority_key_id":"' .. aki .. '","reason":"superseded"}')
end
