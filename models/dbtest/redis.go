package dbtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/models/ratelimit"
)

// RedisURL is REDIS_URL, or a database of its own on the local server.
func RedisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/9"
}

// RedisNamespace is a namespace of the test's own, so that tests (and
// concurrent runs) sharing the Redis database never share counters; its
// keys go when the test ends.
func RedisNamespace(t testing.TB) string {
	t.Helper()
	ns := fmt.Sprintf("test-%016x", rand.Uint64())
	t.Cleanup(func() { deleteRedisNamespace(ns) })
	return ns
}

// deleteRedisNamespace removes the keys of a test's namespace.
func deleteRedisNamespace(ns string) {
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		return
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, "sb:"+ns+":*", 100).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}

// RedisLimiter connects to Redis, counting under namespace: outside CI a
// server that does not answer skips the test, in CI it fails it.
func RedisLimiter(t testing.TB, namespace string) *ratelimit.RedisRateLimiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	r, err := ratelimit.NewRedisRateLimiter(ctx, RedisURL(), namespace)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("REDIS_URL") != "" {
			t.Fatalf("Redis at %s does not answer: %v", RedisURL(), err)
		}
		t.Skipf("Redis at %s does not answer (%v); skipping outside CI", RedisURL(), err)
	}
	t.Cleanup(func() { _ = r.Client.Close() })
	return r
}
