--[[
  Counts a group's entries not yet delivered when Redis cannot tell its lag (XINFO GROUPS
  answers a nil lag after an XDEL inside the unread range): the entries after its
  last-delivered id, counting no further than ARGV[2] (enough to decide backpressure).

  KEYS[1]  stream key
  ARGV[1]  the group's last-delivered id
  ARGV[2]  the most to count
  Output: the count.
]]
return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
