package tenancy

import (
	"testing"
	"time"
)

// A listener that stopped hearing from the database without an error (a
// connection lost in silence) stops the cache answering within three
// heartbeats; and a scope read before a flush is not kept after it.
func TestKeyCacheAnswersOnlyWhileItHearsNews(t *testing.T) {
	t.Parallel()
	var c scopeCache
	now := time.Now()
	k := KeyScope{KeyID: 7}
	expires := now.Add(time.Hour)
	key := func(id string) cacheKey { return cacheKey{apiKeyScopes, id} }

	_, _, gen := c.get(key("h"), time.Time{}, now)
	c.put(key("h"), k, expires, now, gen)
	if _, ok, _ := c.get(key("h"), time.Time{}, now); ok {
		t.Fatal("a cache that never listened answers")
	}

	c.heard.Store(now.UnixNano())
	_, _, gen = c.get(key("h"), time.Time{}, now)
	c.put(key("h"), k, expires, now, gen)
	if got, ok, _ := c.get(key("h"), time.Time{}, now); !ok || got.(KeyScope).KeyID != 7 {
		t.Fatalf("live cache: %+v, %v; want key 7", got, ok)
	}
	if _, ok, _ := c.get(key("h"), time.Time{}, now.Add(3*keyCacheHeartbeat)); ok {
		t.Fatal("the cache answers three heartbeats after it last heard from the database")
	}

	_, _, gen = c.get(key("g"), time.Time{}, now)
	c.flush() // news arrives while "g" is being read
	c.put(key("g"), k, expires, now, gen)
	if _, ok, _ := c.get(key("g"), time.Time{}, now); ok {
		t.Fatal("a scope read before a flush was kept after it")
	}

	_, _, gen = c.get(key("e"), time.Time{}, now)
	c.put(key("e"), k, now.Add(time.Second), now, gen)
	if _, ok, _ := c.get(key("e"), time.Time{}, now.Add(time.Second)); ok {
		t.Fatal("an expired key answers from memory")
	}
	_, _, gen = c.get(key("h"), time.Time{}, now)
	c.put(key("h"), k, expires, now, gen)
	c.heard.Store(now.Add(keyCacheMaxAge).UnixNano()) // still listening
	if _, ok, _ := c.get(key("h"), time.Time{}, now.Add(keyCacheMaxAge-time.Millisecond)); !ok {
		t.Fatal("a scope is gone before the cache's longest keep")
	}
	if _, ok, _ := c.get(key("h"), time.Time{}, now.Add(keyCacheMaxAge)); ok {
		t.Fatal("a scope answers past the cache's longest keep")
	}
}

// Each kind of entry has a key space of its own: a user's memberships and
// a key's scope under the same text are two entries, counted apart.
func TestCacheKindsKeepApart(t *testing.T) {
	t.Parallel()
	var c scopeCache
	now := time.Now()
	c.heard.Store(now.UnixNano())
	_, _, gen := c.get(cacheKey{apiKeyScopes, "1"}, time.Time{}, now)
	c.put(cacheKey{apiKeyScopes, "1"}, KeyScope{KeyID: 1}, now.Add(time.Hour), now, gen)
	if _, ok, _ := c.get(cacheKey{userMemberships, "1"}, time.Time{}, now); ok {
		t.Fatal("a key's scope answers for a user's memberships")
	}
	if _, ok, _ := c.get(cacheKey{liveSessions, "1"}, time.Time{}, now); ok {
		t.Fatal("a key's scope answers for a session")
	}
	if got, ok, _ := c.get(cacheKey{apiKeyScopes, "1"}, time.Time{}, now); !ok || got.(KeyScope).KeyID != 1 {
		t.Fatalf("the key's scope: %+v, %v", got, ok)
	}
	if h, m := c.hits[apiKeyScopes].Load(), c.misses[userMemberships].Load()+c.misses[liveSessions].Load(); h != 1 || m != 2 {
		t.Errorf("counted %d key hits and %d other misses, want 1 and 2", h, m)
	}
}

// Kept answers are bounded by the rows they were read from, not by their
// number: past keptMaxRows they start over, and an answer kept again, or
// forgotten with its account, gives its rows back.
func TestKeptAnswersAreBoundedByTheirRows(t *testing.T) {
	t.Parallel()
	var c scopeCache
	now := time.Now()
	c.heard.Store(now.UnixNano())
	page := func(n int) keptKey { return keptKey{statement: "list", args: n} }
	put := func(account int64, k keptKey, rows int) {
		_, _, gen := c.getKept(account, k, time.Time{}, now)
		c.putKept(account, k, "answer", rows, now, gen)
	}
	kept := func(account int64, k keptKey) bool {
		_, ok, _ := c.getKept(account, k, time.Time{}, now)
		return ok
	}

	// Pages of 50 rows: the bound holds keptMaxRows/50 of them.
	pages := keptMaxRows / 50
	for i := range pages {
		put(1, page(i), 50)
	}
	if !kept(1, page(0)) || !kept(1, page(pages-1)) || c.keptRows != keptMaxRows {
		t.Fatalf("%d pages of 50 rows: first kept %v, last kept %v, %d rows counted; want both kept and %d", pages, kept(1, page(0)), kept(1, page(pages-1)), c.keptRows, keptMaxRows)
	}
	put(1, page(0), 50) // the same page again weighs nothing more
	if c.keptRows != keptMaxRows || !kept(1, page(pages-1)) {
		t.Fatalf("a page kept again: %d rows counted, want %d and nothing forgotten", c.keptRows, keptMaxRows)
	}
	put(2, page(0), 0) // one more page, even empty, is past the bound
	if kept(1, page(0)) || !kept(2, page(0)) || c.keptRows != 1 {
		t.Fatalf("past the bound: the old pages kept %v, the new one %v, %d rows counted; want none, it, 1", kept(1, page(0)), kept(2, page(0)), c.keptRows)
	}

	put(1, page(1), 20)
	c.forgetKept(1)
	if c.keptRows != 1 || !kept(2, page(0)) {
		t.Fatalf("an account forgotten: %d rows counted, want the other account's 1", c.keptRows)
	}
}
