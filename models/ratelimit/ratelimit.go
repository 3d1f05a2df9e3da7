// Package ratelimit decides whether an API request fits its account's
// per-minute and per-day limits, counting in the database or in Redis.
package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
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

// takeSQL takes a request from an account's windows: arguments account,
// minute start, day start, per-minute and per-day limits. It answers the
// new counts, or no row when a window is full. The counts a window had are
// 0 once it has moved on; the update only happens while both windows have
// room. A server whose clock lags counts into the newer window the row
// already holds, never resetting it backwards. excluded.minute_start and
// excluded.day_start are this request's windows.
//
// On PostgreSQL the statement commits without waiting for its WAL to reach
// the disk (synchronous_commit off, for its own transaction only): every
// API request runs it, one account's requests one after the other, and the
// wait for the flush bounded an account's requests per second. Counting
// stays exact among servers (the row's lock is taken and released as
// before); only a crash of the database could forget the last fraction of
// a second's counts, less than the Redis limiter, which keeps none, would.
var takeSQL = tenancy.NewHotSQLFor(takeText("VALUES (?, ?, 1, ?, 1)"),
	"WITH lazy_commit AS (SELECT set_config('synchronous_commit', 'off', true))\n"+
		takeText("SELECT CAST(? AS BIGINT), CAST(? AS BIGINT), 1, CAST(? AS BIGINT), 1 FROM lazy_commit"))

// takeText is takeSQL's text with the row it inserts.
func takeText(row string) string {
	return `INSERT INTO rate_windows (account_id, minute_start, minute_count, day_start, day_count)
` + row + `
ON CONFLICT (account_id) DO UPDATE SET
	minute_count = CASE WHEN rate_windows.minute_start >= excluded.minute_start THEN rate_windows.minute_count + 1 ELSE 1 END,
	day_count = CASE WHEN rate_windows.day_start >= excluded.day_start THEN rate_windows.day_count + 1 ELSE 1 END,
	minute_start = CASE WHEN rate_windows.minute_start > excluded.minute_start THEN rate_windows.minute_start ELSE excluded.minute_start END,
	day_start = CASE WHEN rate_windows.day_start > excluded.day_start THEN rate_windows.day_start ELSE excluded.day_start END
WHERE (CASE WHEN rate_windows.minute_start >= excluded.minute_start THEN rate_windows.minute_count ELSE 0 END) < ?
  AND (CASE WHEN rate_windows.day_start >= excluded.day_start THEN rate_windows.day_count ELSE 0 END) < ?
RETURNING minute_count, day_count`
}

// DBRateLimiter keeps the counters in the main database: one row per
// account, taken with one conditional upsert, so counting is exact under
// concurrency and across processes sharing the database. Make it with
// NewDBRateLimiter.
type DBRateLimiter struct {
	db *gorm.DB
	// queue has this process's requests of one account take from its row
	// one at a time. The database serializes them on the row anyway, and
	// waiting here costs far less than waiting on its row lock: with one
	// busy account, PostgreSQL's lock waits and retries took about a third
	// of its CPU per API request. Exactness still rests on the upsert:
	// other processes are not queued with these.
	queue *accountQueue
}

// NewDBRateLimiter counts in db, queuing this process's requests per
// account.
func NewDBRateLimiter(db *gorm.DB) DBRateLimiter {
	return DBRateLimiter{db: db, queue: &accountQueue{slots: map[int64]*accountSlot{}}}
}

// accountQueue lets one caller per account in at a time.
type accountQueue struct {
	mu    sync.Mutex
	slots map[int64]*accountSlot // accounts with a caller in or waiting
}

type accountSlot struct {
	turn  chan struct{} // holds a value while a caller is in
	users int           // callers in or waiting, under accountQueue.mu
}

// enter waits for the account's turn, or until ctx ends: a caller whose
// request was abandoned leaves the queue at once rather than waiting out
// the statements before it. leave must follow a nil error, and only then.
func (q *accountQueue) enter(ctx context.Context, accountID int64) error {
	q.mu.Lock()
	slot := q.slots[accountID]
	if slot == nil {
		slot = &accountSlot{turn: make(chan struct{}, 1)}
		q.slots[accountID] = slot
	}
	slot.users++
	q.mu.Unlock()
	select {
	case slot.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		q.forget(accountID, slot)
		return ctx.Err()
	}
}

// leave ends the caller's turn.
func (q *accountQueue) leave(accountID int64) {
	q.mu.Lock()
	slot := q.slots[accountID]
	q.mu.Unlock()
	<-slot.turn
	q.forget(accountID, slot)
}

// forget counts a caller out, and forgets the account once nobody is in or
// waiting, so that the queue holds only busy accounts.
func (q *accountQueue) forget(accountID int64, slot *accountSlot) {
	q.mu.Lock()
	if slot.users--; slot.users == 0 {
		delete(q.slots, accountID)
	}
	q.mu.Unlock()
}

// Take implements RateLimiter in one round trip (two when refused, to read
// the counts for the headers).
func (r DBRateLimiter) Take(ctx context.Context, accountID int64, l Limits, at time.Time) (RateDecision, error) {
	minute, day := windows(at)
	if l.PerMinute <= 0 || l.PerDay <= 0 {
		// A budget of nothing: refuse without taking (the insert below
		// would let a first request through).
		mc, dc, err := r.Used(ctx, accountID, at)
		if err != nil {
			return RateDecision{}, fmt.Errorf("rate limit: %w", err)
		}
		return decide(false, l, minute, mc, day, dc), nil
	}
	minuteCount, dayCount, err := r.take(ctx, accountID, minute, day, l)
	if err == nil {
		return decide(true, l, minute, minuteCount, day, dayCount), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return RateDecision{}, fmt.Errorf("rate limit: %w", err)
	}
	// Refused: read where the windows stand, for the headers.
	mc, dc, err := r.Used(ctx, accountID, at)
	if err != nil {
		return RateDecision{}, fmt.Errorf("rate limit: %w", err)
	}
	return decide(false, l, minute, mc, day, dc), nil
}

// rateDoor is the authority of the rate-limit counters: the system counts
// an account's requests for every key of it, whoever holds the key.
var rateDoor = tenancy.System("count an account's API requests against its rate limits")

// take runs takeSQL in the account's turn.
func (r DBRateLimiter) take(ctx context.Context, accountID, minute, day int64, l Limits) (minuteCount, dayCount int64, err error) {
	if err := r.queue.enter(ctx, accountID); err != nil {
		return 0, 0, err
	}
	defer r.queue.leave(accountID)
	err = rateDoor.Do(ctx, r.db, func(tx *gorm.DB) error {
		return takeSQL.ScanRow(ctx, tx, []any{accountID, minute, day, l.PerMinute, l.PerDay}, &minuteCount, &dayCount)
	})
	return minuteCount, dayCount, err
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
