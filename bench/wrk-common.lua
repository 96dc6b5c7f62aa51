-- What the wrk scripts of bench/ and bench/baselines/ share; each loads it
-- first, from beside itself:
--   dofile(debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "wrk-common.lua")
-- setup() numbers the threads: each thread's global thread_index is 0, 1, 2...
--   lines(var)      the non-empty lines of the file named by the environment
--                   variable var
--   striding(list)  a function giving this thread's next item of list: thread i
--                   takes items i, i+T, i+2T, ... (T = WRK_THREADS, the -t given
--                   to wrk, default 2), so no two requests take the same item
--                   while the list lasts; past its end it wraps around.
local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

function lines(var)
  local found = {}
  for line in io.lines(os.getenv(var)) do
    if #line > 0 then found[#found + 1] = line end
  end
  return found
end

function striding(list)
  local stride = tonumber(os.getenv("WRK_THREADS") or "2")
  local next_index = thread_index
  return function()
    local item = list[(next_index % #list) + 1]
    next_index = next_index + stride
    return item
  end
end
