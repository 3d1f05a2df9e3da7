package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/handlers/sitetest"
	"switchboard/models/billing"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// replicas are servers sharing one database, started at the same instant.
type replicas struct {
	t      *testing.T
	bases  []string // their URLs
	logs   []*sitetest.Log
	cancel context.CancelFunc
	done   []chan error
}

// startReplicas starts n servers on the database at dsn at once, and waits
// until every one is ready.
func startReplicas(t *testing.T, n int, dsn string) *replicas {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replicas{t: t, cancel: cancel}
	gate := make(chan struct{})
	for range n {
		addr := freeAddr(t)
		cfg := config{DataDir: t.TempDir(), DatabaseURL: dsn, Addr: addr, BaseURL: "http://" + addr,
			SessionKey: "replica-session-key-0123456789abcdef0123456789", Demo: "false",
			Drain: 50 * time.Millisecond, DBConns: 4, APIKeyDays: 90}
		logs := &sitetest.Log{}
		log, err := newLogger(logs, "text", "info")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { <-gate; done <- serve(ctx, cfg, log) }()
		r.logs, r.done, r.bases = append(r.logs, logs), append(r.done, done), append(r.bases, "http://"+addr)
	}
	close(gate)
	t.Cleanup(r.stop)
	for i, base := range r.bases {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if code, _ := get(base + "/readyz"); code == http.StatusOK {
				break
			}
			select {
			case err := <-r.done[i]:
				r.done[i] <- err // for stop
				t.Fatalf("replica %d stopped before it was ready: %v\n%s", i, err, logs(r.logs[i]))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d not ready within 30 s; log:\n%s", i, logs(r.logs[i]))
			}
		}
	}
	return r
}

func logs(l *sitetest.Log) string { return l.String() }

// stop cancels the replicas as SIGTERM does and waits for them.
func (r *replicas) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	for i, done := range r.done {
		if err := <-done; err != nil {
			r.t.Errorf("replica %d: %v", i, err)
		}
	}
}

// wantNoWarnings fails when a replica logged a warning or an error: a
// collision between replicas shows as one.
func (r *replicas) wantNoWarnings() {
	r.t.Helper()
	for i, l := range r.logs {
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				r.t.Errorf("replica %d: %s", i, line)
			}
		}
	}
}

// Work that must happen once happens once when three replicas start
// together: the pending migrations of a database, then, on the next start,
// closing last month into invoices and today's storage snapshot.
func TestThreeReplicasStartTogether(t *testing.T) {
	dsn := dbtest.EmptyPostgresURL(t)
	// The database of a first release: the migrations' own table exists,
	// so the replicas race for the migrations themselves.
	db := dbtest.Open(t, dsn)
	dbtest.Must(t, tenancy.MigrateTo(t.Context(), db, 1))

	fleet := startReplicas(t, 3, dsn)
	fleet.stop()
	fleet.wantNoWarnings()
	var versions []struct{ VersionID, N int64 }
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT version_id, COUNT(*) AS n FROM goose_db_version WHERE version_id > 0 GROUP BY version_id ORDER BY version_id").Scan(&versions).Error)
	migrations, err := filepath.Glob("../../migrations/postgres/*.sql")
	if err != nil || len(migrations) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	if len(versions) != len(migrations) {
		t.Errorf("%d migrations recorded, want %d", len(versions), len(migrations))
	}
	for _, v := range versions {
		if v.N != 1 {
			t.Errorf("migration %d applied %d times", v.VersionID, v.N)
		}
	}

	// Last month's usage of an organization, and video it holds today.
	owner, _ := dbtest.User(t, db)
	org := dbtest.Org(t, db, owner)
	idx := dbtest.NewIndex(t, db, org, "films", "account")
	dbtest.AddVideo(t, db, org, idx.PublicID, "first", 600)
	now := time.Now().UTC()
	last := billing.MonthOf(now).Prev()
	dbtest.InsertUsage(t, db, []dbtest.UsageRow{
		dbtest.Usage(org.AccountID(), usage.DayOf(last.Start()), owner.ID, usage.MetricAPIRequests, "indexes.read", 1200),
	})

	fleet = startReplicas(t, 3, dsn)
	invoices := func() int64 { return dbtest.CountRows(t, db, "invoices", "period = ?", last.String()) }
	for deadline := time.Now().Add(20 * time.Second); invoices() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no invoice for %s within 20 s", last)
		}
	}
	// Every replica closes the months at start-up; give the others their
	// turn before counting.
	time.Sleep(time.Second)
	fleet.stop()
	fleet.wantNoWarnings()
	if n := invoices(); n != 1 {
		t.Errorf("%d invoices for %s, want 1", n, last)
	}
	snapshots := dbtest.CountRows(t, db, "usage_daily", "metric = ? AND day = ?", usage.MetricStorageSeconds, usage.DayOf(now))
	if snapshots != 1 {
		t.Errorf("%d storage snapshot rows for today, want 1", snapshots)
	}
}
