package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counter is a store of one window per account for lines' takes, which
// records how the takes came.
type counter struct {
	mu      sync.Mutex
	counts  map[int64]int64
	takes   int   // takes run
	biggest int64 // most requests in one take
	in      map[int64]int
	overlap bool // two takes of one account at once
	gate    chan struct{}
}

func newCounter() *counter {
	return &counter{counts: map[int64]int64{}, in: map[int64]int{}}
}

func (c *counter) takeN(ctx context.Context, accountID, n int64, l Limits, at time.Time) (taken, error) {
	c.mu.Lock()
	c.in[accountID]++
	if c.in[accountID] > 1 {
		c.overlap = true
	}
	gate := c.gate
	c.mu.Unlock()
	if gate != nil {
		<-gate
	} else {
		time.Sleep(200 * time.Microsecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in[accountID]--
	c.takes++
	c.biggest = max(c.biggest, n)
	granted := max(0, min(n, l.PerMinute-c.counts[accountID]))
	c.counts[accountID] += granted
	return taken{granted: granted, minute: c.counts[accountID], day: c.counts[accountID]}, nil
}

// waitForLine waits until n requests of the account wait in its line.
func waitForLine(t *testing.T, ls *lines, accountID int64, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		ls.mu.Lock()
		ln := ls.accounts[accountID]
		got := 0
		if ln != nil {
			got = len(ln.waiting)
		}
		ls.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("%d requests of account %d never waited in its line", n, accountID)
}

// Many requests of one account: one take at a time, requests that wait
// taken together, exactly the budget let through, each allowed request
// seeing its own count; the lines forget the account afterwards.
func TestLinesTakeWaitingRequestsTogether(t *testing.T) {
	t.Parallel()
	c := newCounter()
	ls := newLines(c.takeN)
	limits := Limits{PerMinute: 150, PerDay: 150}
	at := time.Date(2031, 3, 14, 15, 9, 30, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	var allowed, refused atomic.Int64
	start := make(chan struct{})
	for range 400 {
		wg.Go(func() {
			<-start
			d, err := ls.Take(context.Background(), 1, limits, at)
			if err != nil {
				t.Error(err)
				return
			}
			if !d.Allowed {
				refused.Add(1)
				if d.Used != 150 || d.Remaining() != 0 {
					t.Errorf("refused with %+v, want the full window", d)
				}
				return
			}
			allowed.Add(1)
			mu.Lock()
			defer mu.Unlock()
			if seen[d.Used] || d.Used < 1 || d.Used > 150 {
				t.Errorf("allowed with used %d, seen before or out of the window", d.Used)
			}
			seen[d.Used] = true
		})
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 150 || refused.Load() != 250 {
		t.Errorf("%d allowed, %d refused; want 150 and 250", allowed.Load(), refused.Load())
	}
	if c.overlap {
		t.Error("two takes of one account ran at once")
	}
	if c.takes >= 400 || c.biggest < 2 {
		t.Errorf("%d takes for 400 requests, at most %d in one: the waiting requests were not taken together", c.takes, c.biggest)
	}
	t.Logf("400 requests in %d takes, at most %d in one", c.takes, c.biggest)
	if len(ls.accounts) != 0 {
		t.Errorf("lines hold %d idle accounts, want none", len(ls.accounts))
	}
}

// Another account does not wait behind a busy one; requests with other
// limits or windows wait for a take of their own.
func TestLinesKeepAccountsAndBudgetsApart(t *testing.T) {
	t.Parallel()
	c := newCounter()
	c.gate = make(chan struct{})
	ls := newLines(c.takeN)
	at := time.Date(2031, 3, 14, 15, 9, 30, 0, time.UTC)
	small, big := Limits{PerMinute: 1, PerDay: 1}, Limits{PerMinute: 10, PerDay: 10}
	results := make(chan RateDecision, 4)
	take := func(account int64, l Limits, at time.Time) {
		go func() {
			d, err := ls.Take(context.Background(), account, l, at)
			if err != nil {
				t.Error(err)
			}
			results <- d
		}()
	}
	take(1, small, at) // in the store, held at the gate
	for c.inStore(1) == 0 {
		time.Sleep(time.Millisecond)
	}
	take(1, big, at)                    // other limits
	waitForLine(t, ls, 1, 1)            //
	take(1, small, at.Add(time.Minute)) // another minute
	waitForLine(t, ls, 1, 2)
	other := make(chan struct{})
	go func() {
		defer close(other)
		if _, err := ls.Take(context.Background(), 2, small, at); err != nil {
			t.Error(err)
		}
	}()
	for c.inStore(2) == 0 {
		time.Sleep(time.Millisecond)
	}
	close(c.gate) // account 2 got to the store while account 1's take was held
	<-other
	allowed := 0
	for range 3 {
		if d := <-results; d.Allowed {
			allowed++
		}
	}
	if c.takes != 4 {
		t.Errorf("%d takes, want 4 (one per account, limits and minute)", c.takes)
	}
	if allowed != 2 {
		t.Errorf("%d of account 1's requests allowed, want 2 (the counter here keeps one window)", allowed)
	}
}

func (c *counter) inStore(accountID int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in[accountID]
}

// A request whose context ends while it waits leaves at once, behind a take
// that still hangs; the line goes on after it.
func TestLinesWaiterLeavesWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	c := newCounter()
	c.gate = make(chan struct{})
	ls := newLines(c.takeN)
	limits := Limits{PerMinute: 10, PerDay: 10}
	at := time.Now()
	ahead := make(chan error, 1)
	go func() {
		_, err := ls.Take(context.Background(), 1, limits, at)
		ahead <- err
	}()
	for c.inStore(1) == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := ls.Take(ctx, 1, limits, at)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the waiting request answered %v, want its context's end", err)
	}
	waitForLine(t, ls, 1, 0)
	close(c.gate)
	if err := <-ahead; err != nil {
		t.Fatal(err)
	}
	if d, err := ls.Take(context.Background(), 1, limits, at); err != nil || !d.Allowed || d.Used != 2 {
		t.Errorf("after the hang: %+v, %v; want allowed as the second request (the one that left took nothing)", d, err)
	}
	// Already ended: nothing taken, nothing kept.
	if _, err := ls.Take(ctx, 3, limits, at); err == nil {
		t.Error("a request whose context had ended was taken")
	}
	if len(ls.accounts) != 0 {
		t.Errorf("lines hold %d idle accounts, want none", len(ls.accounts))
	}
}

// A request handed the turn after its client left still runs the take for
// those waiting behind it, and answers its own context's end.
func TestLinesAbandonedTurnStillTakesForTheOthers(t *testing.T) {
	t.Parallel()
	c := newCounter()
	ls := newLines(c.takeN)
	limits := Limits{PerMinute: 10, PerDay: 10}
	at := time.Now()
	waiters := []*waiter{{limits: limits, at: at, done: make(chan outcome, 1)}, {limits: limits, at: at, done: make(chan outcome, 1)}}
	ls.accounts[1] = &line{waiting: append([]*waiter(nil), waiters...)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ls.lead(ctx, 1, nil); err != nil {
		t.Fatalf("lead for others: %v", err)
	}
	for i, w := range waiters {
		o := <-w.done
		if o.err != nil || !o.decision.Allowed || o.decision.Used != int64(i+1) {
			t.Errorf("waiter %d: %+v, want allowed as request %d", i+1, o, i+1)
		}
	}
	if c.takes != 1 || len(ls.accounts) != 0 {
		t.Errorf("%d takes, %d accounts left; want one take and none", c.takes, len(ls.accounts))
	}
}

// A take that fails answers its error to every request in it.
func TestLinesFailedTakeAnswersEveryone(t *testing.T) {
	t.Parallel()
	boom := errors.New("store down")
	gate := make(chan struct{})
	var takes atomic.Int64
	ls := newLines(func(ctx context.Context, accountID, n int64, l Limits, at time.Time) (taken, error) {
		if takes.Add(1) == 1 {
			<-gate
			return taken{granted: 1, minute: 1, day: 1}, nil
		}
		return taken{}, boom
	})
	limits := Limits{PerMinute: 10, PerDay: 10}
	at := time.Now()
	first := make(chan error, 1)
	go func() {
		_, err := ls.Take(context.Background(), 1, limits, at)
		first <- err
	}()
	for takes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := ls.Take(context.Background(), 1, limits, at)
			errs <- err
		}()
	}
	waitForLine(t, ls, 1, 5)
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := <-errs; !errors.Is(err, boom) {
			t.Errorf("a request of the failed take answered %v, want the store's error", err)
		}
	}
}
