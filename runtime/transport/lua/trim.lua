--[[
  Trims a stream to about ARGV[1] entries without dropping anything a consumer group
  has not read and acknowledged: the cut is the lowest of (the oldest pending entry of
  every group, the entry after every group's last-delivered id, the oldest of the newest
  ARGV[1] entries). A stream without groups is trimmed by length alone.

  KEYS[1]  stream key
  ARGV[1]  entries to keep
  Output: the number of entries removed.
]]
local key = KEYS[1]
local keep = tonumber(ARGV[1])
if redis.call('EXISTS', key) == 0 then return 0 end
local length = redis.call('XLEN', key)
if length <= keep then return 0 end

-- the oldest id to keep by length
local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', keep)
local cut
if #newest == 0 then
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  cut = last[1][1]
  local ms, seq = string.match(cut, '(%d+)-(%d+)')
  cut = ms .. '-' .. (tonumber(seq) + 1)
else
  cut = newest[#newest][1]
end

local function less(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, bm = tonumber(am), tonumber(bm)
  if am ~= bm then return am < bm end
  return tonumber(as) < tonumber(bs)
end

local groups = redis.call('XINFO', 'GROUPS', key)
for _, group in ipairs(groups) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local safe
  if info['pending'] > 0 then
    local summary = redis.call('XPENDING', key, info['name'])
    safe = summary[2]
  else
    local ms, seq = string.match(info['last-delivered-id'], '(%d+)-(%d+)')
    safe = ms .. '-' .. (tonumber(seq) + 1)
  end
  if less(safe, cut) then cut = safe end
end
return redis.call('XTRIM', key, 'MINID', cut)
