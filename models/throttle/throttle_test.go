package throttle_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/throttle"
)

// throttleEnv is one throttle store as two servers see it, and what the
// store holds, to check what it keeps.
type throttleEnv struct {
	one, two throttle.Throttle
	// stored lists the names of the budgets the store holds.
	stored func(t *testing.T) []string
	// db is the database behind a DBThrottle, redis the client of a
	// RedisThrottle; the other is nil.
	db    *gorm.DB
	redis *redis.Client
}

var throttleSecret = []byte("test-throttle-secret-0123456789abcdef")

// eachThrottle runs fn against the database throttle on SQLite and
// PostgreSQL and against the Redis throttle, as subtests.
func eachThrottle(t *testing.T, fn func(t *testing.T, env throttleEnv)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, dbThrottleEnv(t, filepath.Join(t.TempDir(), "throttle.db")))
	})
	if os.Getenv("TEST_DATABASE_URL") != "" || os.Getenv("CI") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, dbThrottleEnv(t, dbtest.PostgresURL(t))) })
	}
	t.Run("redis", func(t *testing.T) { fn(t, redisThrottleEnv(t)) })
}

func dbThrottleEnv(t *testing.T, dsn string) throttleEnv {
	t.Helper()
	one, two := openTwice(t, dsn)
	return throttleEnv{
		one: throttle.NewDBThrottle(one, throttleSecret),
		two: throttle.NewDBThrottle(two, throttleSecret),
		db:  one,
		stored: func(t *testing.T) []string {
			var names []string
			dbtest.Must(t, one.Raw("SELECT key_hash FROM throttle_buckets ORDER BY key_hash").Scan(&names).Error)
			return names
		},
	}
}

func redisThrottleEnv(t *testing.T) throttleEnv {
	t.Helper()
	ns := dbtest.RedisNamespace(t)
	a, b := dbtest.RedisLimiter(t, ns), dbtest.RedisLimiter(t, ns) // connected clients, or skipped
	one, err := throttle.NewRedisThrottle(a.Client, ns, throttleSecret)
	dbtest.Must(t, err)
	two, err := throttle.NewRedisThrottle(b.Client, ns, throttleSecret)
	dbtest.Must(t, err)
	return throttleEnv{
		one: one, two: two, redis: a.Client,
		stored: func(t *testing.T) []string {
			keys, err := a.Client.Keys(t.Context(), "sb:"+ns+":*").Result()
			dbtest.Must(t, err)
			return keys
		},
	}
}

// testClock is a fixed instant on a whole second, far from any real one.
var testClock = time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)

func takeWait(t *testing.T, th throttle.Throttle, at time.Time, keys ...throttle.ThrottleKey) time.Duration {
	t.Helper()
	wait, err := th.Take(t.Context(), at, keys...)
	dbtest.Must(t, err)
	return wait
}

func signInWait(t *testing.T, th throttle.Throttle, email, address string, at time.Time) time.Duration {
	t.Helper()
	wait, err := throttle.ThrottleSignIn(t.Context(), th, email, address, at)
	dbtest.Must(t, err)
	return wait
}

// A budget allows its burst at once, then one attempt per interval, and the
// wait it names is exact; both servers count into it.
func TestThrottleBurstThenSteady(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		k := throttle.NewThrottleKey("test", 3, time.Minute, "someone@example.com")
		for i := range 3 {
			th := env.one
			if i%2 == 1 {
				th = env.two
			}
			if w := takeWait(t, th, testClock, k); w != 0 {
				t.Fatalf("attempt %d waits %v within the burst", i+1, w)
			}
		}
		if w := takeWait(t, env.two, testClock, k); w != time.Minute {
			t.Fatalf("4th attempt waits %v, want 1m", w)
		}
		if w := takeWait(t, env.one, testClock.Add(59*time.Second), k); w != time.Second {
			t.Fatalf("59 s later the wait is %v, want 1s", w)
		}
		if w := takeWait(t, env.one, testClock.Add(time.Minute), k); w != 0 {
			t.Fatalf("a minute later the attempt waits %v", w)
		}
		if w := takeWait(t, env.two, testClock.Add(time.Minute), k); w != time.Minute {
			t.Fatalf("the next one waits %v, want 1m", w)
		}
		// Unused for 3 minutes, the budget is whole again.
		later := testClock.Add(4 * time.Minute)
		for i := range 3 {
			if w := takeWait(t, env.one, later, k); w != 0 {
				t.Fatalf("after a pause, attempt %d waits %v", i+1, w)
			}
		}
	})
}

