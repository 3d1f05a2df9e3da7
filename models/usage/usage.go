// Package usage records what accounts use (API requests, indexing, stored
// video) as events and daily rollups, batches the API's usage in memory,
// and reports it per day and per member.
package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models/tenancy"
)

// Usage metrics.
const (
	// MetricAPIRequests counts API requests, by endpoint category.
	MetricAPIRequests = "api_requests"
	// MetricIndexingSeconds adds up the durations of videos added.
	MetricIndexingSeconds = "indexing_seconds"
	// MetricStorageSeconds is the duration of videos held, snapshotted
	// daily per member: one day holding one hour of video is 3,600
	// second-days.
	MetricStorageSeconds = "storage_seconds"
)

// UsageEvent is one thing an account used.
type UsageEvent struct {
	ID         int64
	AccountID  int64
	UserID     *int64
	APIKeyID   *int64
	Metric     string
	Category   string
	Quantity   int64
	OccurredAt time.Time
}

// UsageDaily is the rollup pages read: one row per account, UTC day, user,
// metric and category.
type UsageDaily struct {
	AccountID int64  `gorm:"primaryKey"`
	Day       string `gorm:"primaryKey"` // YYYY-MM-DD, UTC
	UserID    int64  `gorm:"primaryKey"`
	Metric    string `gorm:"primaryKey"`
	Category  string `gorm:"primaryKey"`
	Quantity  int64
}

// TableName is usage_daily.
func (UsageDaily) TableName() string { return "usage_daily" }

// accountUsageDaily is usage_daily summed over members, kept by triggers
// (see migration 00009): what the whole account used per day.
type accountUsageDaily struct {
	AccountID int64
	Day       string
	Metric    string
	Category  string
	Quantity  int64
}

func (accountUsageDaily) TableName() string { return "usage_daily_account" }

// DayOf is the UTC day of t, as rollups key it.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// storeUsage writes events and adds them to the daily rollup, in tx: the
// system door's, for a batch of many accounts, or a scope's (applied).
func storeUsage(tx *gorm.DB, events []UsageEvent) error {
	if len(events) == 0 {
		return nil
	}
	type key struct {
		account int64
		day     string
		user    int64
		metric  string
		cat     string
	}
	sums := map[key]int64{}
	var order []key
	for _, ev := range events {
		var user int64
		if ev.UserID != nil {
			user = *ev.UserID
		}
		k := key{ev.AccountID, DayOf(ev.OccurredAt), user, ev.Metric, ev.Category}
		if _, ok := sums[k]; !ok {
			order = append(order, k)
		}
		sums[k] += ev.Quantity
	}
	// Events keep their own account IDs: a batch holds many accounts.
	for i := range events {
		events[i].ID = 0
	}
	if err := tx.Session(&gorm.Session{CreateBatchSize: 500}).Create(&events).Error; err != nil {
		return err
	}
	rows := make([]UsageDaily, 0, len(order))
	for _, k := range order {
		rows = append(rows, UsageDaily{AccountID: k.account, Day: k.day, UserID: k.user, Metric: k.metric, Category: k.cat, Quantity: sums[k]})
	}
	return tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "account_id"}, {Name: "day"}, {Name: "user_id"}, {Name: "metric"}, {Name: "category"}},
		DoUpdates: clause.Assignments(map[string]any{"quantity": gorm.Expr("usage_daily.quantity + excluded.quantity")}),
	}).Session(&gorm.Session{CreateBatchSize: 500}).Create(&rows).Error
}

// Record stores one event of the scope, now, in tx (for actions that
// write anyway, like adding a video).
func Record(tx *gorm.DB, s tenancy.Scope, metric, category string, quantity int64) error {
	user := s.UserID()
	return storeUsage(s.Apply(tx), []UsageEvent{{AccountID: s.AccountID(), UserID: &user, Metric: metric, Category: category, Quantity: quantity, OccurredAt: tenancy.Now()}})
}

