--[[
  Takes pending entries over for a consumer and returns them with their delivery counts,
  read from the pending list after the claim.

  KEYS[1]  stream key
  ARGV[1]  group
  ARGV[2]  consumer
  ARGV[3]  mode:
           "auto"  XAUTOCLAIM entries idle >= ARGV[4], at most ARGV[5] (counts a delivery)
           "ids"   XCLAIM the ids ARGV[4..] that this consumer still owns (its retries;
                   counts a delivery). An id another consumer took over meanwhile is left
                   alone: that consumer is working on it.
           "hold"  as "ids", without counting a delivery: the consumer keeps entries it
                   read but has not processed yet (held during backpressure), and their
                   idle time starts again so no other consumer takes them.
  ARGV[4]  min idle ms (auto) | first id (ids, hold)
  ARGV[5]  count (auto)

  Output: a flat array id1, fields1, count1, id2, fields2, count2, ...
  Entries trimmed or deleted while pending are removed from the pending list by the claim
  itself and are not returned.
]]
local key, group, consumer, mode = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local entries
if mode == 'auto' then
  local reply = redis.call('XAUTOCLAIM', key, group, consumer, ARGV[4], '0-0', 'COUNT', ARGV[5])
  entries = reply[2]
else
  entries = {}
  for i = 4, #ARGV do
    local id = ARGV[i]
    local pending = redis.call('XPENDING', key, group, id, id, 1)
    if pending[1] and pending[1][2] == consumer then
      local claimed
      if mode == 'hold' then
        claimed = redis.call('XCLAIM', key, group, consumer, 0, id, 'RETRYCOUNT', pending[1][4])
      else
        claimed = redis.call('XCLAIM', key, group, consumer, 0, id)
      end
      if claimed[1] then entries[#entries + 1] = claimed[1] end
    end
  end
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