// A refused attempt counts against no budget, not even those that had
// room; the wait named is the longest.
func TestThrottleAllOrNothing(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		roomy := throttle.NewThrottleKey("roomy", 2, time.Minute, "x")
		spent := throttle.NewThrottleKey("spent", 1, time.Hour, "x")
		tight := throttle.NewThrottleKey("tight", 1, 2*time.Hour, "x")
		takeWait(t, env.one, testClock, spent)
		takeWait(t, env.one, testClock, tight)
		for range 5 {
			if w := takeWait(t, env.two, testClock, roomy, spent, tight); w != 2*time.Hour {
				t.Fatalf("wait %v, want the tightest budget's 2h", w)
			}
		}
		if w := takeWait(t, env.one, testClock, roomy); w != 0 {
			t.Fatalf("refused attempts spent the roomy budget: wait %v", w)
		}
		if w := takeWait(t, env.one, testClock, roomy); w != 0 {
			t.Fatalf("refused attempts spent the roomy budget: second wait %v", w)
		}
	})
}

// Concurrent attempts on two servers take exactly the burst.
func TestThrottleConcurrentTakesAreExact(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		k := throttle.NewThrottleKey("race", 5, time.Hour, "x")
		var passed atomic.Int64
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				th := env.one
				if i%2 == 1 {
					th = env.two
				}
				w, err := th.Take(t.Context(), testClock, k)
				if err != nil {
					t.Error(err)
					return
				}
				if w == 0 {
					passed.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := passed.Load(); n != 5 {
			t.Fatalf("%d of 20 concurrent attempts passed, want 5", n)
		}
	})
}

// One failure every 15 minutes, forever, never makes anyone wait.
func TestThrottleSparseSignInFailuresNeverAddUp(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		at := testClock
		for i := range 200 {
			if w := signInWait(t, env.one, "victim@example.com", "203.0.113.9", at); w != 0 {
				t.Fatalf("failure %d, 15 minutes after the last, waits %v", i+1, w)
			}
			at = at.Add(15 * time.Minute)
		}
	})
}

// The sign-in rules: 5 attempts for one email from one address, 20 from one
// address, and an email's budget across addresses that makes anyone wait
// at most 3 seconds.
func TestThrottleSignInRules(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		const victim, attacker, owner = "victim@example.com", "198.51.100.7", "203.0.113.9"
		for i := range 5 {
			if w := signInWait(t, env.one, victim, attacker, testClock); w != 0 {
				t.Fatalf("attempt %d waits %v", i+1, w)
			}
		}
		// The 6th from that address waits 10 minutes, however often it asks,
		// and its refusals count nowhere.
		for range 50 {
			if w := signInWait(t, env.two, strings.ToUpper(victim), attacker, testClock.Add(time.Second)); w < 9*time.Minute || w > 10*time.Minute {
				t.Fatalf("6th attempt waits %v, want about 10 minutes", w)
			}
		}
		// The owner, elsewhere, is not held up.
		if w := signInWait(t, env.one, victim, owner, testClock.Add(time.Second)); w != 0 {
			t.Fatalf("the owner's attempt from another address waits %v", w)
		}

		// Many addresses at one email: 10 at once, then one every 3 seconds.
		target := "target@example.com"
		at := testClock.Add(time.Hour)
		for i := range 10 {
			if w := signInWait(t, env.one, target, fmt.Sprintf("192.0.2.%d", i), at); w != 0 {
				t.Fatalf("attempt from address %d waits %v", i, w)
			}
		}
		for i := range 20 {
			w := signInWait(t, env.two, target, fmt.Sprintf("192.0.2.%d", 100+i), at)
			if w <= 0 || w > 3*time.Second {
				t.Fatalf("attempt %d across addresses waits %v, want at most 3s", i, w)
			}
		}
		if w := signInWait(t, env.one, target, "192.0.2.200", at.Add(3*time.Second)); w != 0 {
			t.Fatalf("3 seconds later the attempt waits %v", w)
		}

		// One address, many emails: 20, then one every 3 minutes.
		sprayer := "198.51.100.99"
		at = testClock.Add(2 * time.Hour)
		for i := range 20 {
			if w := signInWait(t, env.one, fmt.Sprintf("user%d@example.com", i), sprayer, at); w != 0 {
				t.Fatalf("spray %d waits %v", i, w)
			}
		}
		if w := signInWait(t, env.two, "user20@example.com", sprayer, at); w != 3*time.Minute {
			t.Fatalf("21st email from one address waits %v, want 3m", w)
		}
	})
}