// maxPendingUsage bounds the events kept in memory while the database is
// unreachable, or while nothing runs the recorder.
const maxPendingUsage = 1_000_000

// UsageRecorder batches the usage of API requests in memory and writes it
// every few seconds, so that a request costs no write of its own beyond the
// rate-limit counter. Events still in memory when a process dies are lost;
// the rate-limit counters, which decide what passes, are not.
type UsageRecorder struct {
	db    *gorm.DB
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	pending    []UsageEvent
	keys       map[int64]time.Time // API keys' last use
	maxPending int
	queued     int64 // events taken since the recorder was made
	written    int64 // events written since the recorder was made
	dropped    int64 // events given up since the recorder was made
	overflow   int64 // events dropped in the current episode of a full queue
	// doubt is a flush whose commit was not answered, whose events lead
	// pending until the database says whether it committed (nil: none).
	doubt *inDoubt

	// lose, in tests, fails a flush's transaction as a dropped connection
	// does: before it commits (rolled back), or after (its answer lost).
	lose func(afterCommit bool) error
}

// inDoubt is a PostgreSQL transaction of a flush that failed once it had
// an ID: it may have committed (a connection lost while committing), and
// writing its events again would count them twice. Its events are the
// first events of pending until pg_xact_status answers.
type inDoubt struct {
	xid    string
	events int
}

// NewUsageRecorder writes batches to db every interval once Run is called.
func NewUsageRecorder(db *gorm.DB, log *slog.Logger, every time.Duration) *UsageRecorder {
	return &UsageRecorder{db: db, log: log, every: every, keys: map[int64]time.Time{}, maxPending: maxPendingUsage}
}

// RecordRequest notes one API request of a key, admitted at at. Requests
// are noted as they are answered, so a slow one may come after a later
// one: the key's last use stays the latest. With maxPendingUsage events
// already waiting (nothing writes them: the database is down, or the
// recorder is not run) the event is dropped and counted, and the first drop
// of each such episode is logged, so that memory stays bounded.
func (r *UsageRecorder) RecordRequest(k tenancy.KeyScope, category string, at time.Time) {
	at = at.UTC().Truncate(time.Microsecond)
	r.mu.Lock()
	r.keepLatestUse(k.KeyID, at)
	if len(r.pending) >= r.maxPending {
		r.dropped++
		r.overflow++
		first, limit := r.overflow == 1, r.maxPending
		r.mu.Unlock()
		if first {
			r.log.Error("usage events dropped: too many are waiting to be written", "pending", limit)
		}
		return
	}
	resumed := r.overflow
	r.overflow = 0
	user, key := k.UserID(), k.KeyID
	r.queued++
	r.pending = append(r.pending, UsageEvent{AccountID: k.AccountID(), UserID: &user, APIKeyID: &key,
		Metric: MetricAPIRequests, Category: category, Quantity: 1, OccurredAt: at})
	r.mu.Unlock()
	if resumed > 0 {
		r.log.Warn("usage events are recorded again", "dropped", resumed)
	}
}

// keepLatestUse notes that key id was used at at, unless a later use is
// noted already; r.mu is held.
func (r *UsageRecorder) keepLatestUse(id int64, at time.Time) {
	if at.After(r.keys[id]) {
		r.keys[id] = at
	}
}

// CategorySCIM is the category of SCIM provisioning requests: an
// organization's identity provider calling, not a member's key.
const CategorySCIM = "scim"

// RecordSCIMRequest notes one SCIM request of an organization's identity
// provider: an API request of category CategorySCIM, of no member and no
// key. Like RecordRequest, it is written with the next batch.
func (r *UsageRecorder) RecordSCIMRequest(accountID int64, at time.Time) {
	at = at.UTC().Truncate(time.Microsecond)
	r.mu.Lock()
	if len(r.pending) >= r.maxPending {
		r.dropped++
		r.overflow++
		first, limit := r.overflow == 1, r.maxPending
		r.mu.Unlock()
		if first {
			r.log.Error("usage events dropped: too many are waiting to be written", "pending", limit)
		}
		return
	}
	r.queued++
	r.pending = append(r.pending, UsageEvent{AccountID: accountID, Metric: MetricAPIRequests, Category: CategorySCIM, Quantity: 1, OccurredAt: at})
	r.mu.Unlock()
}

