-- wrk script: GET a random line of the file named by PATHS, with the API key
-- KEY (X-DC-DEVKEY), e.g. /services/v2/certificate/ID paths. Each thread
-- seeds its own random sequence, so that threads do not ask the same paths
-- in the same order.
local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
  headers = { ["X-DC-DEVKEY"] = os.getenv("KEY") }
  math.randomseed(os.time() * 16 + thread_index)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
