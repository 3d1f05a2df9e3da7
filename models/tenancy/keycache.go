package tenancy

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// The scope cache keeps in memory, between requests, what the scopes of
// requests are made of, so that neither costs a statement: API keys'
// scopes, and for pages each session with its user (LoadSession) and each
// user's memberships (MembershipsOf). It is only as good as its news: every
// change to a table they are read from (api_keys, memberships, accounts,
// totp_factors, passkeys, sessions, users) flushes it,
//
//   - in this process, when a write commits: a write unit of work (runUnit,
//     InTx) or a write statement outside a transaction (the walls'
//     callbacks), before its caller can answer anyone;
//   - in every process, through PostgreSQL: triggers on those tables
//     NOTIFY keyScopesChannel when their transaction commits (migrations
//     00023 and 00024), whatever wrote it, raw SQL and the operator's
//     commands included, and each server LISTENs (WatchKeyScopes).
//
// On SQLite, which has no notifications, the news is a counter that
// triggers on those tables raise (migration 00025), read before every
// answer (sqliteNews).
//
// It fails closed: it answers only while its listener has heard from the
// database within keyCacheHeartbeat×3 (on SQLite, while the counter can
// be read); when the channel is down every request reads from the
// database, as if there were no cache.
type scopeCache struct {
	mu      sync.Mutex
	entries map[cacheKey]cachedEntry
	// generation counts flushes: what was read before a flush is not kept
	// after it (see put).
	generation uint64
	// heard is when the listener last heard from the database (Unix
	// nanoseconds; 0: not listening), and listener its backend's process.
	heard    atomic.Int64
	listener atomic.Uint32

	flushes      atomic.Int64
	hits, misses [cacheKinds]atomic.Int64

	// newsInTransactions counts statements that were news (isNews) run in
	// a transaction, which the cache forgets when it ends (watchNews).
	newsInTransactions atomic.Int64

	// kept holds Kept statements' answers by account (kept.go), and
	// keptRows is what they weigh (see keptMaxRows);
	// keptNewsInTransactions counts statements that were news to them
	// (isKeptNews) run in a transaction.
	kept     map[int64]map[keptKey]cachedEntry
	keptRows int
	// keptGeneration counts what forgets kept answers (a flush among
	// them), as generation counts flushes: forgetting kept answers alone
	// leaves what the rest of the cache reads meanwhile to be kept.
	keptGeneration                    uint64
	keptHits, keptMisses, keptForgets atomic.Int64
	keptNewsInTransactions            atomic.Int64
	// unitsOfOtherAccounts counts units entered inside a transaction of
	// another account's unit (or the door's inside one): their writes are
	// news to other accounts' kept answers than the transaction's
	// (watchNews).
	unitsOfOtherAccounts atomic.Int64

	// sqlite is where the news comes from on SQLite (nil on PostgreSQL,
	// whose listener sets heard).
	sqlite *sqliteNews
}

// cacheKind is what an entry is: each kind has its own key space and
// counters.
type cacheKind uint8

const (
	apiKeyScopes    cacheKind = iota // by the key's hash
	userMemberships                  // by the user's ID
	liveSessions                     // by the token's hash
	cacheKinds
)

type cacheKey struct {
	kind cacheKind
	id   string
}

type cachedEntry struct {
	value any
	until time.Time
	// weight is a kept answer's, in keptMaxRows (0 for the others).
	weight int
}

// scopeCacheTables are the tables what the cache keeps is read from: each
// has a trigger that NOTIFYs keyScopesChannel (TestScopeCacheTablesNotify).
var scopeCacheTables = map[string]bool{
	"api_keys": true, "memberships": true, "accounts": true, "totp_factors": true, "passkeys": true, "sessions": true, "users": true,
}

