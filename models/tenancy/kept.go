package tenancy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"gorm.io/gorm"
)

// A Kept statement is a Statement whose answers a server keeps in memory,
// per account, until the account's rows change: the dashboard's busiest
// lists (an organization's members, its indexes) are read far more often
// than they change, and reading them from the database was most of their
// pages' cost.
//
// What is kept is scan's answer for one request's scope, shape and
// arguments, and is handed to every later request with the same account,
// user, role, account kind, second factor, shape and arguments: the very
// inputs the statement may depend on (see Statement), so a request is
// answered exactly what its own read would have answered under the walls,
// as of the last change the server has heard of. The answer is shared:
// callers must not change it (or what it points to).
//
// It is forgotten
//
//   - for one account, when a row of indexes or index_counts of the account
//     changes: in this process when the write commits (a write unit,
//     before its caller can answer anyone), and in every process through
//     PostgreSQL's notifications (migration 00029);
//   - for every account, on any news to the scope cache (users,
//     memberships, accounts, …: see scopeCache), and after keyCacheMaxAge.
//
// On SQLite, a counter raised by the same tables' triggers forgets every
// account's answers (sqliteNews). As the scope cache, it answers only while
// it hears its news: otherwise every request reads the database.
//
// A kept statement may read only tables whose every change is news: the
// first time a shape is rendered on PostgreSQL, the tables its plan reads
// are checked against keptNewsTables and scopeCacheTables, and a statement
// that reads another fails.
type Kept[K comparable, A comparable, T any] struct {
	statement *Statement[K, A]
	scan      func(Rows) (T, error)
}

// NewKept declares a Kept statement (once, as a package variable): build
// as NewStatement's, and scan, which reads its rows into the answer kept.
func NewKept[K comparable, A comparable, T any](build func(tx *gorm.DB, s Scope, shape K, args A) *gorm.DB, scan func(Rows) (T, error)) *Kept[K, A, T] {
	st := NewStatement(build)
	st.kept = true
	return &Kept[K, A, T]{statement: st, scan: scan}
}

// Query answers the statement for s from memory, or runs it as s's unit of
// work (as Statement.Query does) and keeps its answer. Inside a
// transaction, for the door and for SCIM it only runs it: a transaction
// may have changed what it reads and not committed yet.
func (k *Kept[K, A, T]) Query(ctx context.Context, db *gorm.DB, s Scope, shape K, args A) (T, error) {
	// read runs the statement; rows is how many rows the answer was
	// scanned from, what it weighs in keptMaxRows.
	read := func() (answer T, rows int, err error) {
		err = k.statement.Query(ctx, db, s, shape, args, func(r Rows) error {
			counted := &countedRows{Rows: r}
			var err error
			answer, err = k.scan(counted)
			rows = counted.n
			return err
		})
		return answer, rows, err
	}
	t := wallsOf(db)
	if t == nil || inTransaction(db) || s.door != "" || s.scimToken != 0 || s.IsZero() {
		answer, _, err := read()
		return answer, err
	}
	key := keptKey{statement: k, shape: shape, args: args, user: s.userID, role: s.role, kind: s.account.Kind, secondFactor: s.secondFactor}
	now := time.Now()
	c := &t.scopes
	kept, ok, gen := c.getKept(s.account.ID, key, requestStart(ctx), now)
	if ok {
		return kept.(T), nil
	}
	answer, rows, err := read()
	if err != nil {
		return answer, err
	}
	c.putKept(s.account.ID, key, answer, rows, now, gen)
	return answer, nil
}

// countedRows counts the rows scanned.
type countedRows struct {
	Rows
	n int
}

func (r *countedRows) Next() bool {
	if !r.Rows.Next() {
		return false
	}
	r.n++
	return true
}

// keptKey is what a kept answer is kept by, within its account: everything
// a Statement's text, values and row security may depend on.
type keptKey struct {
	statement    any
	shape, args  any
	user         int64
	role         Role
	kind         AccountKind
	secondFactor bool
}

// keptNewsTables are the tables, besides the scope cache's (whose news
// forgets every account's kept answers), whose changes forget their
// account's kept answers.
var keptNewsTables = map[string]bool{"indexes": true, "index_counts": true}

