package tenancy

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// This process's SQLite write transactions and the door's writes take turns:
// never two at once on one database, each let in as the last one ends; a
// write whose context ends while it waits gives up at once; another
// database does not wait.
func TestSQLiteWritesTakeTurns(t *testing.T) {
	t.Parallel()
	open := func(name string) *gorm.DB {
		db, err := Open(filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { Close(db) })
		if err := Migrate(t.Context(), db); err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open("one.db")
	door := System("test that writes take turns")
	var in, most atomic.Int64
	write := func(tx *gorm.DB) error {
		n := in.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		in.Add(-1)
		return tx.Exec("UPDATE accounts SET name = name WHERE id = 0").Error
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = door.Tx(t.Context(), db, write)
			} else {
				err = door.Write(t.Context(), db, write)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d writes in at once, want 1", most.Load())
	}

	// Hold the turn; a write waiting for it gives up with its context.
	held := make(chan struct{})
	release := make(chan struct{})
	go door.Tx(t.Context(), db, func(*gorm.DB) error {
		close(held)
		<-release
		return nil
	})
	<-held
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := door.Write(ctx, db, write); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a write waiting for the turn answered %v, want its context's end", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("the write gave up after %v", waited)
	}
	// Another database's writes do not wait for this one's turn.
	if err := door.Tx(t.Context(), open("two.db"), write); err != nil {
		t.Error(err)
	}
	close(release)
	if err := door.Write(t.Context(), db, write); err != nil {
		t.Errorf("after the turn was given back: %v", err)
	}
}
