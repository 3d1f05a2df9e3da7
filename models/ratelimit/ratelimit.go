// Package ratelimit decides whether an API request fits its account's
// per-minute and per-day limits, counting in the database or in Redis.
package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Limits are an account's API request budgets: per minute and per day. All
// keys of all members of the account draw from them.
type Limits struct {
	PerMinute int64
	PerDay    int64
}

// PlanLimits is the rate card of limits; Enterprise accounts have theirs set
// by an operator (RatePerMinute, RatePerDay) and fall back to Developer's.
var PlanLimits = map[tenancy.Plan]Limits{
	tenancy.PlanFree:       {PerMinute: 60, PerDay: 1_000},
	tenancy.PlanDeveloper:  {PerMinute: 600, PerDay: 50_000},
	tenancy.PlanEnterprise: {PerMinute: 600, PerDay: 50_000},
}

// LimitsOf are the limits in force for an account.
func LimitsOf(a tenancy.Account) Limits {
	l, ok := PlanLimits[a.Plan]
	if !ok {
		l = PlanLimits[tenancy.PlanFree]
	}
	if a.RatePerMinute != nil {
		l.PerMinute = *a.RatePerMinute
	}
	if a.RatePerDay != nil {
		l.PerDay = *a.RatePerDay
	}
	return l
}

// RateDecision is the answer to one request: whether it may proceed, and
// the window that constrains it most, for the X-Ratelimit headers.
type RateDecision struct {
	Allowed bool
	Limit   int64
	Used    int64
	Reset   time.Time // when the constraining window starts over
}

// Remaining is what is left of the constraining window.
func (d RateDecision) Remaining() int64 { return max(0, d.Limit-d.Used) }

// RateLimiter takes one request from an account's budgets, atomically across
// goroutines and server processes: with a budget of N, exactly N concurrent
// requests pass. A refused request takes nothing.
type RateLimiter interface {
	Take(ctx context.Context, accountID int64, limits Limits, at time.Time) (RateDecision, error)
	// Used reads what the account consumed in the current minute and day
	// without taking anything.
	Used(ctx context.Context, accountID int64, at time.Time) (minute, day int64, err error)
}

// windows are the starts (Unix seconds) of the minute and the UTC day of at.
func windows(at time.Time) (minute, day int64) {
	u := at.UTC()
	return u.Truncate(time.Minute).Unix(), time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).Unix()
}

// decide picks the window to report: the one with less left.
func decide(allowed bool, l Limits, minuteStart, minuteCount, dayStart, dayCount int64) RateDecision {
	m := RateDecision{Allowed: allowed, Limit: l.PerMinute, Used: minuteCount, Reset: time.Unix(minuteStart+60, 0).UTC()}
	d := RateDecision{Allowed: allowed, Limit: l.PerDay, Used: dayCount, Reset: time.Unix(dayStart+86400, 0).UTC()}
	if !allowed {
		// Refused: report the window that refused.
		if dayCount >= l.PerDay {
			return d
		}
		return m
	}
	if d.Remaining() < m.Remaining() {
		return d
	}
	return m
}

// takeSQL takes up to n requests from an account's windows, the first
// that fit: arguments $1 account, $2 minute start, $3 day start, $4 n, $5
// per-minute and $6 per-day limits. It answers the new counts and how many
// it took (last_taken), or no row when a window is full. The counts a
// window had are 0 once it has moved on; the update only happens while both
// windows have room. A server whose clock lags counts into the newer window
// the row already holds, never resetting it backwards. excluded.minute_start
// and excluded.day_start are this take's windows.
//
// On PostgreSQL the statement commits without waiting for its WAL to reach
// the disk (synchronous_commit off, for its own transaction only): an
// account's takes run one after the other, and the wait for the flush
// bounded its requests per second. Counting stays exact among servers (the
// row's lock is taken and released as before); only a crash of the
// database could forget the last fraction of a second's counts, less than
// the Redis limiter, which keeps none, would.
var takeSQL = tenancy.NewHotSQLFor(takeText("MIN", "$%d", "VALUES ($1, $2, %[1]s, $3, %[1]s, %[1]s)"),
	"WITH lazy_commit AS (SELECT set_config('synchronous_commit', 'off', true))\n"+
		takeText("LEAST", "CAST($%d AS BIGINT)", "SELECT $1, $2, %[1]s, $3, %[1]s, %[1]s FROM lazy_commit"))

// takeText is takeSQL's text in a database's words: least its function of
// the least of its arguments, param the format of parameter i, and row the
// row it inserts, given (as %[1]s) what a fresh row takes.
func takeText(least, param, row string) string {
	p := func(i int) string { return fmt.Sprintf(param, i) }
	minuteCount := "(CASE WHEN rate_windows.minute_start >= excluded.minute_start THEN rate_windows.minute_count ELSE 0 END)"
	dayCount := "(CASE WHEN rate_windows.day_start >= excluded.day_start THEN rate_windows.day_count ELSE 0 END)"
	grant := least + "(" + p(4) + ", " + p(5) + " - " + minuteCount + ", " + p(6) + " - " + dayCount + ")"
	fresh := least + "(" + p(4) + ", " + p(5) + ", " + p(6) + ")"
	row = strings.NewReplacer("$1", p(1), "$2", p(2), "$3", p(3)).Replace(fmt.Sprintf(row, fresh))
	return `INSERT INTO rate_windows (account_id, minute_start, minute_count, day_start, day_count, last_taken)
` + row + `
ON CONFLICT (account_id) DO UPDATE SET
	minute_count = ` + minuteCount + ` + ` + grant + `,
	day_count = ` + dayCount + ` + ` + grant + `,
	last_taken = ` + grant + `,
	minute_start = CASE WHEN rate_windows.minute_start > excluded.minute_start THEN rate_windows.minute_start ELSE excluded.minute_start END,
	day_start = CASE WHEN rate_windows.day_start > excluded.day_start THEN rate_windows.day_start ELSE excluded.day_start END
WHERE ` + minuteCount + ` < ` + p(5) + ` AND ` + dayCount + ` < ` + p(6) + `
RETURNING minute_count, day_count, last_taken`
}

