package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRateLimiter keeps the counters in Redis, for deployments that would
// rather not write a row per API request: one Lua script takes a request
// from both windows atomically. Its counters are keyed by Namespace and the
// account, so that deployments (or test databases, whose account numbers
// repeat) sharing a Redis database never share counts.
type RedisRateLimiter struct {
	Client    *redis.Client
	Namespace string // see ValidRedisNamespace

	// lines take this process's waiting requests of one account together,
	// one script at a time: made on the first Take.
	linesOnce sync.Once
	lines     *lines
}

// NewRedisRateLimiter connects to a redis:// URL and counts under namespace,
// which every server of one deployment must share, and no other deployment
// may use.
func NewRedisRateLimiter(ctx context.Context, url, namespace string) (*RedisRateLimiter, error) {
	if err := ValidRedisNamespace(namespace); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Short timeouts: when Redis does not answer, a request falls back to
	// the database (WithFallback) instead of hanging.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond, time.Second
	opts.MaxRetries = 0
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &RedisRateLimiter{Client: c, Namespace: namespace}, nil
}

// ValidRedisNamespace accepts a namespace of 1 to 100 printable ASCII
// characters without braces: the braces of a key name its Redis Cluster hash
// slot, which must stay the account's.
func ValidRedisNamespace(ns string) error {
	if ns == "" || len(ns) > 100 {
		return fmt.Errorf("redis namespace: must be 1 to 100 characters, got %d", len(ns))
	}
	for _, r := range ns {
		if r <= ' ' || r > '~' || r == '{' || r == '}' {
			return fmt.Errorf("redis namespace %q: only printable ASCII without spaces or braces", ns)
		}
	}
	return nil
}

// takeScript takes up to n requests, the first that fit: KEYS the minute
// and day counters; ARGV their limits and lifetimes, and n. Returns {taken,
// minute count, day count}; a refusal takes nothing.
var takeScript = redis.NewScript(`
local m = tonumber(redis.call('GET', KEYS[1]) or '0')
local d = tonumber(redis.call('GET', KEYS[2]) or '0')
local n = math.min(tonumber(ARGV[5]), tonumber(ARGV[1]) - m, tonumber(ARGV[2]) - d)
if n <= 0 then
	return {0, m, d}
end
m = redis.call('INCRBY', KEYS[1], n)
if m == n then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
d = redis.call('INCRBY', KEYS[2], n)
if d == n then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return {n, m, d}
`)

// redisKeys are the counters of an account's windows at at:
// sb:NAMESPACE:rl:{ACCOUNT}:m:MINUTE and …:d:DAY.
func (r *RedisRateLimiter) redisKeys(accountID int64, at time.Time) (minuteKey, dayKey string, minute, day int64, err error) {
	// An empty namespace would share counters with every other deployment
	// that forgot one: refuse rather than count.
	if err := ValidRedisNamespace(r.Namespace); err != nil {
		return "", "", 0, 0, fmt.Errorf("rate limit: %w", err)
	}
	minute, day = windows(at)
	// {account} keeps both keys in one hash slot on a Redis Cluster.
	prefix := "sb:" + r.Namespace + ":rl:{" + strconv.FormatInt(accountID, 10) + "}:"
	return prefix + "m:" + strconv.FormatInt(minute, 10), prefix + "d:" + strconv.FormatInt(day, 10), minute, day, nil
}

// Take implements RateLimiter in one script for the requests that wait
// together.
func (r *RedisRateLimiter) Take(ctx context.Context, accountID int64, l Limits, at time.Time) (RateDecision, error) {
	r.linesOnce.Do(func() { r.lines = newLines(r.takeN) })
	return takeInLine(ctx, r, r.lines, accountID, l, at)
}

// takeN runs takeScript.
func (r *RedisRateLimiter) takeN(ctx context.Context, accountID, n int64, l Limits, at time.Time) (taken, error) {
	mk, dk, _, _, err := r.redisKeys(accountID, at)
	if err != nil {
		return taken{}, err
	}
	res, err := takeScript.Run(ctx, r.Client, []string{mk, dk}, l.PerMinute, l.PerDay, 120, 2*86400, n).Int64Slice()
	if err != nil {
		return taken{}, err
	}
	if len(res) != 3 || res[0] < 0 || res[0] > n {
		return taken{}, fmt.Errorf("unexpected answer %v", res)
	}
	return taken{granted: res[0], minute: res[1], day: res[2]}, nil
}

// Used implements RateLimiter.
func (r *RedisRateLimiter) Used(ctx context.Context, accountID int64, at time.Time) (int64, int64, error) {
	mk, dk, _, _, err := r.redisKeys(accountID, at)
	if err != nil {
		return 0, 0, err
	}
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