// quietColumns are the columns of scopeCacheTables whose change alone is
// no news: they record that a session or an API key was used, and the
// cache keeps their values for nothing but deciding when to record that
// again. Every active session is touched every few minutes, and the keys
// in use every few seconds (the usage recorder): as news, each touch
// emptied every server's cache. Their tables' triggers fire on an update
// of any other column (migration 00028; TestScopeCacheTablesNotify checks them column by
// column).
var quietColumns = map[string]map[string]bool{
	"sessions": {"last_seen_at": true},
	"api_keys": {"last_used_at": true},
}

// isNews says whether db's write statement, which has run, may have
// changed what the scope cache keeps: one on a table the cache is read
// from, or raw SQL (which names no table), unless it is an update that
// sets quiet columns only.
func isNews(db *gorm.DB, update bool) bool {
	table := db.Statement.Table
	if table == "" {
		return true
	}
	if !scopeCacheTables[table] {
		return false
	}
	quiet := quietColumns[table]
	set, ok := db.Statement.Dest.(map[string]any)
	if !update || quiet == nil || !ok || len(set) == 0 {
		return true
	}
	for column := range set {
		if !quiet[column] {
			return true
		}
	}
	if s := db.Statement.Schema; s != nil {
		// GORM sets an auto-updated column (updated_at) beside the map's.
		for _, f := range s.Fields {
			if f.AutoUpdateTime > 0 && !quiet[f.DBName] {
				return true
			}
		}
	}
	return false
}

// heardNews notes db's statement, which has run, as news to the scope
// cache: outside a transaction it has committed, and the cache is flushed
// at once; in one, the unit or InTx flushes it when the transaction ends
// (watchNews).
func heardNews(db *gorm.DB) {
	if !inTransaction(db) {
		keyScopesChanged(db)
		return
	}
	if t := wallsOf(db); t != nil {
		t.scopes.newsInTransactions.Add(1)
	}
}

// watchNews returns what to call when a transaction on db has ended (a
// write unit, InTx): it flushes db's scope cache if a statement that is
// news ran in a transaction on db's database meanwhile, in this one or
// any other (which flushes too often, never too seldom). A write unit
// that wrote no news (an index, the usage recorder's batch) leaves the
// cache as it is. Likewise, if a statement that is news to kept answers
// (isKeptNews) ran meanwhile, it forgets account's (0: every account's):
// the transaction's, whose row security kept its writes in the account.
func watchNews(db *gorm.DB, account int64) func() {
	t := wallsOf(db)
	if t == nil {
		return func() {}
	}
	before := t.scopes.newsInTransactions.Load()
	keptBefore, othersBefore := t.scopes.keptNewsInTransactions.Load(), t.scopes.unitsOfOtherAccounts.Load()
	return func() {
		switch {
		case t.scopes.newsInTransactions.Load() != before:
			t.scopes.flush()
		case t.scopes.keptNewsInTransactions.Load() == keptBefore:
		case t.scopes.unitsOfOtherAccounts.Load() != othersBefore:
			t.scopes.forgetKept(0)
		default:
			t.scopes.forgetKept(account)
		}
	}
}

// ForgetSession drops the session of tokenHash from db's scope cache in
// this process: its quiet columns were written (its use recorded), which
// is no news to any other (quietColumns), but this process's copy would
// have it recorded again on every request. Another server's copy is as
// old as it was, and records the use once more itself.
func ForgetSession(db *gorm.DB, tokenHash string) {
	if t := wallsOf(db); t != nil {
		t.scopes.forget(cacheKey{liveSessions, tokenHash})
	}
}

const (
	keyScopesChannel = "switchboard_key_scopes"
	// keptChannel carries an account's kept answers' news (migration
	// 00029): the schema and the account's ID, or the schema alone for
	// every account.
	keptChannel = "switchboard_account_lists"
	// keyCacheHeartbeat is how often an idle listener proves its
	// connection; the cache answers until three beats are missed.
	keyCacheHeartbeat = time.Second
	// keyCacheMaxAge bounds how long an entry is kept, news or not.
	keyCacheMaxAge = time.Minute
	// keyCacheMaxEntries bounds its memory: past it, the cache starts
	// over rather than keep scanning for what to drop.
	keyCacheMaxEntries = 100_000
)

