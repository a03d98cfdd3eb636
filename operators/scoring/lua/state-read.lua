--[==[
  Shared scoring state, the read half (operators/scoring/state.ts).

  KEYS[1]     the readers: a ZSET of reader (a batch) -> the highest horizon it read up to
  KEYS[2..]   the cells read by this call
  ARGV[1]     horizon (ms): the reads only cover buckets that end at or before it
  ARGV[2]     the reader's name
  ARGV[3]     JSON: [read, ...], each one of
                ["s", key, keep]              the k lowest-scored members of a sample, with scores
                ["m", key, field, ...]        fields of a maxima hash (nil where absent)
                ["v", key]                    a vector sum: its count, then its D components, as
                                              integers (empty where none)
  Output: one reply per read, in order.

  The reader is recorded before anything is read, in the same atomic step: a writer that
  checks the readers after its writes are durable learns of every other reader that may
  have read past its event time without them (see `missedBy`). Only the highest horizons
  matter for that, so the set keeps 16.
]==]
local call = redis.call
call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
call('ZREMRANGEBYRANK', KEYS[1], 0, -17)

local out = {}
for i, r in ipairs(cjson.decode(ARGV[3])) do
  local key = KEYS[r[2]]
  if r[1] == 's' then
    out[i] = call('ZRANGE', key, 0, r[3] - 1, 'WITHSCORES')
  elseif r[1] == 'm' then
    -- In slices: unpack() of thousands of fields would pass Lua's C stack limit.
    local values = {}
    for s = 3, #r, 1000 do
      for _, v in ipairs(call('HMGET', key, unpack(r, s, math.min(s + 999, #r)))) do values[#values + 1] = v end
    end
    out[i] = values
  else
    local packed = call('GET', key)
    if packed then
      out[i] = { struct.unpack('<' .. string.rep('d', #packed / 8), packed) }
      table.remove(out[i]) -- the position after the string
    else
      out[i] = {}
    end
  end
end
return out
