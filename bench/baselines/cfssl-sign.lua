-- wrk script: POST /api/v1/cfssl/sign on `cfssl serve` with one pre-generated
-- P-256 CSR, {"certificate_request": "<PEM with \n escaped>"}. Every request
-- gets a fresh certificate (random serial), and with -db-config cfssl also
-- INSERTs a row into its certdb for each one.
--   CFSSL_CSR  the PEM CSR file (cfssl_setup writes DIR/p256.csr)
function init(args)
  local f = assert(io.open(os.getenv("CFSSL_CSR")))
  local pem = f:read("*a")
  f:close()
  pem = pem:gsub("\r", ""):gsub("\n", "\\n")
  body = '{"certificate_request":"' .. pem .. '"}'
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("POST", "/api/v1/cfssl/sign", headers, body)
end
