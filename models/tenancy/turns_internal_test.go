package tenancy

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Requests take turns on the application's connections: no more hold a
// turn than there are connections, a turn given back goes to a waiting
// request, and a request whose context ends stops waiting.
func TestTurnsAreAsManyAsConnections(t *testing.T) {
	t.Parallel()
	w := &walls{turns: make(chan struct{}, 2)}
	ctx := context.Background()
	if err := w.takeTurn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.takeTurn(ctx); err != nil {
		t.Fatal(err)
	}

	waiting, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.takeTurn(waiting); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third turn with two connections: %v, want it to wait until its context ends", err)
	}

	got := make(chan error, 1)
	go func() {
		err := w.takeTurn(ctx)
		if err == nil {
			w.endTurn()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a third turn went ahead (%v) while two were held", err)
	case <-time.After(20 * time.Millisecond):
	}
	w.endTurn()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a turn given back did not go to the request waiting for it")
	}
}

// Walls without turns (SQLite's: its pool is in the process) take none,
// and giving one back does not block.
func TestNoTurnsWithoutAPool(t *testing.T) {
	t.Parallel()
	for _, w := range []*walls{nil, {}} {
		if err := w.takeTurn(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.endTurn()
	}
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
	w.turns = make(chan struct{}, 1)
	Close(db)
	if _, err := w.appConn(t.Context(), db); err == nil {
		t.Fatal("a connection of a closed database")
	}
	if held := len(w.turns); held != 0 {
		t.Fatalf("%d turns held after the connection failed, want 0", held)
	}
}
