package throttle_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
)

// openTwice opens dsn as two separate pools, migrated once.
func openTwice(t *testing.T, dsn string) (*gorm.DB, *gorm.DB) {
	t.Helper()
	var dbs [2]*gorm.DB
	for i := range dbs {
		dbs[i] = dbtest.Open(t, dsn)
	}
	dbtest.Must(t, tenancy.Migrate(t.Context(), dbs[0]))
	return dbs[0], dbs[1]
}

// redisNamespace is a namespace of the test's own, so that tests (and
// concurrent runs) sharing the Redis database never share counters; its
// keys go when the test ends.
func redisNamespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("test-%016x", rand.Uint64())
	t.Cleanup(func() { deleteRedisNamespace(t, ns) })
	return ns
}

// deleteRedisNamespace removes the keys of a test's namespace.
func deleteRedisNamespace(t *testing.T, ns string) {
	opts, err := redis.ParseURL(redisURL())
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

// redisURL is REDIS_URL, or a database of its own on the local server.
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/9"
}

// redisLimiter connects to Redis, counting under namespace: outside CI a
// server that does not answer skips the test, in CI it fails it.
func redisLimiter(t *testing.T, namespace string) *ratelimit.RedisRateLimiter {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	r, err := ratelimit.NewRedisRateLimiter(ctx, redisURL(), namespace)
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("REDIS_URL") != "" {
			t.Fatalf("Redis at %s does not answer: %v", redisURL(), err)
		}
		t.Skipf("Redis at %s does not answer (%v); skipping outside CI", redisURL(), err)
	}
	t.Cleanup(func() { _ = r.Client.Close() })
	return r
}
