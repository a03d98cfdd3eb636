--[[
  Forgets the consumers of a group that hold no pending entries and were idle at least
  ARGV[2] ms. Checked and deleted in one step: a consumer that reads between a separate
  check and XGROUP DELCONSUMER would lose its pending entries with it.

  KEYS[1]  stream key
  ARGV[1]  group
  ARGV[2]  min idle ms
  Output: the number of consumers deleted.
]]
local key, group, minIdle = KEYS[1], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', key) == 0 then return 0 end
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', key, group)) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and info['idle'] >= minIdle then
    redis.call('XGROUP', 'DELCONSUMER', key, group, info['name'])
    removed = removed + 1
  end
end
return removed