// Dropped is how many events the recorder gave up on, for want of room,
// since it was made.
func (r *UsageRecorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// UsageStats counts a recorder's events since it was made: Queued were
// taken, Written reached the database, Dropped were given up; Pending
// wait for the next batch.
type UsageStats struct{ Queued, Written, Dropped, Pending int64 }

// Stats reads the recorder's counters, for metrics.
func (r *UsageRecorder) Stats() UsageStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return UsageStats{Queued: r.queued, Written: r.written, Dropped: r.dropped, Pending: int64(len(r.pending))}
}

// flushChunk is how many events one transaction of a flush writes on
// SQLite. There a write transaction holds the database's one write lock,
// and every API request's rate-limit take waits for it (in turn: tenancy's
// enterSQLiteWrite): a busy server's two seconds of usage in one
// transaction held it for tens of milliseconds; in transactions of 500 a
// take waits for one of them at most. PostgreSQL takes no such lock, and
// writes a flush in one transaction.
const flushChunk = 500

// Flush writes what is pending, with its rollup and the keys' last use:
// on SQLite in transactions of up to flushChunk events (the first also
// notes the keys), on PostgreSQL in one. What a failed transaction did not
// write waits for the next flush.
func (r *UsageRecorder) Flush(ctx context.Context) error {
	if err := r.settleDoubt(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	events, keys := r.pending, r.keys
	r.pending, r.keys = nil, map[int64]time.Time{}
	r.mu.Unlock()
	if len(events) == 0 && len(keys) == 0 {
		return nil
	}
	size := len(events)
	if tenancy.DialectOfDB(r.db) != tenancy.Postgres {
		size = flushChunk
	}
	written := 0
	var err error
	var doubt *inDoubt
	for len(keys) > 0 || written < len(events) {
		chunk := events[written:min(written+size, len(events))]
		var xid string
		if xid, err = r.write(ctx, chunk, keys); err != nil {
			if xid != "" && len(chunk) > 0 {
				doubt = &inDoubt{xid: xid, events: len(chunk)}
			}
			break
		}
		written += len(chunk)
		keys = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written += int64(written)
	if err == nil {
		return nil
	}
	// Keep the rest for the next try rather than lose it, up to a bound
	// that an outage cannot turn into an out-of-memory crash.
	if rest := events[written:]; len(rest)+len(r.pending) <= r.maxPending {
		r.pending = append(rest, r.pending...)
		r.doubt = doubt
	} else {
		r.dropped += int64(len(rest))
		r.log.Error("usage events dropped: the database has been unavailable too long", "count", len(rest))
	}
	for id, at := range keys {
		r.keepLatestUse(id, at)
	}
	return err
}

// usageDoor writes the batched usage, and asks whether a flush whose
// commit was not answered committed.
var usageDoor = tenancy.System("write the batched usage of API requests")

// write stores a chunk of a flush with its rollup, and the keys' last use,
// in one transaction. On PostgreSQL xid is the transaction's ID: after an
// error, the transaction may still have committed.
func (r *UsageRecorder) write(ctx context.Context, events []UsageEvent, keys map[int64]time.Time) (xid string, err error) {
	err = usageDoor.Tx(ctx, r.db, func(tx *gorm.DB) error {
		if tenancy.DialectOfDB(tx) == tenancy.Postgres {
			if err := tx.Raw("SELECT pg_current_xact_id()::text").Scan(&xid).Error; err != nil {
				return err
			}
		}
		live, err := existingAccounts(tx, events)
		if err != nil {
			return err
		}
		kept := events[:0:0]
		for _, ev := range events {
			if live[ev.AccountID] {
				kept = append(kept, ev)
			}
		}
		if dropped := len(events) - len(kept); dropped > 0 {
			// Their accounts were deleted since: the usage goes with them.
			r.log.Info("usage of deleted accounts dropped", "events", dropped)
		}
		if err := storeUsage(tx, kept); err != nil {
			return err
		}
		if err := touchAPIKeys(tx, keys); err != nil {
			return err
		}
		if r.lose != nil {
			return r.lose(false)
		}
		return nil
	})
	if err == nil && r.lose != nil {
		err = r.lose(true)
	}
	return xid, err
}

// settleDoubt asks PostgreSQL whether the flush in doubt committed: if it
// did, its events are dropped from pending, written; if it did not, they
// are written with the rest. While the database cannot say (it is down, or
// the transaction still runs), nothing is written.
func (r *UsageRecorder) settleDoubt(ctx context.Context) error {
	r.mu.Lock()
	d := r.doubt
	r.mu.Unlock()
	if d == nil {
		return nil
	}
	var status *string
	if err := usageDoor.Do(ctx, r.db, func(tx *gorm.DB) error {
		return tx.Raw("SELECT pg_xact_status(?::xid8)", d.xid).Scan(&status).Error
	}); err != nil {
		return fmt.Errorf("ask whether a flush of usage committed: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case status == nil:
		// Too old for PostgreSQL to know: written again rather than lost.
		r.log.Error("whether a flush of usage committed is unknown; its events are written again", "events", d.events)
	case *status == "in progress":
		return errors.New("a flush of usage whose commit was not answered is still in progress")
	case *status == "committed":
		r.pending = r.pending[d.events:]
		r.written += int64(d.events)
		r.log.Info("a flush of usage whose commit was not answered had committed", "events", d.events)
	}
	r.doubt = nil
	return nil
}

// Run flushes every interval until ctx ends, then once more.
func (r *UsageRecorder) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.flushWhole(ctx); err != nil {
				r.log.Error("writing usage at shutdown failed", "err", err)
			}
			return
		case <-t.C:
			if err := r.flushWhole(ctx); err != nil {
				r.log.Warn("writing usage failed; will retry", "err", err)
			}
		}
	}
}

