-- wrk script: POST /services/v2/order/certificate/ssl_basic with one P-256 CSR
-- and skip_approval, as an administrator: every request is an order issued at
-- once (CSR verified, certificate signed and stored, audit entries written).
--   CSR  the PEM CSR file;  KEY  the administrator's API key
function init(args)
  local f = assert(io.open(os.getenv("CSR")))
  local pem = f:read("*a")
  f:close()
  pem = pem:gsub("\r", ""):gsub("\n", "\\n")
  body = '{"certificate":{"common_name":"bench.example.com","csr":"' .. pem ..
    '"},"order_validity":{"years":1},"skip_approval":true}'
  headers = { ["X-DC-DEVKEY"] = os.getenv("KEY"), ["Content-Type"] = "application/json" }
end

function request()
  return wrk.format("POST", "/services/v2/order/certificate/ssl_basic", headers, body)
end
