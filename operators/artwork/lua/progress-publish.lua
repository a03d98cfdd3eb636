-- One generation state: stored as its candidate's latest (bounded, expiring), then published.
-- KEYS[1] latest  hash: "<generation-id>:<candidate>" -> state JSON
-- KEYS[2] recent  sorted set: the same fields, scored by when they were last written (µs)
-- ARGV[1] field, ARGV[2] state JSON, ARGV[3] ttl ms, ARGV[4] states kept, ARGV[5] channel
-- The server's clock dates the writes, so publishers on several hosts agree on what is old;
-- a score is always above the last one, so two writes in one microsecond keep their order.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local last = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
if last ~= nil and tonumber(last) >= now then now = tonumber(last) + 1 end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl * 1000)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  for _, field in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do table.insert(gone, field) end
end
if #gone > 0 then
  redis.call('HDEL', KEYS[1], unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(gone))
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('PUBLISH', ARGV[5], ARGV[2])