func (c *scopeCache) live(now time.Time) bool {
	heard := c.heard.Load()
	return heard != 0 && now.Sub(time.Unix(0, heard)) < 3*keyCacheHeartbeat
}

// get answers an entry from memory, if the cache is live and has it; gen
// is the generation to hand to put after reading it from the database.
func (c *scopeCache) get(k cacheKey, since, now time.Time) (value any, ok bool, gen uint64) {
	c.hearSQLite(since, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live(now) {
		return nil, false, c.generation
	}
	e, ok := c.entries[k]
	if !ok || !now.Before(e.until) {
		c.misses[k.kind].Add(1)
		return nil, false, c.generation
	}
	c.hits[k.kind].Add(1)
	return e.value, true, c.generation
}

// put keeps what was read from the database at generation gen, until
// until at the latest, unless a flush came since: then what was read may
// be what the flush was about. value must not change once kept.
func (c *scopeCache) put(k cacheKey, value any, until, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.generation || !c.live(now) {
		return
	}
	if c.entries == nil || len(c.entries) >= keyCacheMaxEntries {
		c.entries = make(map[cacheKey]cachedEntry)
	}
	if longest := now.Add(keyCacheMaxAge); longest.Before(until) {
		until = longest
	}
	c.entries[k] = cachedEntry{value: value, until: until}
}

// currentGeneration is the generation to hand to put after a read that
// did not ask the cache first.
func (c *scopeCache) currentGeneration() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

// flush forgets everything, kept answers included: they read the scope
// cache's tables too.
func (c *scopeCache) flush() {
	c.mu.Lock()
	c.generation++
	c.keptGeneration++
	clear(c.entries)
	clear(c.kept)
	c.keptRows = 0
	c.mu.Unlock()
	c.flushes.Add(1)
}

// forget drops one entry.
func (c *scopeCache) forget(k cacheKey) {
	c.mu.Lock()
	delete(c.entries, k)
	c.mu.Unlock()
}

// RecallSession answers a live session, by its token's hash, from the
// scope cache while the cache is live; otherwise read reads it from the
// database (tables sessions and users only: their changes are news) and
// says until when it lives. T is the session's type: the caller gets a copy
// of what is kept, and must copy what it points to before changing that.
func RecallSession[T any](ctx context.Context, db *gorm.DB, tokenHash string, now time.Time, read func() (T, time.Time, error)) (T, error) {
	return recall(ctx, db, cacheKey{liveSessions, tokenHash}, now, true, read)
}

// recall answers key from the cache while it is live (when fromCache), or
// reads it with read, which says until when it may be kept, and keeps
// it. Inside a transaction it only reads: the transaction may have changed
// what read reads and not committed yet.
func recall[T any](ctx context.Context, db *gorm.DB, key cacheKey, now time.Time, fromCache bool, read func() (T, time.Time, error)) (T, error) {
	if inTransaction(db) {
		v, _, err := read()
		return v, err
	}
	c := &wallsOf(db).scopes
	var gen uint64
	if fromCache {
		kept, ok, g := c.get(key, requestStart(ctx), now)
		if ok {
			return kept.(T), nil
		}
		gen = g
	} else {
		gen = c.currentGeneration()
	}
	v, until, err := read()
	if err != nil {
		return v, err
	}
	c.put(key, v, until, now, gen)
	return v, nil
}

// KeyCacheStats is the state of a database's scope cache (named for what
// it first kept, API keys), and what it did since the database was
// opened. Hits and misses count look-ups while it was live; every other
// look-up read the database as well.
type KeyCacheStats struct {
	// Live: the cache answers now. Listener is the PostgreSQL backend
	// process its listener is connected to (0: none).
	Live                  bool
	Listener              uint32
	Hits, Misses, Flushes int64
	// MembershipHits and MembershipMisses count users' memberships, and
	// SessionHits and SessionMisses sessions, as Hits and Misses count keys.
	MembershipHits, MembershipMisses int64
	SessionHits, SessionMisses       int64
	// KeptHits and KeptMisses count Kept statements' answers, and
	// KeptForgets the times one account's or every account's were
	// forgotten apart from a flush.
	KeptHits, KeptMisses, KeptForgets int64
}

// KeyCacheStatsOf reads db's scope cache's state and counters.
func KeyCacheStatsOf(db *gorm.DB) KeyCacheStats {
	c := &wallsOf(db).scopes
	return KeyCacheStats{Live: c.live(time.Now()), Listener: c.listener.Load(),
		Hits: c.hits[apiKeyScopes].Load(), Misses: c.misses[apiKeyScopes].Load(), Flushes: c.flushes.Load(),
		MembershipHits: c.hits[userMemberships].Load(), MembershipMisses: c.misses[userMemberships].Load(),
		SessionHits: c.hits[liveSessions].Load(), SessionMisses: c.misses[liveSessions].Load(),
		KeptHits: c.keptHits.Load(), KeptMisses: c.keptMisses.Load(), KeptForgets: c.keptForgets.Load()}
}

// keyScopesChanged flushes db's scope cache: a write on db committed.
func keyScopesChanged(db *gorm.DB) {
	if t := wallsOf(db); t != nil {
		t.scopes.flush()
	}
}

// WatchKeyScopes keeps db's scope cache informed until ctx ends: it LISTENs
// for the triggers' news on a connection of its own, and proves the
// connection every keyCacheHeartbeat while no news comes. Whenever the
// connection fails the cache stops answering, and after it reconnects it
// starts over empty (news sent meanwhile was lost). On SQLite it returns at
// once: the cache reads its news itself (sqliteNews).
func WatchKeyScopes(ctx context.Context, db *gorm.DB, log *slog.Logger) {
	t := wallsOf(db)
	if t == nil || t.listen == nil {
		return
	}
	c := &t.scopes
	for wait := keyCacheHeartbeat; ; wait = min(2*wait, 30*time.Second) {
		err := listenForKeyScopes(ctx, t.listen, c)
		c.heard.Store(0)
		c.flush()
		if ctx.Err() != nil {
			return
		}
		log.Warn("API keys, sessions and memberships are read from the database on every request until their change notifications reconnect", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// listenForKeyScopes is one connection's life: it returns when the
// connection fails or ctx ends.
func listenForKeyScopes(ctx context.Context, cfg *pgx.ConnConfig, c *scopeCache) error {
	cfg = cfg.Copy()
	cfg.RuntimeParams["application_name"] = "switchboard key cache"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	c.listener.Store(conn.PgConn().PID())
	defer c.listener.Store(0)
	// The news names the schema of the table that changed: this
	// deployment's is the first of the search path.
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+keyScopesChannel+"; LISTEN "+keptChannel); err != nil {
		return err
	}
	// Whatever was kept before this connection listened may have missed
	// its news.
	c.flush()
	for {
		c.heard.Store(time.Now().UnixNano())
		wait, cancel := context.WithTimeout(ctx, keyCacheHeartbeat)
		news, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil && news.Channel == keptChannel:
			c.hearKept(news.Payload, schema)
		case err == nil:
			if news.Payload == schema {
				c.flush()
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case pgconn.Timeout(err) && !conn.PgConn().IsClosed():
			// No news: prove the connection is still there.
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// hearKept acts on a notification of keptChannel: "schema account" forgets
// the account's kept answers, "schema" every account's; another schema's
// is not this deployment's news.
func (c *scopeCache) hearKept(payload, schema string) {
	rest, ok := strings.CutPrefix(payload, schema)
	switch {
	case !ok:
	case rest == "":
		c.forgetKept(0)
	case rest[0] == ' ':
		account, err := strconv.ParseInt(rest[1:], 10, 64)
		if err != nil || account <= 0 {
			account = 0 // unreadable: forget too much rather than too little
		}
		c.forgetKept(account)
	}
}
