package tenancy

import (
	"context"
	"errors"
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
	first, err := w.turn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.turn(ctx); err != nil {
		t.Fatal(err)
	}

	waiting, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := w.turn(waiting); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third turn with two connections: %v, want it to wait until its context ends", err)
	}

	got := make(chan error, 1)
	go func() {
		release, err := w.turn(ctx)
		if err == nil {
			release()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a third turn went ahead (%v) while two were held", err)
	case <-time.After(20 * time.Millisecond):
	}
	first()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a turn given back did not go to the request waiting for it")
	}
}

// SQLite has no turns to take: its pool is in the process.
func TestNoTurnsWithoutAPool(t *testing.T) {
	t.Parallel()
	var w *walls
	release, err := w.turn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	release()
	release, err = (&walls{}).turn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	release()
}
