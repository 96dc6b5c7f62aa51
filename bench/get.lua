-- wrk script: GET a random line of the file named by PATHS, with the API key
-- KEY (X-DC-DEVKEY), e.g. /services/v2/certificate/ID paths. Each thread
-- seeds its own random sequence, so that threads do not ask the same paths
-- in the same order.
dofile(debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "wrk-common.lua")

function init(args)
  paths = lines("PATHS")
  headers = { ["X-DC-DEVKEY"] = os.getenv("KEY") }
  math.randomseed(os.time() * 16 + thread_index)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
