--[[
  Token bucket shared by every replica of a source: takes one token if one is free.

  KEYS[1]  the bucket, a hash with fields `tokens` (float) and `ts` (ms of the last refill)
  ARGV[1]  rate: tokens added per second (> 0)
  ARGV[2]  burst: the bucket's capacity (>= 1)

  Output: 0 when a token was taken, else the milliseconds until one is free (>= 1).

  Time is the Redis server's (TIME), so replicas on hosts with skewed clocks agree.
  The key expires once the bucket would be full again: a missing key is a full bucket.
]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