// A successful sign-in gives the address and the email their attempt back
// and forgets the email's failures from that address, and only those.
func TestThrottleSignedInForgives(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		ctx := t.Context()
		const email, home, office = "owner@example.com", "203.0.113.1", "203.0.113.2"
		for range 5 {
			signInWait(t, env.one, email, home, testClock)
			signInWait(t, env.one, email, office, testClock)
		}
		dbtest.Must(t, throttle.SignedIn(ctx, env.two, email, home, testClock))
		if w := signInWait(t, env.one, email, home, testClock); w != 0 {
			t.Fatalf("after signing in, the next attempt from home waits %v", w)
		}
		if w := signInWait(t, env.one, email, office, testClock); w <= 3*time.Second {
			t.Fatalf("signing in from home forgot the failures from the office: wait %v", w)
		}
		// A whole office signing in through one address never fills its budget.
		at := testClock.Add(time.Hour)
		for i := range 100 {
			colleague := fmt.Sprintf("colleague%d@example.com", i)
			if w := signInWait(t, env.one, colleague, office, at); w != 0 {
				t.Fatalf("colleague %d waits %v", i, w)
			}
			dbtest.Must(t, throttle.SignedIn(ctx, env.two, colleague, office, at))
		}
		// After a password reset from an address, its failures are gone.
		for range 5 {
			signInWait(t, env.one, "forgetful@example.com", home, at)
		}
		dbtest.Must(t, throttle.ForgetSignInFailures(ctx, env.two, "Forgetful@example.com", home))
		if w := signInWait(t, env.one, "forgetful@example.com", home, at); w != 0 {
			t.Fatalf("after a reset the attempt waits %v", w)
		}
	})
}

// Emailed links: one verification link a minute; three reset links, then
// one every 10 minutes.
func TestThrottleLinks(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		ctx := t.Context()
		link := func(p models.TokenPurpose, at time.Time) time.Duration {
			t.Helper()
			w, err := throttle.ThrottleLink(ctx, env.one, p, "someone@example.com", at)
			dbtest.Must(t, err)
			return w
		}
		if w := link(models.PurposeVerify, testClock); w != 0 {
			t.Fatalf("first verification link waits %v", w)
		}
		if w := link(models.PurposeVerify, testClock.Add(20*time.Second)); w != 40*time.Second {
			t.Fatalf("second verification link waits %v, want 40s", w)
		}
		for i := range 3 {
			if w := link(models.PurposeReset, testClock); w != 0 {
				t.Fatalf("reset link %d waits %v", i+1, w)
			}
		}
		if w := link(models.PurposeReset, testClock); w != 10*time.Minute {
			t.Fatalf("4th reset link waits %v, want 10m", w)
		}
	})
}

// Neither emails nor addresses are stored, and budgets that are full again
// go: rows with the sweep, Redis keys on their own.
func TestThrottleStoresHashesAndForgets(t *testing.T) {
	t.Parallel()
	eachThrottle(t, func(t *testing.T, env throttleEnv) {
		const email, address = "private.person@example.com", "203.0.113.77"
		signInWait(t, env.one, email, address, testClock)
		names := env.stored(t)
		if len(names) != 3 {
			t.Fatalf("stored %v, want three budgets", names)
		}
		for _, n := range names {
			if strings.Contains(n, "private") || strings.Contains(n, "example.com") || strings.Contains(n, address) {
				t.Errorf("stored name %q reveals what it counts", n)
			}
		}
		// Another deployment's secret names the same email differently.
		if env.db != nil {
			other := throttle.NewDBThrottle(env.db, []byte("another deployment's secret"))
			signInWait(t, other, email, address, testClock)
			if got := env.stored(t); len(got) != 6 {
				t.Fatalf("a different secret named %d budgets, want 6", len(got))
			}
			// 3 seconds on, the email budgets are full again.
			n, err := throttle.DeleteFullThrottleBuckets(t.Context(), env.db, testClock.Add(3*time.Second))
			dbtest.Must(t, err)
			if n != 2 {
				t.Fatalf("swept %d budgets after 3 seconds, want the 2 email budgets", n)
			}
			n, err = throttle.DeleteFullThrottleBuckets(t.Context(), env.db, testClock.Add(10*time.Minute))
			dbtest.Must(t, err)
			if n != 4 || len(env.stored(t)) != 0 {
				t.Fatalf("swept %d budgets after 10 minutes, %d left; want all gone", n, len(env.stored(t)))
			}
			return
		}
		// Redis: each key expires when its budget is full again.
		for _, n := range names {
			ttl, err := env.redis.PTTL(t.Context(), n).Result()
			dbtest.Must(t, err)
			if ttl <= 0 || ttl > 10*time.Minute {
				t.Errorf("%s expires in %v, want within 10 minutes", n, ttl)
			}
		}
	})
}

// A Redis that does not answer is an error, never a pass; a namespace is
// required.
func TestRedisThrottleUnreachable(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	th, err := throttle.NewRedisThrottle(c, "unreachable", throttleSecret)
	dbtest.Must(t, err)
	if w, err := throttle.ThrottleSignIn(t.Context(), th, "a@example.com", "203.0.113.1", time.Now()); err == nil {
		t.Fatalf("wait %v and no error from a Redis that does not answer", w)
	}
	if _, err := throttle.NewRedisThrottle(c, "", throttleSecret); err == nil {
		t.Error("NewRedisThrottle accepted an empty namespace")
	}
}
