--[[
  Bloom filter check-and-add on Redis bitmaps, many keys per call (operators/ingest/dedupe.ts).

  Bit positions use double hashing (Kirsch-Mitzenmacher): position i of a key is
  (h1 + i * h2) mod m for i = 0 .. k-1, from two 32-bit hashes computed by the caller
  (already reduced mod m, h2 never 0), so the same key sets the same bits as the
  in-process filter does. Bit 0 is the most significant bit of byte 0 (SETBIT's layout).

  KEYS[1..F]  the filter bitmaps of this call, one per event-time bucket (one hash slot)
  ARGV[1]     m: bits per filter
  ARGV[2]     k: bits per key
  ARGV[3]     ttl in ms: PEXPIRE of every filter added to, refreshed on each call
  ARGV[4]     G: number of groups; then, per group:
                add    1 = add the keys to the first filter looked in, 0 = look up only
                nc     how many filters to look in, then nc indexes in KEYS
                n      number of keys, then n pairs: h1 h2
  Output: one integer per key, groups in order: 1 = probably seen (all k bits set in one
  of the group's filters, counting keys added earlier in this call), 0 = not seen.

  The cost is one command per bit, so the script spends as few as it can: adding uses
  SETBIT's reply (the old bit) as the look-up in that filter, and a look-up stops at the
  first 0 bit. (BITFIELD with many GET/SET per command measured slower: it reads every bit.)
]]
local call = redis.call

local m = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local groups = tonumber(ARGV[4])

local function has(key, h1, h2)
  for i = 0, k - 1 do
    if call('GETBIT', key, (h1 + i * h2) % m) == 0 then return false end
  end
  return true
end

local out = {}
local touched = {}
local a = 5
for _ = 1, groups do
  local add = ARGV[a] == '1'
  local nc = tonumber(ARGV[a + 1])
  a = a + 2
  local check = {}
  for c = 1, nc do
    check[c] = KEYS[tonumber(ARGV[a])]
    a = a + 1
  end
  local n = tonumber(ARGV[a])
  a = a + 1
  local first = 1
  if add then
    touched[check[1]] = true
    first = 2
  end
  for _ = 1, n do
    local h1 = tonumber(ARGV[a])
    local h2 = tonumber(ARGV[a + 1])
    a = a + 2
    local seen = true
    if add then
      for i = 0, k - 1 do
        if call('SETBIT', check[1], (h1 + i * h2) % m, 1) == 0 then seen = false end
      end
    end
    if not (add and seen) then
      seen = false
      for c = first, nc do
        if has(check[c], h1, h2) then
          seen = true
          break
        end
      end
    end
    out[#out + 1] = seen and 1 or 0
  end
end
for key in pairs(touched) do call('PEXPIRE', key, ttl) end
return out
