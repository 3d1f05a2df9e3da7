package ratelimit_test

import (
	"context"
	"errors"
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
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
)

// limiterEnv is one counter store as two server instances see it: two
// limiters on separate connection pools (or Redis clients) over the same
// store, and a way to make accounts to count for.
type limiterEnv struct {
	one, two ratelimit.RateLimiter
	account  func(t *testing.T) int64
}

// eachLimiter runs fn against the database limiter on SQLite and PostgreSQL
// and against the Redis limiter, as subtests.
func eachLimiter(t *testing.T, fn func(t *testing.T, env limiterEnv)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "limits.db")
		fn(t, dbLimiterEnv(t, path))
	})
	if os.Getenv("TEST_DATABASE_URL") != "" || os.Getenv("CI") != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, dbLimiterEnv(t, dbtest.PostgresURL(t))) })
	}
	t.Run("redis", func(t *testing.T) { fn(t, redisLimiterEnv(t)) })
}

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

func dbLimiterEnv(t *testing.T, dsn string) limiterEnv {
	t.Helper()
	one, two := openTwice(t, dsn)
	return limiterEnv{
		// As the server command makes them.
		one: ratelimit.NewDBRateLimiter(one),
		two: ratelimit.NewDBRateLimiter(two),
		// rate_windows rows reference real accounts.
		account: func(t *testing.T) int64 {
			_, s := dbtest.User(t, one)
			return s.AccountID()
		},
	}
}

func redisLimiterEnv(t *testing.T) limiterEnv {
	t.Helper()
	// Two servers of one deployment: one namespace.
	ns := dbtest.RedisNamespace(t)
	one, two := dbtest.RedisLimiter(t, ns), dbtest.RedisLimiter(t, ns)
	// Account IDs 1, 2, ... in every test, as fresh databases number them:
	// the namespace keeps their counters apart.
	var last atomic.Int64
	return limiterEnv{
		one:     one,
		two:     two,
		account: func(*testing.T) int64 { return last.Add(1) },
	}
}

// testMinute is the start of a fixed minute in the middle of a UTC day, so
// that "a minute later" is the same day.
var testMinute = time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)

func take(t *testing.T, l ratelimit.RateLimiter, account int64, limits ratelimit.Limits, at time.Time) ratelimit.RateDecision {
	t.Helper()
	d, err := l.Take(t.Context(), account, limits, at)
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return d
}

func wantDecision(t *testing.T, what string, d ratelimit.RateDecision, allowed bool, limit, used int64, reset time.Time) {
	t.Helper()
	if d.Allowed != allowed || d.Limit != limit || d.Used != used || !d.Reset.Equal(reset) || d.Remaining() != max(0, limit-used) {
		t.Fatalf("%s: %+v (remaining %d); want allowed %v, limit %d, used %d, reset %v",
			what, d, d.Remaining(), allowed, limit, used, reset)
	}
}

func wantUsed(t *testing.T, l ratelimit.RateLimiter, account int64, at time.Time, minute, day int64) {
	t.Helper()
	m, d, err := l.Used(t.Context(), account, at)
	dbtest.Must(t, err)
	if m != minute || d != day {
		t.Fatalf("used at %v: %d this minute, %d today; want %d, %d", at.Format(time.TimeOnly), m, d, minute, day)
	}
}

func TestRateLimitMinuteWindow(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		acct := env.account(t)
		limits := ratelimit.Limits{PerMinute: 5, PerDay: 100}
		at := testMinute.Add(17 * time.Second)
		nextMinute := testMinute.Add(time.Minute)

		wantUsed(t, env.one, acct, at, 0, 0)
		for i := int64(1); i <= 5; i++ {
			// Alternate instances: they share the account's window.
			l := env.one
			if i%2 == 0 {
				l = env.two
			}
			wantDecision(t, fmt.Sprintf("take %d", i), take(t, l, acct, limits, at.Add(time.Duration(i)*time.Second)),
				true, 5, i, nextMinute)
		}
		for i := range 3 {
			wantDecision(t, fmt.Sprintf("take %d", 6+i), take(t, env.two, acct, limits, at.Add(30*time.Second)),
				false, 5, 5, nextMinute)
		}
		// Refusals took nothing, from either window.
		wantUsed(t, env.one, acct, at, 5, 5)
		wantUsed(t, env.two, acct, testMinute.Add(59*time.Second), 5, 5)

		// The next minute starts over; the day goes on.
		later := nextMinute.Add(3 * time.Second)
		wantDecision(t, "next minute", take(t, env.one, acct, limits, later), true, 5, 1, nextMinute.Add(time.Minute))
		wantUsed(t, env.two, acct, later, 1, 6)
		for i := int64(2); i <= 5; i++ {
			take(t, env.two, acct, limits, later)
		}
		wantDecision(t, "over again", take(t, env.one, acct, limits, later), false, 5, 5, nextMinute.Add(time.Minute))
		wantUsed(t, env.one, acct, later, 5, 10)
	})
}