// flushTimeout bounds one of Run's flushes.
const flushTimeout = 10 * time.Second

// flushWhole is one of Run's flushes: ctx ending does not cut it short. A
// flush cancelled while its transaction commits cannot tell whether its
// events were written; it keeps them, and the flush at shutdown wrote them
// a second time (the fleet's check under a rolling restart: 160 API
// requests billed twice).
func (r *UsageRecorder) flushWhole(ctx context.Context) error {
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	return r.Flush(flushCtx)
}

// existingAccounts says which of the events' accounts still exist.
func existingAccounts(tx *gorm.DB, events []UsageEvent) (map[int64]bool, error) {
	ids := map[int64]bool{}
	var list []int64
	for _, ev := range events {
		if !ids[ev.AccountID] {
			ids[ev.AccountID] = true
			list = append(list, ev.AccountID)
		}
	}
	live := map[int64]bool{}
	if len(list) == 0 {
		return live, nil
	}
	var found []int64
	if err := tx.Model(&tenancy.Account{}).Where("id IN ?", list).Pluck("id", &found).Error; err != nil {
		return nil, err
	}
	for _, id := range found {
		live[id] = true
	}
	return live, nil
}

// touchAPIKeys records when keys were last used; called in batches, through
// the system door (tx).
func touchAPIKeys(tx *gorm.DB, used map[int64]time.Time) error {
	for id, at := range used {
		if err := tx.Table("api_keys").Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at).
			Update("last_used_at", at).Error; err != nil {
			return fmt.Errorf("touch api key %d: %w", id, err)
		}
	}
	return nil
}