// keptMaxRows bounds the kept answers' memory, in the rows they were read
// from (an empty answer weighs one): past it, they start over. A row of a
// list is about 0.5 KB. The bound is on rows, not answers, because the API
// lets its clients choose the page's size: an API key walking every page
// of 10,000 indexes at every size from 50 down (10,000 answers of 16-50
// rows) took a server from 54 MB to 413 MB when answers were counted.
const keptMaxRows = 100_000

// getKept answers an account's kept answer, if the cache is live and has
// it; gen is the generation to hand to putKept after reading it.
func (c *scopeCache) getKept(account int64, k keptKey, since, now time.Time) (value any, ok bool, gen uint64) {
	c.hearSQLite(since, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live(now) {
		return nil, false, c.keptGeneration
	}
	e, ok := c.kept[account][k]
	if !ok || !now.Before(e.until) {
		c.keptMisses.Add(1)
		return nil, false, c.keptGeneration
	}
	c.keptHits.Add(1)
	return e.value, true, c.keptGeneration
}

// putKept keeps an answer read from rows rows at generation gen, unless
// something was forgotten since: the answer may be what that was about.
func (c *scopeCache) putKept(account int64, k keptKey, value any, rows int, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.keptGeneration || !c.live(now) {
		return
	}
	weight, replaced := max(rows, 1), c.kept[account][k].weight
	if c.kept == nil || c.keptRows-replaced+weight > keptMaxRows {
		c.kept, c.keptRows, replaced = make(map[int64]map[keptKey]cachedEntry), 0, 0
	}
	entries := c.kept[account]
	if entries == nil {
		entries = make(map[keptKey]cachedEntry)
		c.kept[account] = entries
	}
	c.keptRows += weight - replaced
	entries[k] = cachedEntry{value: value, until: now.Add(keyCacheMaxAge), weight: weight}
}

// forgetKept forgets the kept answers of an account (0: of every account).
func (c *scopeCache) forgetKept(account int64) {
	c.mu.Lock()
	c.keptGeneration++
	if account == 0 {
		clear(c.kept)
		c.keptRows = 0
	} else {
		for _, e := range c.kept[account] {
			c.keptRows -= e.weight
		}
		delete(c.kept, account)
	}
	c.mu.Unlock()
	c.keptForgets.Add(1)
}

// isKeptNews says whether db's write statement, which has run, changed
// rows kept answers are read from, by account (isNews covers the others).
func isKeptNews(db *gorm.DB) bool {
	return keptNewsTables[db.Statement.Table]
}

// heardKeptNews notes db's statement, which has run, as news to the kept
// answers: outside a transaction it has committed, and every account's are
// forgotten at once; in one, the unit forgets its account's when the
// transaction ends (watchNews).
func heardKeptNews(db *gorm.DB) {
	t := wallsOf(db)
	if t == nil {
		return
	}
	if !inTransaction(db) {
		t.scopes.forgetKept(0)
		return
	}
	t.scopes.keptNewsInTransactions.Add(1)
}

// checkTablesRead refuses a kept statement whose plan reads a table a
// change to which is not news (keptNewsTables, scopeCacheTables): its
// answers would be kept past such changes. It asks PostgreSQL for the
// plan of text with the request's values, as u.
func checkTablesRead(ctx context.Context, db *gorm.DB, u unit, text string, args []any) error {
	var plan []byte
	err := sendPipelined(ctx, db, u, "EXPLAIN (FORMAT JSON) "+text, args, func(rows gorm.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&plan); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var tree any
	if err := json.Unmarshal(plan, &tree); err != nil {
		return fmt.Errorf("read a kept statement's plan: %w", err)
	}
	var unheard []string
	for _, table := range relationsOf(tree) {
		if !keptNewsTables[table] && !scopeCacheTables[table] && !slices.Contains(unheard, table) {
			unheard = append(unheard, table)
		}
	}
	if len(unheard) > 0 {
		sort.Strings(unheard)
		return fmt.Errorf("a kept statement reads %v, whose changes are no news to what is kept:\n%s", unheard, text)
	}
	return nil
}

// relationsOf lists the "Relation Name" of every node of a JSON plan.
func relationsOf(node any) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		if name, ok := n["Relation Name"].(string); ok {
			out = append(out, name)
		}
		for _, v := range n {
			out = append(out, relationsOf(v)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, relationsOf(v)...)
		}
	}
	return out
}
