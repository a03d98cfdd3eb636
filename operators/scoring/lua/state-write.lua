--[==[
  Shared scoring state, the write half (operators/scoring/state.ts).

  KEYS[1..]   the cells written by this call (all under the topology's hash tag: one slot)
  ARGV[1]     retention in ms: PEXPIRE of every key written, refreshed on each write
  ARGV[2]     JSON: [write, ...], each one of
                ["s", key, member, score, keep]        bottom-k sample (ZSET): add, keep the k lowest scores
                ["m", key, field, value, at, id]      per-field maximum (HASH, "value|at|id")
                ["v", key, seen, member, D, d1, x1, d2, x2, ...]
                                                       integer vector sum of D dimensions and its
                                                       count, added once per member of the set
                                                       `seen`; only the non-zero components xi, at
                                                       their (1-based) dimensions di. Stored as one
                                                       string of little-endian doubles: the count,
                                                       then the D components
              key and seen index KEYS; value, at and score travel as strings so they stay exact.
  Output: the number of writes applied.

  A call's new sum members are added up here first, then each sum cell is read, added to
  and written once (a hash field per dimension cost one HINCRBY per cell and dimension,
  most of the script's time). The components are integers, exact as doubles below 2^53:
  the total is the same in any order.

  Each write is idempotent, and each cell's content is a function of the set of writes it
  received, never of their order: a sample keeps the lowest hashes, a maximum compares
  (value, then later at, then smaller id), a sum adds integers once per member. That is
  what lets any number of replicas share the cells and still agree.
]==]
local call = redis.call
local ttl = tonumber(ARGV[1])
local plan = cjson.decode(ARGV[2])
local touched = {}
local sums = {}
local order = {}

local function beats(value, at, id, old)
  local ov, oat, oid = string.match(old, '^([^|]*)|([^|]*)|(.*)$')
  local v, o = tonumber(value), tonumber(ov)
  if v ~= o then return v > o end
  local a, oa = tonumber(at), tonumber(oat)
  if a ~= oa then return a > oa end
  return id < oid
end

for _, w in ipairs(plan) do
  local key = KEYS[w[2]]
  local kind = w[1]
  if kind == 's' then
    call('ZADD', key, w[4], w[3])
    call('ZREMRANGEBYRANK', key, w[5], -1)
  elseif kind == 'm' then
    local old = call('HGET', key, w[3])
    if not old or beats(w[4], w[5], w[6], old) then
      call('HSET', key, w[3], w[4] .. '|' .. w[5] .. '|' .. w[6])
    end
  else
    local seen = KEYS[w[3]]
    if call('SADD', seen, w[4]) == 1 then
      local sum = sums[key]
      if not sum then
        sum = { n = 0, v = {}, size = 0 }
        sums[key] = sum
        order[#order + 1] = key
      end
      if w[5] > sum.size then sum.size = w[5] end
      local v = sum.v
      for i = 6, #w - 1, 2 do
        local d = w[i]
        v[d] = (v[d] or 0) + w[i + 1]
      end
      sum.n = sum.n + 1
    end
    touched[seen] = true
  end
  touched[key] = true
end
local function doubles(count) return '<' .. string.rep('d', count) end
for _, key in ipairs(order) do
  local sum = sums[key]
  local old = call('GET', key)
  local packed = {}
  if old then
    packed = { struct.unpack(doubles(#old / 8), old) }
    table.remove(packed) -- struct.unpack's last value is the position after the string
  end
  -- packed[1] is the count, packed[1 + d] dimension d's component.
  for i = #packed + 1, sum.size + 1 do packed[i] = 0 end
  packed[1] = packed[1] + sum.n
  for d, x in pairs(sum.v) do packed[1 + d] = packed[1 + d] + x end
  call('SET', key, struct.pack(doubles(#packed), unpack(packed)))
end
for key in pairs(touched) do call('PEXPIRE', key, ttl) end
return #plan