// DBRateLimiter keeps the counters in the main database: one row per
// account, taken with one conditional upsert, so counting is exact under
// concurrency and across processes sharing the database. Make it with
// NewDBRateLimiter.
type DBRateLimiter struct {
	db *gorm.DB
	// lines take this process's waiting requests of one account together,
	// one statement at a time. The database would serialize them on the
	// row anyway, and waiting here costs far less than waiting on its row
	// lock: with one busy account, PostgreSQL's lock waits and retries took
	// about a third of its CPU per API request, and a statement per request
	// bounded the account's requests per second.
	lines *lines
}

// NewDBRateLimiter counts in db, taking each account's waiting requests
// together.
func NewDBRateLimiter(db *gorm.DB) DBRateLimiter {
	r := DBRateLimiter{db: db}
	r.lines = newLines(r.takeN)
	return r
}

// Take implements RateLimiter in one statement for the requests that wait
// together (two when all are refused, to read the counts for the headers).
func (r DBRateLimiter) Take(ctx context.Context, accountID int64, l Limits, at time.Time) (RateDecision, error) {
	return takeInLine(ctx, r, r.lines, accountID, l, at)
}

// takeInLine is Take of a limiter r whose takes go through ls.
func takeInLine(ctx context.Context, r RateLimiter, ls *lines, accountID int64, l Limits, at time.Time) (RateDecision, error) {
	if l.PerMinute <= 0 || l.PerDay <= 0 {
		// A budget of nothing: refuse without taking (a take would let a
		// first request through).
		minute, day := windows(at)
		mc, dc, err := r.Used(ctx, accountID, at)
		if err != nil {
			return RateDecision{}, fmt.Errorf("rate limit: %w", err)
		}
		return decide(false, l, minute, mc, day, dc), nil
	}
	d, err := ls.Take(ctx, accountID, l, at)
	if err != nil {
		return RateDecision{}, fmt.Errorf("rate limit: %w", err)
	}
	return d, nil
}

// rateDoor is the authority of the rate-limit counters: the system counts
// an account's requests for every key of it, whoever holds the key.
var rateDoor = tenancy.System("count an account's API requests against its rate limits")

// takeN runs takeSQL, and reads the counts when it takes nothing.
func (r DBRateLimiter) takeN(ctx context.Context, accountID, n int64, l Limits, at time.Time) (taken, error) {
	minute, day := windows(at)
	var t taken
	err := rateDoor.Write(ctx, r.db, func(tx *gorm.DB) error {
		return takeSQL.ScanRow(ctx, tx, []any{accountID, minute, day, n, l.PerMinute, l.PerDay}, &t.minute, &t.day, &t.granted)
	})
	if errors.Is(err, sql.ErrNoRows) {
		t.minute, t.day, err = r.Used(ctx, accountID, at)
	}
	return t, err
}

// SetAccountLimits gives an account its own limits (Enterprise agreements);
// nil keeps the plan's.
func SetAccountLimits(ctx context.Context, db *gorm.DB, accountPublicIDOrSlug string, perMinute, perDay *int64) (tenancy.Account, error) {
	var a tenancy.Account
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		// A public ID wins over a slug that happens to spell it.
		err := tx.Where("public_id = ?", accountPublicIDOrSlug).Take(&a).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			err = tx.Where("slug = ?", accountPublicIDOrSlug).Take(&a).Error
		}
		if err != nil {
			return tenancy.NotFound(err)
		}
		for _, v := range []*int64{perMinute, perDay} {
			if v != nil && *v < 0 {
				return fmt.Errorf("limits cannot be negative")
			}
		}
		a.RatePerMinute, a.RatePerDay = perMinute, perDay
		return tx.Model(&tenancy.Account{}).Where("id = ?", a.ID).
			Updates(map[string]any{"rate_per_minute": perMinute, "rate_per_day": perDay, "updated_at": tenancy.Now()}).Error
	})
	return a, err
}

// Used implements RateLimiter.
func (r DBRateLimiter) Used(ctx context.Context, accountID int64, at time.Time) (minuteUsed, dayUsed int64, err error) {
	minute, day := windows(at)
	var minuteStart, minuteCount, dayStart, dayCount int64
	err = rateDoor.Do(ctx, r.db, func(tx *gorm.DB) error {
		return tenancy.ScanRow(tx.Raw(`SELECT minute_start, minute_count, day_start, day_count FROM rate_windows WHERE account_id = ?`, accountID),
			&minuteStart, &minuteCount, &dayStart, &dayCount)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil // nothing taken yet
	}
	if err != nil {
		return 0, 0, err
	}
	if minuteStart >= minute {
		minuteUsed = minuteCount
	}
	if dayStart >= day {
		dayUsed = dayCount
	}
	return minuteUsed, dayUsed, nil
}
