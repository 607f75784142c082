/**
 * The Lua scripts behind the Redis admission store, kept as TypeScript strings so the build
 * ships them with the JavaScript and no file has to be located at run time.
 *
 * Every script reads the clock with `redis.call('TIME')`: all processes sharing a quota agree on
 * one clock (the Redis server's), whatever their own clocks say. Times inside the scripts are
 * microseconds; replies are milliseconds.
 *
 * Every key a script touches arrives in `KEYS` (never built inside the script) and all keys of
 * one limit key share a `{hash tag}`, so the scripts run unchanged on Redis Cluster.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/** A script and its SHA1, for `EVALSHA` with an `EVAL` fallback when the server lacks it. */
export interface LuaScript {
  readonly name: string
  readonly lua: string
  readonly sha1: string
  readonly numberOfKeys: number
}

const script = (name: string, numberOfKeys: number, body: string): LuaScript => {
  const lua = prelude + body
  return { name, lua, sha1: createHash("sha1").update(lua).digest("hex"), numberOfKeys }
}

/**
 * Shared helpers. `replicate_commands` lets Redis < 5 replicate the writes that follow `TIME`
 * (from Redis 5 on it is the default and the call is a no-op).
 *
 * Numbers are written with `%.17g`: Lua's own `tostring` keeps only 14 digits, which would round
 * a microsecond timestamp (16 digits) to a tenth of a millisecond.
 */
const prelude = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function now_micros()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function num(x) return string.format('%.17g', x) end
local function ceil_millis(micros) return math.max(1, math.ceil(micros / 1000)) end
-- The token bucket's level now: refilled since its last write, capped at capacity.
-- A missing bucket is a full one (its TTL is the time it takes to refill).
local function bucket_level(key, now, rate, capacity)
  local state = redis.call('HMGET', key, 'l', 't')
  if not state[1] then return capacity end
  local elapsed = math.max(0, now - tonumber(state[2]))
  return math.min(capacity, tonumber(state[1]) + elapsed * rate)
end
local function write_bucket(key, now, level, rate, capacity)
  if level >= capacity then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'l', num(level), 't', num(now))
    redis.call('PEXPIRE', key, ceil_millis((capacity - level) / rate))
  end
end
`

/**
 * One admission decision.
 *
 * KEYS: 1 request state (GCRA theoretical arrival time, µs), 2 token bucket (hash: `l` level,
 * `t` last write, µs), 3 cooldown marker (its PTTL is the cooldown left).
 * ARGV: 1 emission interval µs (0 = no request limit), 2 request burst (>= 1),
 * 3 tokens refilled per µs (0 = no token limit), 4 token capacity, 5 tokens asked for.
 *
 * Reply: 0 when admitted (both debited), else the milliseconds to wait (>= 1, nothing debited).
 */
export const admitScript: LuaScript = script(
  "admit",
  3,
  `
local cooling = redis.call('PTTL', KEYS[3])
if cooling > 0 then return cooling end

local now = now_micros()
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local capacity = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local wait = 0

-- GCRA: admitted while the theoretical arrival time stays within burst intervals of now.
local next_arrival
if interval > 0 then
  local arrival = math.max(now, tonumber(redis.call('GET', KEYS[1]) or now))
  next_arrival = arrival + interval
  wait = math.max(wait, next_arrival - burst * interval - now)
end

local level
if rate > 0 then
  level = bucket_level(KEYS[2], now, rate, capacity)
  if cost > level then wait = math.max(wait, (cost - level) / rate) end
end

if wait > 0 then return ceil_millis(wait) end

if interval > 0 then
  redis.call('SET', KEYS[1], num(next_arrival), 'PX', ceil_millis(next_arrival - now))
end
if rate > 0 then write_bucket(KEYS[2], now, level - cost, rate, capacity) end
return 0
`
)

/**
 * Debit (`delta > 0`) or refund (`delta < 0`) tokens once the real usage is known. A debit may
 * take the level below zero: the tokens were spent, later calls wait until they are refilled.
 *
 * KEYS: 1 token bucket. ARGV: 1 tokens refilled per µs (0 = no token limit), 2 capacity, 3 delta.
 */
export const adjustTokensScript: LuaScript = script(
  "adjustTokens",
  1,
  `
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local delta = tonumber(ARGV[3])
if rate <= 0 or delta == 0 then return 0 end
local now = now_micros()
write_bucket(KEYS[1], now, math.min(capacity, bucket_level(KEYS[1], now, rate, capacity) - delta), rate, capacity)
return 0
`
)

/**
 * Start a cooldown, or extend one; never shorten it. The marker's TTL is the cooldown itself,
 * so it ends on the server's clock and removes itself.
 *
 * KEYS: 1 cooldown marker. ARGV: 1 milliseconds (integer).
 */
export const startCooldownScript: LuaScript = script(
  "startCooldown",
  1,
  `
local millis = tonumber(ARGV[1])
if millis > 0 and redis.call('PTTL', KEYS[1]) < millis then
  redis.call('SET', KEYS[1], '1', 'PX', millis)
end
return 0
`
)

/**
 * Count at once what one process spent of the quota while it decided alone (its fallback while
 * Redis was away): extend the cooldown to what it still has to run (never shorten it), move the
 * request schedule on by the calls it made ahead of the steady rate, and debit the tokens its
 * bucket has yet to refill (below zero if need be, as `adjustTokens` does).
 *
 * KEYS: as `admit`. ARGV: 1 emission interval µs (0 = no request limit), 2 tokens refilled per µs
 * (0 = no token limit), 3 token capacity, 4 calls, 5 tokens, 6 cooldown milliseconds (integer).
 */
export const absorbScript: LuaScript = script(
  "absorb",
  3,
  `
local cooldown = tonumber(ARGV[6])
if cooldown > 0 and redis.call('PTTL', KEYS[3]) < cooldown then
  redis.call('SET', KEYS[3], '1', 'PX', cooldown)
end
local now = now_micros()
local interval = tonumber(ARGV[1])
local calls = tonumber(ARGV[4])
if interval > 0 and calls > 0 then
  local arrival = math.max(now, tonumber(redis.call('GET', KEYS[1]) or now))
  local next_arrival = arrival + calls * interval
  redis.call('SET', KEYS[1], num(next_arrival), 'PX', ceil_millis(next_arrival - now))
end
local rate = tonumber(ARGV[2])
local tokens = tonumber(ARGV[5])
if rate > 0 and tokens > 0 then
  local capacity = tonumber(ARGV[3])
  write_bucket(KEYS[2], now, bucket_level(KEYS[2], now, rate, capacity) - tokens, rate, capacity)
end
return 0
`
)
