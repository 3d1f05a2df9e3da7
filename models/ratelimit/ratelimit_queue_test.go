package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One caller per account at a time; other accounts do not wait; the queue
// forgets idle accounts.
func TestAccountQueue(t *testing.T) {
	t.Parallel()
	q := &accountQueue{slots: map[int64]*accountSlot{}}
	ctx := context.Background()
	var in, most atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := q.enter(ctx, 1); err != nil {
				t.Error(err)
				return
			}
			n := in.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(100 * time.Microsecond)
			in.Add(-1)
			q.leave(1)
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d callers of one account in at once, want 1", most.Load())
	}
	if err := q.enter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		if err := q.enter(ctx, 2); err == nil { // another account goes in while account 1 is busy
			q.leave(2)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("account 2 waited for account 1")
	}
	q.leave(1)
	if len(q.slots) != 0 {
		t.Errorf("queue holds %d idle accounts, want none", len(q.slots))
	}
}

// A caller whose context ends while it waits leaves at once, behind a turn
// that is still held, and is forgotten; the queue still lets the next in.
func TestAccountQueueWaiterLeavesWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	q := &accountQueue{slots: map[int64]*accountSlot{}}
	if err := q.enter(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- q.enter(ctx, 1) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a waiter whose context ended entered: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter whose context ended still waits for the turn")
	}
	if n := q.slots[1].users; n != 1 {
		t.Errorf("account 1 counts %d callers, want 1 (the one in)", n)
	}
	q.leave(1)
	if len(q.slots) != 0 {
		t.Errorf("queue holds %d idle accounts, want none", len(q.slots))
	}
	// Already ended: no turn is taken, nothing is kept.
	if err := q.enter(ctx, 3); err == nil {
		q.leave(3)
	}
	if err := q.enter(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	q.leave(1)
	if len(q.slots) != 0 {
		t.Errorf("queue holds %d idle accounts, want none", len(q.slots))
	}
}
