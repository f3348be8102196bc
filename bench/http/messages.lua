-- bench/http/messages.lua — wrk script: customers talking to palabre's REST API.
--
--   wrk -t1 -c64 -d8s --latency -s bench/http/messages.lua http://127.0.0.1:PORT \
--       -- TOKEN [CUSTOMERS] [SEED] [SCRIPTS_DIR] [BOTS]
--
-- Each request is POST /api/v1/bots/BOT/messages with {"customer": "cK", "text": ...}:
-- K is drawn uniformly among CUSTOMERS (default 50000) by a PRNG seeded per thread
-- (SEED + thread number); customer K replays conversation K mod n of the bots' scripts
-- (SCRIPTS_DIR/BOT.txt, default bench/engine: a message a line, a blank line between
-- conversations, "# " comments), one line per request, from the start again at the end.
-- BOTS is a comma-separated list (default stade). fixedrate.c follows the same model.
--
-- Prints, in done(), wrk's figures and one JSON line starting with "wrk-json "
-- (requests/s, latency percentiles in µs, non-2xx count, socket errors) for run.sh.
--
-- The load generator shares the two cores with the server, so it is kept cheap: no
-- response() callback (with one, wrk hands every answer's headers and body to Lua: about
-- 3-5 µs of wrk's CPU per request, ~15% of it), the non-2xx count is wrk's own (answers
-- with a status of 400 or more: palabre answers no 1xx or 3xx to these requests), and each
-- request is the bot's prebuilt head plus the body's length and the body (the bytes
-- wrk.format would give, without rebuilding the headers every time).

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("thread_number", counter)
   table.insert(threads, thread)
end

local token, customers, convs, cursor
local n_convs = 0

local function json_escape(s)
   s = s:gsub('[%c]', '')
   return (s:gsub('[\\"]', '\\%0'))
end

local function load_script(dir, bot)
   local path = dir .. "/" .. bot .. ".txt"
   local f = io.open(path, "r")
   if not f then
      io.stderr:write("messages.lua: cannot read " .. path .. "\n")
      os.exit(2)
   end
   local cur = nil
   for line in f:lines() do
      line = line:gsub("\r$", "")
      if line:match("^# ") or line == "#" then
         -- a comment ("#MonRésultat 75011" is a message: no space after '#')
      elseif line == "" then
         cur = nil
      else
         if not cur then
            cur = { bot = bot, lines = {} }
            n_convs = n_convs + 1
            convs[n_convs] = cur
         end
         table.insert(cur.lines, json_escape(line))
      end
   end
   f:close()
end

function init(args)
   token = args[1] or ""
   customers = tonumber(args[2] or "50000")
   local seed = tonumber(args[3] or "1")
   local dir = args[4] or "bench/engine"
   local bots = args[5] or "stade"
   math.randomseed(seed + (thread_number or 1))
   convs = {}
   for bot in bots:gmatch("[^,]+") do
      load_script(dir, bot)
   end
   if n_convs == 0 then
      io.stderr:write("messages.lua: no conversations for " .. bots .. " in " .. dir .. "\n")
      os.exit(2)
   end
   cursor = {}
end

local heads = {} -- bot -> request line and headers up to "Content-Length: "

local function head_for(bot)
   local h = heads[bot]
   if not h then
      h = "POST /api/v1/bots/" .. bot .. "/messages HTTP/1.1\r\n" ..
          "Host: " .. wrk.headers["Host"] .. "\r\n" ..
          "Authorization: Bearer " .. token .. "\r\n" ..
          "Content-Type: application/json\r\n" ..
          "Content-Length: "
      heads[bot] = h
   end
   return h
end

function request()
   local k = math.random(0, customers - 1)
   local conv = convs[(k % n_convs) + 1]
   local c = cursor[k] or 0
   cursor[k] = c + 1
   local text = conv.lines[(c % #conv.lines) + 1]
   local body = '{"customer": "c' .. k .. '", "text": "' .. text .. '"}'
   return head_for(conv.bot) .. #body .. "\r\n\r\n" .. body
end

function done(summary, latency, requests)
   local total_non2xx = summary.errors.status
   local total_answered = summary.requests
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format("non-2xx responses (status >= 400, counted by wrk): %d of %d answers\n",
      total_non2xx, total_answered))
   io.write(string.format(
      'wrk-json {"requests": %d, "duration_s": %.3f, "rps": %.1f, "answered": %d, "non2xx": %d, ' ..
      '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
      '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p99.9": %d, "max": %d, "mean": %.0f}}\n',
      summary.requests, secs, summary.requests / secs, total_answered, total_non2xx,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean))
end
