--[[
  Takes pending entries over for a consumer and returns them with their delivery counts,
  read from the pending list after the claim (which counted one more delivery).

  KEYS[1]  stream key
  ARGV[1]  group
  ARGV[2]  consumer
  ARGV[3]  mode: "auto" (XAUTOCLAIM entries idle >= ARGV[4], at most ARGV[5]) or
           "ids" (XCLAIM the ids ARGV[4..], whatever their idle time)
  ARGV[4]  min idle ms (auto) | first id (ids)
  ARGV[5]  count (auto)

  Output: a flat array id1, fields1, count1, id2, fields2, count2, ...
  Entries trimmed away while pending are removed from the pending list by the claim
  itself and are not returned.
]]
local key, group, consumer, mode = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local entries
if mode == 'auto' then
  local reply = redis.call('XAUTOCLAIM', key, group, consumer, ARGV[4], '0-0', 'COUNT', ARGV[5])
  entries = reply[2]
else
  local args = { 'XCLAIM', key, group, consumer, 0 }
  for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
  entries = redis.call(unpack(args))
end
local out = {}
for _, entry in ipairs(entries) do
  if entry and entry ~= false and entry[2] then
    local id = entry[1]
    local pending = redis.call('XPENDING', key, group, id, id, 1, consumer)
    local count = 1
    if pending[1] then count = pending[1][4] end
    out[#out + 1] = id
    out[#out + 1] = entry[2]
    out[#out + 1] = count
  end
end
return out
