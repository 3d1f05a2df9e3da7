package ratelimit

import (
	"context"
	"sync"
	"time"
)

// One account's requests in this process take from its budgets in turns:
// while one take of the account's is with the store, the requests that
// arrive wait in the account's line, and the next take is for all of them
// at once, first come, first served. A busy account costs the store one
// statement per round trip rather than one per request, and no request
// waits on another's row lock in the store. Exactness rests on the store's
// take of n: with a budget of N, exactly N requests pass, whichever
// processes they came to.

// taken is one take of n requests: the first granted of them pass, and
// minute and day are the windows' counts after it (as they stand when
// nothing was granted).
type taken struct {
	granted, minute, day int64
}

// takeN takes up to n requests from an account's windows at at, the first
// ones that fit; n ≥ 1 and both limits ≥ 1.
type takeN func(ctx context.Context, accountID, n int64, l Limits, at time.Time) (taken, error)

// takeTimeout bounds one take: it runs for every request in its batch, so
// it does not end with the context of the request that happens to run it.
const takeTimeout = 10 * time.Second

// lines are the accounts' lines of waiting requests.
type lines struct {
	take takeN

	mu       sync.Mutex
	accounts map[int64]*line // accounts with a take under way
}

func newLines(take takeN) *lines { return &lines{take: take, accounts: map[int64]*line{}} }

// line is one account's: a take is under way, and these requests wait for
// the next.
type line struct{ waiting []*waiter }

type waiter struct {
	limits Limits
	at     time.Time
	// done gets the waiter's decision, or lead: the waiter's turn to run
	// the next take, for itself and whoever waits then.
	done chan outcome
}

type outcome struct {
	decision RateDecision
	err      error
	lead     bool
}

// Take takes one request of the account in its turn: at once when no take
// of the account is under way, else with the next take. A caller whose
// context ends while it waits leaves the line with ctx's error.
func (ls *lines) Take(ctx context.Context, accountID int64, l Limits, at time.Time) (RateDecision, error) {
	if err := ctx.Err(); err != nil {
		return RateDecision{}, err
	}
	w := &waiter{limits: l, at: at, done: make(chan outcome, 1)}
	ls.mu.Lock()
	ln := ls.accounts[accountID]
	if ln == nil {
		ls.accounts[accountID] = &line{}
		ls.mu.Unlock()
		return ls.lead(ctx, accountID, w)
	}
	ln.waiting = append(ln.waiting, w)
	ls.mu.Unlock()
	select {
	case o := <-w.done:
		if o.lead {
			return ls.lead(ctx, accountID, w)
		}
		return o.decision, o.err
	case <-ctx.Done():
	}
	if ls.leave(accountID, w) {
		return RateDecision{}, ctx.Err()
	}
	// Already in a take, or handed the next one: that outcome stands (a
	// request counted is counted), and a lead is run for the others.
	o := <-w.done
	if o.lead {
		ls.lead(ctx, accountID, nil)
		return RateDecision{}, ctx.Err()
	}
	return o.decision, o.err
}

// leave takes w out of its account's line, reporting whether it was there.
func (ls *lines) leave(accountID int64, w *waiter) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ln := ls.accounts[accountID]
	if ln == nil {
		return false
	}
	for i, x := range ln.waiting {
		if x == w {
			ln.waiting = append(ln.waiting[:i], ln.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// lead runs the account's next take, for own (nil when its request was
// abandoned) and the waiters with the same limits and windows, then hands
// the turn to the next waiter, or ends the line. It answers own's decision.
func (ls *lines) lead(ctx context.Context, accountID int64, own *waiter) (RateDecision, error) {
	ls.mu.Lock()
	ln := ls.accounts[accountID]
	var batch []*waiter
	if own != nil {
		batch = append(batch, own)
	}
	rest := ln.waiting[:0]
	for _, w := range ln.waiting {
		if len(batch) == 0 || w.limits == batch[0].limits && sameWindows(w.at, batch[0].at) {
			batch = append(batch, w)
		} else {
			rest = append(rest, w)
		}
	}
	// The slots past rest held the waiters now in batch: let them go once
	// answered, rather than keep them until new waiters overwrite them.
	clear(ln.waiting[len(rest):])
	ln.waiting = rest
	ls.mu.Unlock()

	var decisions []RateDecision
	var err error
	if len(batch) > 0 {
		decisions, err = ls.takeBatch(ctx, accountID, batch[0].limits, batch[0].at, int64(len(batch)))
	}
	for i, w := range batch {
		if w == own {
			continue
		}
		if err != nil {
			w.done <- outcome{err: err}
		} else {
			w.done <- outcome{decision: decisions[i]}
		}
	}

	ls.mu.Lock()
	if len(ln.waiting) == 0 {
		delete(ls.accounts, accountID)
		ls.mu.Unlock()
	} else {
		next := ln.waiting[0]
		ln.waiting[0] = nil
		ln.waiting = ln.waiting[1:]
		ls.mu.Unlock()
		next.done <- outcome{lead: true}
	}
	if own == nil || err != nil {
		return RateDecision{}, err
	}
	return decisions[0], nil
}

// takeBatch takes n requests and decides each in its order: the first
// granted pass, each seeing the counts as its own take left them; the rest
// are refused, seeing the full window.
func (ls *lines) takeBatch(ctx context.Context, accountID int64, l Limits, at time.Time, n int64) ([]RateDecision, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), takeTimeout)
	defer cancel()
	t, err := ls.take(ctx, accountID, n, l, at)
	if err != nil {
		return nil, err
	}
	minute, day := windows(at)
	decisions := make([]RateDecision, n)
	for i := range n {
		if i < t.granted {
			behind := t.granted - 1 - i // taken after this one
			decisions[i] = decide(true, l, minute, t.minute-behind, day, t.day-behind)
		} else {
			decisions[i] = decide(false, l, minute, t.minute, day, t.day)
		}
	}
	return decisions, nil
}

// sameWindows reports whether a and b fall in the same minute and day.
func sameWindows(a, b time.Time) bool {
	am, ad := windows(a)
	bm, bd := windows(b)
	return am == bm && ad == bd
}