func TestRateLimitDayWindow(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		acct := env.account(t)
		limits := ratelimit.Limits{PerMinute: 10, PerDay: 3}
		midnight := time.Date(2031, 3, 15, 0, 0, 0, 0, time.UTC)
		at := testMinute.Add(5 * time.Second)

		// The day window has less left: it is the one reported.
		wantDecision(t, "take 1", take(t, env.one, acct, limits, at), true, 3, 1, midnight)
		wantDecision(t, "take 2", take(t, env.two, acct, limits, at), true, 3, 2, midnight)
		wantDecision(t, "take 3", take(t, env.one, acct, limits, at.Add(2*time.Minute)), true, 3, 3, midnight)
		wantDecision(t, "take 4", take(t, env.two, acct, limits, at.Add(2*time.Minute)), false, 3, 3, midnight)
		wantDecision(t, "an hour later", take(t, env.one, acct, limits, at.Add(time.Hour)), false, 3, 3, midnight)
		wantUsed(t, env.one, acct, at.Add(2*time.Minute), 1, 3)

		// The next UTC day starts over.
		tomorrow := midnight.Add(30 * time.Second)
		wantDecision(t, "tomorrow", take(t, env.two, acct, limits, tomorrow), true, 3, 1, midnight.Add(24*time.Hour))
		wantUsed(t, env.one, acct, tomorrow, 1, 1)
	})
}

func TestRateLimitWindowsArePerAccount(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		a, b := env.account(t), env.account(t)
		limits := ratelimit.Limits{PerMinute: 3, PerDay: 100}
		at := testMinute.Add(time.Second)
		for range 3 {
			take(t, env.one, a, limits, at)
		}
		if d := take(t, env.one, a, limits, at); d.Allowed {
			t.Fatalf("account A over its limit: %+v", d)
		}
		for i := int64(1); i <= 3; i++ {
			wantDecision(t, "account B", take(t, env.two, b, limits, at), true, 3, i, testMinute.Add(time.Minute))
		}
		wantUsed(t, env.one, a, at, 3, 3)
		wantUsed(t, env.one, b, at, 3, 3)
	})
}

func TestRateLimitUsedDoesNotConsume(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		acct := env.account(t)
		limits := ratelimit.Limits{PerMinute: 2, PerDay: 100}
		at := testMinute.Add(time.Second)
		for range 10 {
			wantUsed(t, env.one, acct, at, 0, 0)
		}
		take(t, env.one, acct, limits, at)
		for range 10 {
			wantUsed(t, env.two, acct, at, 1, 1)
		}
		wantDecision(t, "second take", take(t, env.two, acct, limits, at), true, 2, 2, testMinute.Add(time.Minute))
		// Another minute reads as empty for the minute, not for the day.
		wantUsed(t, env.one, acct, at.Add(time.Minute), 0, 2)
		wantUsed(t, env.one, acct, at.Add(24*time.Hour), 0, 0)
	})
}

// With a budget of 100 and 300 concurrent requests from two server
// instances, exactly 100 pass.
func TestRateLimitIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		acct := env.account(t)
		limits := ratelimit.Limits{PerMinute: 100, PerDay: 100_000}
		at := testMinute.Add(20 * time.Second)
		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int64]bool{}
		start := make(chan struct{})
		errs := make(chan error, 300)
		for i := range 300 {
			l := env.one
			if i%2 == 1 {
				l = env.two
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				d, err := l.Take(context.Background(), acct, limits, at)
				switch {
				case err != nil:
					errs <- err
				case d.Allowed:
					allowed.Add(1)
					if d.Used < 1 || d.Used > 100 || d.Limit != 100 {
						errs <- fmt.Errorf("allowed decision %+v", d)
					}
					// Each allowed request sees its own place in the window,
					// whichever server and take it came through.
					mu.Lock()
					if seen[d.Used] {
						errs <- fmt.Errorf("two allowed requests saw %d used", d.Used)
					}
					seen[d.Used] = true
					mu.Unlock()
				default:
					refused.Add(1)
					if d.Used != 100 || d.Limit != 100 || d.Remaining() != 0 {
						errs <- fmt.Errorf("refused decision %+v", d)
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if allowed.Load() != 100 || refused.Load() != 200 {
			t.Fatalf("%d allowed, %d refused; want exactly 100 and 200", allowed.Load(), refused.Load())
		}
		wantUsed(t, env.one, acct, at, 100, 100)
	})
}

// A server whose clock lags (still in the previous minute) must neither get
// past a full window nor wipe the count of the newer one.
func TestRateLimitLaggingClockDoesNotResetTheWindow(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		acct := env.account(t)
		limits := ratelimit.Limits{PerMinute: 5, PerDay: 100}
		m0 := testMinute.Add(50 * time.Second)
		m1 := testMinute.Add(time.Minute + time.Second)
		for range 5 {
			take(t, env.one, acct, limits, m0)
		}
		for range 5 {
			take(t, env.one, acct, limits, m1) // the instance with the right clock moved on
		}
		if d := take(t, env.two, acct, limits, m0); d.Allowed {
			t.Errorf("lagging instance: %+v; want refused, its minute is full", d)
		}
		if d := take(t, env.one, acct, limits, m1); d.Allowed {
			t.Errorf("after the lagging instance's request: %+v; want refused, the minute already had 5", d)
		}
		wantUsed(t, env.one, acct, m1, 5, 10)
	})
}

