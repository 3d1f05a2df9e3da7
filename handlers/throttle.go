package handlers

import (
	"sync"
	"time"
)

// throttle slows down repeated failures per key (an email, an IP address):
// after `free` failures within `window`, each further attempt must wait
// 2^(n-free) seconds, up to `max`. It lives in the process: enough to make
// password guessing slow, with no write per attempt.
type throttle struct {
	mu      sync.Mutex
	entries map[string]*throttleEntry
	free    map[string]int // failures allowed per key prefix before waiting
	window  time.Duration
	max     time.Duration
	now     func() time.Time
}

type throttleEntry struct {
	failures int
	last     time.Time
}

func newThrottle() *throttle {
	return &throttle{
		entries: map[string]*throttleEntry{},
		free:    map[string]int{"email": 5, "ip": 20},
		window:  15 * time.Minute,
		max:     15 * time.Minute,
		now:     time.Now,
	}
}

// Wait is how long the caller must still wait before another attempt for any
// of the keys; 0 lets it through.
func (t *throttle) Wait(keys ...throttleKey) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if d := t.waitLocked(k); d > wait {
			wait = d
		}
	}
	return wait
}

func (t *throttle) waitLocked(k throttleKey) time.Duration {
	e := t.entries[k.String()]
	if e == nil || t.now().Sub(e.last) > t.window {
		return 0
	}
	over := e.failures - t.free[k.kind]
	if over < 0 {
		return 0
	}
	delay := time.Second << min(over, 20)
	if delay > t.max {
		delay = t.max
	}
	return max(0, e.last.Add(delay).Sub(t.now()))
}

// Fail records a failed attempt for each key.
func (t *throttle) Fail(keys ...throttleKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.entries) > 100_000 {
		t.sweepLocked(now)
	}
	for _, k := range keys {
		e := t.entries[k.String()]
		if e == nil || now.Sub(e.last) > t.window {
			e = &throttleEntry{}
			t.entries[k.String()] = e
		}
		e.failures++
		e.last = now
	}
}

// Reset forgets a key's failures (after a successful sign-in).
func (t *throttle) Reset(k throttleKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, k.String())
}

func (t *throttle) sweepLocked(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.last) > t.window {
			delete(t.entries, k)
		}
	}
}

// throttleKey names what failures are counted against.
type throttleKey struct{ kind, value string }

func (k throttleKey) String() string { return k.kind + ":" + k.value }

func emailKey(email string) throttleKey { return throttleKey{"email", email} }
func ipKey(ip string) throttleKey       { return throttleKey{"ip", ip} }
