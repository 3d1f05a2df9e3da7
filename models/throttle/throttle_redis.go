package throttle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/models/ratelimit"
)

// RedisThrottle keeps the budgets in Redis, for deployments that count API
// rate limits there: one key per budget, holding when it is full again and
// expiring then, so nothing needs sweeping. Keys are
// sb:NAMESPACE:th:RULE:HMAC; each script touches one key, which suits a
// Redis Cluster.
type RedisThrottle struct {
	client    *redis.Client
	namespace string
	hash      throttleHasher
}

// NewRedisThrottle counts with client under namespace (see
// ValidRedisNamespace), naming budgets by a hash keyed with secret; every
// server of the deployment must share both.
func NewRedisThrottle(client *redis.Client, namespace string, secret []byte) (*RedisThrottle, error) {
	if err := ratelimit.ValidRedisNamespace(namespace); err != nil {
		return nil, err
	}
	return &RedisThrottle{client: client, namespace: namespace, hash: newThrottleHasher(secret)}, nil
}

// Take implements Throttle.
func (t *RedisThrottle) Take(ctx context.Context, at time.Time, keys ...ThrottleKey) (time.Duration, error) {
	return takeAll(ctx, t, t.hash, at, keys)
}

// Refund implements Throttle.
func (t *RedisThrottle) Refund(ctx context.Context, at time.Time, keys ...ThrottleKey) error {
	return refundAll(ctx, t, t.hash, at, keys)
}

// Reset implements Throttle.
func (t *RedisThrottle) Reset(ctx context.Context, keys ...ThrottleKey) error {
	return resetAll(ctx, t, t.hash, keys)
}

func (t *RedisThrottle) key(name string) string { return "sb:" + t.namespace + ":th:" + name }

// throttleTakeScript: KEYS the budget; ARGV now, every, (burst-1) × every,
// in milliseconds. Returns {taken, full at}. The key expires when the
// budget is full again, counted from the caller's clock as the instants are.
var throttleTakeScript = redis.NewScript(`
local full = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
if full > now + tonumber(ARGV[3]) then
	return {0, full}
end
if full < now then full = now end
full = full + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.0f', full), 'PX', string.format('%.0f', full - now))
return {1, full}
`)

// throttleRefundScript: KEYS the budget; ARGV now, every.
var throttleRefundScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local now = tonumber(ARGV[1])
local full = tonumber(v) - tonumber(ARGV[2])
if full <= now then
	redis.call('DEL', KEYS[1])
	return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', full), 'PX', string.format('%.0f', full - now))
return 1
`)

func (t *RedisThrottle) take(ctx context.Context, name string, r throttleRule, now int64) (bool, int64, error) {
	every := r.every.Milliseconds()
	res, err := throttleTakeScript.Run(ctx, t.client, []string{t.key(name)}, now, every, (r.burst-1)*every).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("unexpected answer %v", res)
	}
	return res[0] == 1, res[1], nil
}

func (t *RedisThrottle) peek(ctx context.Context, name string) (int64, error) {
	v, err := t.client.Get(ctx, t.key(name)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

func (t *RedisThrottle) refund(ctx context.Context, name string, r throttleRule, now int64) error {
	return throttleRefundScript.Run(ctx, t.client, []string{t.key(name)}, now, r.every.Milliseconds()).Err()
}

func (t *RedisThrottle) reset(ctx context.Context, names []string) error {
	// One DEL per key: several keys in one DEL must share a Cluster slot.
	_, err := t.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, n := range names {
			p.Del(ctx, t.key(n))
		}
		return nil
	})
	return err
}