// A limit of zero blocks the account, from its first request on.
func TestRateLimitOfZeroRefusesEverything(t *testing.T) {
	t.Parallel()
	eachLimiter(t, func(t *testing.T, env limiterEnv) {
		at := testMinute.Add(time.Second)
		for _, limits := range []ratelimit.Limits{{PerMinute: 0, PerDay: 100}, {PerMinute: 10, PerDay: 0}} {
			t.Run(fmt.Sprintf("%d per minute, %d per day", limits.PerMinute, limits.PerDay), func(t *testing.T) {
				acct := env.account(t) // a fresh account: no counters yet
				for i := range 3 {
					if d := take(t, env.one, acct, limits, at); d.Allowed || d.Limit != 0 || d.Remaining() != 0 {
						t.Errorf("take %d: %+v; want refused", i+1, d)
					}
				}
				wantUsed(t, env.one, acct, at, 0, 0)
			})
		}
	})
}

func TestDBRateLimiterTakesOneRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		l := ratelimit.NewDBRateLimiter(db)
		limits := ratelimit.Limits{PerMinute: 1, PerDay: 10}
		for i, want := range []int64{1, 1, 2} { // first row, update, refusal
			before := tenancy.QueryCount()
			d := take(t, l, s.AccountID(), limits, testMinute.Add(time.Duration(min(i, 1))*time.Minute))
			if n := tenancy.QueryCount() - before; n != want {
				t.Errorf("take %d (%+v): %d statements, want %d", i+1, d, n, want)
			}
		}
	})
}

// A request queued behind another of its account, whose statement hangs
// (here on a lock the test holds), gives up when its own context ends
// rather than when the statement ahead of it does.
func TestDBRateLimiterWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		l := ratelimit.NewDBRateLimiter(db)
		limits := ratelimit.Limits{PerMinute: 100, PerDay: 100}
		take(t, l, s.AccountID(), limits, testMinute)
		// Hold the account's counter row (the whole database on SQLite).
		hold := dbtest.Plain(t, db).Begin()
		dbtest.Must(t, hold.Error)
		dbtest.Must(t, hold.Exec("UPDATE rate_windows SET minute_count = minute_count WHERE account_id = ?", s.AccountID()).Error)
		released := false
		release := func() {
			if !released {
				released = true
				dbtest.Must(t, hold.Rollback().Error)
			}
		}
		defer release()

		ahead := make(chan error, 1)
		go func() {
			_, err := l.Take(context.Background(), s.AccountID(), limits, testMinute)
			ahead <- err
		}()
		time.Sleep(200 * time.Millisecond) // the first request is in, waiting on the row

		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		behind := make(chan error, 1)
		go func() {
			_, err := l.Take(ctx, s.AccountID(), limits, testMinute)
			behind <- err
		}()
		select {
		case err := <-behind:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("the queued request answered %v, want its context's end", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("the queued request still waits for the one ahead of it after its context ended")
		}
		release()
		if err := <-ahead; err != nil {
			t.Logf("the request ahead: %v", err)
		}
		// The queue lets the account in again.
		if d := take(t, l, s.AccountID(), limits, testMinute); !d.Allowed {
			t.Errorf("after the hang: %+v, want allowed", d)
		}
	})
}

func TestRateLimitRowGoesWithTheAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		take(t, ratelimit.NewDBRateLimiter(db), org.AccountID(), ratelimit.Limits{PerMinute: 5, PerDay: 5}, testMinute)
		dbtest.Must(t, models.DeleteOrganization(t.Context(), db, org, org.Account().Name, dbtest.ActorOf(owner)))
		if n := dbtest.CountRows(t, db, "rate_windows", "account_id = ?", org.AccountID()); n != 0 {
			t.Errorf("%d rate_windows rows left for a deleted account", n)
		}
	})
}

func TestLimitsOf(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		owner, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		ctx := t.Context()

		for plan, want := range map[tenancy.Plan]ratelimit.Limits{
			tenancy.PlanFree:       {PerMinute: 60, PerDay: 1_000},
			tenancy.PlanDeveloper:  {PerMinute: 600, PerDay: 50_000},
			tenancy.PlanEnterprise: ratelimit.PlanLimits[tenancy.PlanEnterprise],
			"unknown":              {PerMinute: 60, PerDay: 1_000},
		} {
			dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ? WHERE id = ?", plan, org.AccountID()).Error)
			if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, org.AccountID())); got != want {
				t.Errorf("plan %s: limits %+v, want %+v", plan, got, want)
			}
		}
		if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, personal.AccountID())); got != ratelimit.PlanLimits[tenancy.PlanFree] {
			t.Errorf("a new personal account: %+v, want Free's", got)
		}

		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ? WHERE id = ?", tenancy.PlanEnterprise, org.AccountID()).Error)
		perMinute, perDay := int64(5_000), int64(2_000_000)
		a, err := ratelimit.SetAccountLimits(ctx, db, org.Account().SlugOrEmpty(), &perMinute, &perDay)
		dbtest.Must(t, err)
		if a.ID != org.AccountID() || ratelimit.LimitsOf(a) != (ratelimit.Limits{PerMinute: 5_000, PerDay: 2_000_000}) {
			t.Errorf("by slug: account %d, limits %+v", a.ID, ratelimit.LimitsOf(a))
		}
		if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, org.AccountID())); got != (ratelimit.Limits{PerMinute: 5_000, PerDay: 2_000_000}) {
			t.Errorf("stored limits %+v", got)
		}
		// Only one window overridden: the other is the plan's.
		a, err = ratelimit.SetAccountLimits(ctx, db, org.Account().PublicID, nil, &perDay)
		dbtest.Must(t, err)
		want := ratelimit.Limits{PerMinute: ratelimit.PlanLimits[tenancy.PlanEnterprise].PerMinute, PerDay: 2_000_000}
		if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, org.AccountID())); a.ID != org.AccountID() || got != want {
			t.Errorf("by public ID, day only: %+v, want %+v", got, want)
		}
		// nil restores the plan's.
		_, err = ratelimit.SetAccountLimits(ctx, db, org.Account().PublicID, nil, nil)
		dbtest.Must(t, err)
		if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, org.AccountID())); got != ratelimit.PlanLimits[tenancy.PlanEnterprise] {
			t.Errorf("after clearing: %+v, want the plan's", got)
		}
		if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, personal.AccountID())); got != ratelimit.PlanLimits[tenancy.PlanFree] {
			t.Errorf("another account changed: %+v", got)
		}

		negative := int64(-1)
		_, err = ratelimit.SetAccountLimits(ctx, db, org.Account().PublicID, &negative, nil)
		if err == nil {
			t.Error("a negative limit was accepted")
		}
		if got := ratelimit.LimitsOf(dbtest.ReloadAccount(t, db, org.AccountID())); got != ratelimit.PlanLimits[tenancy.PlanEnterprise] {
			t.Errorf("a refused change changed the limits: %+v", got)
		}
		_, err = ratelimit.SetAccountLimits(ctx, db, "no-such-account", &perMinute, nil)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = ratelimit.SetAccountLimits(ctx, db, "", &perMinute, nil)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
	})
}

// An organization can be named after another account's public ID (its slug
// then equals that ID): the operator's command must still reach the account
// with that public ID, never the look-alike.
func TestSetAccountLimitsPrefersThePublicID(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, victim := dbtest.User(t, db)
		mallory, _ := dbtest.User(t, db)
		lookAlike, err := models.CreateOrganization(t.Context(), db, mallory.ID, victim.Account().PublicID)
		dbtest.Must(t, err)
		if lookAlike.SlugOrEmpty() != victim.Account().PublicID {
			t.Skipf("slug %q differs from the public ID %q: no ambiguity", lookAlike.SlugOrEmpty(), victim.Account().PublicID)
		}
		// The victim's account row changes after the look-alike exists (a
		// plan change, say): its row is now the newer one.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ? WHERE id = ?", tenancy.PlanDeveloper, victim.AccountID()).Error)
		perMinute := int64(10_000)
		a, err := ratelimit.SetAccountLimits(t.Context(), db, victim.Account().PublicID, &perMinute, nil)
		dbtest.Must(t, err)
		if a.ID != victim.AccountID() {
			t.Errorf("limits set on account %d (slug %q), want %d (public ID)", a.ID, a.SlugOrEmpty(), victim.AccountID())
		}
		if got := dbtest.ReloadAccount(t, db, lookAlike.ID).RatePerMinute; got != nil {
			t.Errorf("the look-alike organization got %d per minute", *got)
		}
	})
}

