--[[
  Backlog of one or more streams: for each stream, the entries its slowest consumer group
  has not yet acknowledged (lag + pending). Returns the largest over all streams.

  KEYS[i]  stream key
  ARGV     for each key, in order: the number of groups n, then n group names

  A group that does not exist yet counts the whole stream as backlog (it will read from
  the start). When Redis cannot tell a group's lag (after XDEL inside its range), the
  stream length is used: an upper bound, so backpressure errs on the side of waiting.
]]
local worst = 0
local argi = 1
for k = 1, #KEYS do
  local key = KEYS[k]
  local n = tonumber(ARGV[argi])
  argi = argi + 1
  local wanted = {}
  for g = 1, n do
    wanted[ARGV[argi]] = true
    argi = argi + 1
  end
  if redis.call('EXISTS', key) == 1 then
    local length = redis.call('XLEN', key)
    local seen = {}
    local groups = redis.call('XINFO', 'GROUPS', key)
    for _, group in ipairs(groups) do
      local info = {}
      for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
      if wanted[info['name']] then
        seen[info['name']] = true
        local lag = info['lag']
        if not lag then lag = length end
        local backlog = lag + info['pending']
        if backlog > worst then worst = backlog end
      end
    end
    for name, _ in pairs(wanted) do
      if not seen[name] and length > worst then worst = length end
    end
  end
end
return worst
