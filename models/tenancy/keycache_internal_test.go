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

	_, _, gen := c.get("h", now)
	c.put("h", k, expires, now, gen)
	if _, ok, _ := c.get("h", now); ok {
		t.Fatal("a cache that never listened answers")
	}

	c.heard.Store(now.UnixNano())
	_, _, gen = c.get("h", now)
	c.put("h", k, expires, now, gen)
	if got, ok, _ := c.get("h", now); !ok || got.KeyID != 7 {
		t.Fatalf("live cache: %+v, %v; want key 7", got, ok)
	}
	if _, ok, _ := c.get("h", now.Add(3*keyCacheHeartbeat)); ok {
		t.Fatal("the cache answers three heartbeats after it last heard from the database")
	}

	_, _, gen = c.get("g", now)
	c.flush() // news arrives while "g" is being read
	c.put("g", k, expires, now, gen)
	if _, ok, _ := c.get("g", now); ok {
		t.Fatal("a scope read before a flush was kept after it")
	}

	_, _, gen = c.get("e", now)
	c.put("e", k, now.Add(time.Second), now, gen)
	if _, ok, _ := c.get("e", now.Add(time.Second)); ok {
		t.Fatal("an expired key answers from memory")
	}
	_, _, gen = c.get("h", now)
	c.put("h", k, expires, now, gen)
	c.heard.Store(now.Add(keyCacheMaxAge).UnixNano()) // still listening
	if _, ok, _ := c.get("h", now.Add(keyCacheMaxAge-time.Millisecond)); !ok {
		t.Fatal("a scope is gone before the cache's longest keep")
	}
	if _, ok, _ := c.get("h", now.Add(keyCacheMaxAge)); ok {
		t.Fatal("a scope answers past the cache's longest keep")
	}
}

// Users' memberships keep as keys' scopes do: only while the cache hears
// news, not across a flush they were read before, and each caller gets
// rows of its own.
func TestMembershipsKeepOnlyWhileTheCacheHearsNews(t *testing.T) {
	t.Parallel()
	var c scopeCache
	now := time.Now()
	m := Memberships{user: 3, Rows: []MembershipOf{{Account: Account{ID: 10, Name: "Acme"}, Role: RoleAdmin}}}

	_, _, gen := c.getMemberships(3, now)
	c.putMemberships(3, m, now, gen)
	if _, ok, _ := c.getMemberships(3, now); ok {
		t.Fatal("a cache that never listened answers memberships")
	}

	c.heard.Store(now.UnixNano())
	_, _, gen = c.getMemberships(3, now)
	c.putMemberships(3, m, now, gen)
	got, ok, _ := c.getMemberships(3, now)
	if !ok || len(got.Rows) != 1 || got.Rows[0].ID != 10 || got.user != 3 {
		t.Fatalf("live cache: %+v, %v; want user 3's account 10", got, ok)
	}
	got.Rows[0].Role = RoleMember
	if again, _, _ := c.getMemberships(3, now); again.Rows[0].Role != RoleAdmin {
		t.Fatal("a caller's change to its rows reached the cache")
	}
	if _, ok, _ := c.getMemberships(3, now.Add(3*keyCacheHeartbeat)); ok {
		t.Fatal("memberships answer three heartbeats after the cache last heard from the database")
	}

	c.flush()
	if _, ok, _ := c.getMemberships(3, now); ok {
		t.Fatal("memberships outlived a flush")
	}
	_, _, gen = c.getMemberships(4, now)
	c.flush() // news arrives while user 4's memberships are being read
	c.putMemberships(4, m, now, gen)
	if _, ok, _ := c.getMemberships(4, now); ok {
		t.Fatal("memberships read before a flush were kept after it")
	}
}
