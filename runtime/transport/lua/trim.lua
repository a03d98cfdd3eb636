--[[
  Trims a stream to about ARGV[1] entries, and (when ARGV[2] is given) drops entries older
  than the id ARGV[2], without dropping anything a consumer group has not read and
  acknowledged: the cut is the lowest of (the oldest pending entry of every group, the
  entry after every group's last-delivered id, the cut by length and age). A stream
  without groups (a dead-letter stream) is trimmed by length and age alone.

  The cost is proportional to what is removed, not to what is kept: the length cut reads
  the (length - keep) oldest ids, never the kept ones.

  KEYS[1]  stream key
  ARGV[1]  entries to keep
  ARGV[2]  optional: the oldest id to keep by age (ms-seq)
  Output: the number of entries removed.
]]
local key = KEYS[1]
local keep = tonumber(ARGV[1])
if redis.call('EXISTS', key) == 0 then return 0 end

local function parse(id)
  local ms, seq = string.match(id, '(%d+)-(%d+)')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local function after(id)
  local ms, seq = parse(id)
  return ms .. '-' .. (seq + 1)
end

local cut = nil
local excess = redis.call('XLEN', key) - keep
if excess > 0 then
  -- the id after the last of the `excess` oldest entries
  local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', excess)
  cut = after(oldest[#oldest][1])
end
if ARGV[2] and ARGV[2] ~= '' then
  if cut == nil or less(cut, ARGV[2]) then cut = ARGV[2] end
end
if cut == nil then return 0 end

local groups = redis.call('XINFO', 'GROUPS', key)
for _, group in ipairs(groups) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local safe
  if info['pending'] > 0 then
    local summary = redis.call('XPENDING', key, info['name'])
    safe = summary[2]
  else
    safe = after(info['last-delivered-id'])
  end
  if less(safe, cut) then cut = safe end
end
return redis.call('XTRIM', key, 'MINID', cut)
