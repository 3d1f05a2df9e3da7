package models

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRateLimiter keeps the counters in Redis, for deployments that would
// rather not write a row per API request: one Lua script takes a request
// from both windows atomically.
type RedisRateLimiter struct{ Client *redis.Client }

// NewRedisRateLimiter connects to a redis:// URL.
func NewRedisRateLimiter(ctx context.Context, url string) (*RedisRateLimiter, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &RedisRateLimiter{Client: c}, nil
}

// takeScript: KEYS minute and day counters; ARGV their limits and lifetimes.
// Returns {allowed, minute count, day count}; a refusal takes nothing.
var takeScript = redis.NewScript(`
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
if m >= tonumber(ARGV[1]) or d >= tonumber(ARGV[2]) then
	return {0, m, d}
end
m = redis.call('INCR', KEYS[1])
if m == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
d = redis.call('INCR', KEYS[2])
if d == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return {1, m, d}
`)

func redisKeys(accountID int64, at time.Time) (minuteKey, dayKey string, minute, day int64) {
	minute, day = windows(at)
	// {account} keeps both keys in one hash slot on a Redis Cluster.
	acct := "{" + strconv.FormatInt(accountID, 10) + "}"
	return "sb:rl:" + acct + ":m:" + strconv.FormatInt(minute, 10), "sb:rl:" + acct + ":d:" + strconv.FormatInt(day, 10), minute, day
}

// Take implements RateLimiter.
func (r *RedisRateLimiter) Take(ctx context.Context, accountID int64, l Limits, at time.Time) (RateDecision, error) {
	mk, dk, minute, day := redisKeys(accountID, at)
	res, err := takeScript.Run(ctx, r.Client, []string{mk, dk}, l.PerMinute, l.PerDay, 120, 2*86400).Int64Slice()
	if err != nil {
		return RateDecision{}, fmt.Errorf("rate limit: %w", err)
	}
	if len(res) != 3 {
		return RateDecision{}, fmt.Errorf("rate limit: unexpected answer %v", res)
	}
	return decide(res[0] == 1, l, minute, res[1], day, res[2]), nil
}

// Used implements RateLimiter.
func (r *RedisRateLimiter) Used(ctx context.Context, accountID int64, at time.Time) (int64, int64, error) {
	mk, dk, _, _ := redisKeys(accountID, at)
	vals, err := r.Client.MGet(ctx, mk, dk).Result()
	if err != nil {
		return 0, 0, err
	}
	n := func(v any) int64 {
		s, _ := v.(string)
		i, _ := strconv.ParseInt(s, 10, 64)
		return i
	}
	return n(vals[0]), n(vals[1]), nil
}