// Redis counters expire on their own once their window has passed, so that
// the store does not grow with every minute of every account.
func TestRedisCountersExpire(t *testing.T) {
	t.Parallel()
	ns := dbtest.RedisNamespace(t)
	r := dbtest.RedisLimiter(t, ns)
	acct := int64(42)
	take(t, r, acct, ratelimit.Limits{PerMinute: 5, PerDay: 5}, time.Now())
	ctx := t.Context()
	keys, err := r.Client.Keys(ctx, fmt.Sprintf("sb:%s:rl:{%d}:*", ns, acct)).Result()
	dbtest.Must(t, err)
	if len(keys) != 2 {
		t.Fatalf("keys %v, want a minute and a day counter", keys)
	}
	for _, k := range keys {
		ttl, err := r.Client.TTL(ctx, k).Result()
		dbtest.Must(t, err)
		if ttl <= 0 || ttl > 2*24*time.Hour {
			t.Errorf("%s expires in %v, want within two days", k, ttl)
		}
	}
}

// A Redis that does not answer is an error, never a pass.
func TestRedisRateLimiterUnreachable(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	d, err := (&ratelimit.RedisRateLimiter{Client: c, Namespace: "unreachable"}).Take(t.Context(), 1, ratelimit.Limits{PerMinute: 5, PerDay: 5}, time.Now())
	if err == nil || d.Allowed {
		t.Fatalf("decision %+v, error %v; want an error", d, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := ratelimit.NewRedisRateLimiter(ctx, "redis://127.0.0.1:1/0", "unreachable"); err == nil {
		t.Error("NewRedisRateLimiter connected to nothing")
	}
	if _, err := ratelimit.NewRedisRateLimiter(t.Context(), "http://not-redis", "unreachable"); err == nil {
		t.Error("NewRedisRateLimiter accepted a URL that is not redis://")
	}
}

// Two deployments sharing a Redis database, whose account numbers repeat
// (as test databases' do), count apart: each namespace has its own budget.
func TestRedisNamespacesDoNotShareCounts(t *testing.T) {
	t.Parallel()
	nsA, nsB := dbtest.RedisNamespace(t), dbtest.RedisNamespace(t)
	a, b := dbtest.RedisLimiter(t, nsA), dbtest.RedisLimiter(t, nsB)
	const acct = 7
	l := ratelimit.Limits{PerMinute: 2, PerDay: 100}
	at := testMinute.Add(10 * time.Second)
	reset := testMinute.Add(time.Minute)
	wantDecision(t, "A 1", take(t, a, acct, l, at), true, 2, 1, reset)
	wantDecision(t, "A 2", take(t, a, acct, l, at), true, 2, 2, reset)
	wantDecision(t, "A 3", take(t, a, acct, l, at), false, 2, 2, reset)
	// B's budget is whole.
	wantDecision(t, "B 1", take(t, b, acct, l, at), true, 2, 1, reset)
	mA, dA, err := a.Used(t.Context(), acct, at)
	dbtest.Must(t, err)
	mB, dB, err := b.Used(t.Context(), acct, at)
	dbtest.Must(t, err)
	if mA != 2 || dA != 2 || mB != 1 || dB != 1 {
		t.Errorf("used: A %d/%d, B %d/%d; want A 2/2, B 1/1", mA, dA, mB, dB)
	}
}

// A namespace is required, and cannot move a key's Redis Cluster hash slot.
func TestRedisNamespaceIsChecked(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"", "a{b", "a}b", "with space", strings.Repeat("x", 101), "tab\tx"} {
		if _, err := ratelimit.NewRedisRateLimiter(t.Context(), dbtest.RedisURL(), ns); err == nil {
			t.Errorf("namespace %q accepted", ns)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	d, err := (&ratelimit.RedisRateLimiter{Client: c}).Take(t.Context(), 1, ratelimit.Limits{PerMinute: 5, PerDay: 5}, time.Now())
	if err == nil || d.Allowed {
		t.Errorf("a limiter without a namespace took %+v, %v; want an error", d, err)
	}
}
