--[==[
  The Redis vector index's read (operators/scoring/vectorIndex.ts): what a replica has not
  read yet of some days' ideas, in one round trip. A search's load goes out before the
  batch's state scripts; in three round trips (length, log, vectors) its second and third
  waited behind them.

  KEYS[2i-1]  day i's log: a LIST of "+id" (added) and "-id" (removed), in order
  KEYS[2i]    day i's vectors: a HASH id -> vector
  ARGV[i]     how much of day i's log the caller has read
  Output: per day, { length of the log, from, the log's entries from `from` on, the ids they
  add (each once), their vectors (nil where gone) }. `from` is ARGV[i], or 0 when the log is
  shorter than that: it expired and began again, so the day is read afresh.
]==]
local call = redis.call
local out = {}
for i = 1, #ARGV do
  local log, vectors = KEYS[2 * i - 1], KEYS[2 * i]
  local length = call('LLEN', log)
  local from = tonumber(ARGV[i])
  if length < from then from = 0 end
  local entries, ids, found = {}, {}, {}
  if length > from then
    entries = call('LRANGE', log, from, length - 1)
    local wanted = {}
    for _, e in ipairs(entries) do
      if string.sub(e, 1, 1) == '+' and not wanted[e] then
        wanted[e] = true
        ids[#ids + 1] = string.sub(e, 2)
      end
    end
    -- In slices: unpack() of a whole busy day would pass Lua's C stack limit.
    for s = 1, #ids, 1000 do
      for _, v in ipairs(call('HMGET', vectors, unpack(ids, s, math.min(s + 999, #ids)))) do found[#found + 1] = v end
    end
  end
  out[i] = { length, from, entries, ids, found }
end
return out
