package tenancy

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Requests take turns on the application's connections: no more hold a
// turn than there are connections, a turn given back goes to a waiting
// request, and a request whose context ends stops waiting.
func TestTurnsAreAsManyAsConnections(t *testing.T) {
	t.Parallel()
	w := NewTurns(2)
	ctx := context.Background()
	if err := w.Take(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Take(ctx); err != nil {
		t.Fatal(err)
	}

	waiting, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.Take(waiting); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third turn with two connections: %v, want it to wait until its context ends", err)
	}

	got := make(chan error, 1)
	go func() {
		err := w.Take(ctx)
		if err == nil {
			w.Give()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a third turn went ahead (%v) while two were held", err)
	case <-time.After(20 * time.Millisecond):
	}
	w.Give()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a turn given back did not go to the request waiting for it")
	}
}

// Nil turns (SQLite's walls made without Open) let everyone in, and
// giving one back does not block.
func TestNilTurnsLetEveryoneIn(t *testing.T) {
	t.Parallel()
	var none Turns
	for range 3 {
		if err := none.Take(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	none.Give()
}

// A turn whose connection cannot be had is given back, not lost: else
// every failure would shrink the pool for good.
func TestAppConnGivesTheTurnBackWhenNoConnection(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "turns.db"))
	if err != nil {
		t.Fatal(err)
	}
	w := wallsOf(db)
	w.turns = NewTurns(1)
	Close(db)
	if _, err := w.appConn(t.Context(), db); err == nil {
		t.Fatal("a connection of a closed database")
	}
	if held := len(w.turns); held != 0 {
		t.Fatalf("%d turns held after the connection failed, want 0", held)
	}
}

// On SQLite a read unit holds a turn while it runs, and the units nested
// in it (a scope's, a user's, the door's) run in that turn: with a single
// turn, a nested unit that waited for one of its own would wait for good.
// Another request's read waits until the turn is given back; the door's
// reads take none.
func TestSQLiteReadUnitsTakeTurns(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "turns.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Close(db) })
	w := wallsOf(db)
	if got := cap(w.turns); got != sqliteConns {
		t.Fatalf("%d turns on SQLite, want one a connection (%d)", got, sqliteConns)
	}
	w.turns = NewTurns(1)
	scope := Scope{account: Account{ID: 1}, userID: 1, role: RoleAdmin}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	other := make(chan error, 1)
	err = scope.Read(ctx, db, func(tx *gorm.DB) error {
		if held := len(w.turns); held != 1 {
			t.Errorf("%d turns held inside a read, want 1", held)
		}
		nested := func(tx *gorm.DB) error { return tx.Exec("SELECT 1").Error }
		if err := scope.Read(ctx, tx, nested); err != nil {
			return err
		}
		if err := ViewOf(1).Read(ctx, tx, nested); err != nil {
			return err
		}
		if err := System("test of read turns").Do(ctx, db, nested); err != nil {
			return err
		}
		go func() { other <- scope.Read(ctx, db, nested) }()
		select {
		case err := <-other:
			t.Errorf("another read ran (%v) while the only turn was held", err)
		case <-time.After(20 * time.Millisecond):
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatalf("the waiting read, once the turn was given back: %v", err)
	}
	if held := len(w.turns); held != 0 {
		t.Fatalf("%d turns held after every read ended, want 0", held)
	}
}
