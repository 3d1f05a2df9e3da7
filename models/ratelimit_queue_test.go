package models

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One caller per account at a time; other accounts do not wait; the queue
// forgets idle accounts.
func TestAccountQueue(t *testing.T) {
	q := &accountQueue{slots: map[int64]*accountSlot{}}
	var in, most atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			q.enter(1)
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
	q.enter(1)
	done := make(chan struct{})
	go func() {
		q.enter(2) // another account goes in while account 1 is busy
		q.leave(2)
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
