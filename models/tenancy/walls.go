package tenancy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Two walls keep accounts apart.
//
// Wall 1, the application: every statement that names an account-owned
// table — a table with an account_id column, found in the schema — must
// come with an authority: a Scope (Scope.Apply restricts it to the scope's
// account), a user's view of their own rows (UserView.Apply), or the system
// door (System). Raw SQL (Raw, Exec, text subqueries) on account-owned
// tables passes only through the door. Anything else fails with
// ErrUnscoped, never "all rows".
//
// Wall 2, PostgreSQL: every account-owned table has row-level security
// enabled and forced, and the connection pool acts as the role
// switchboard_app, which owns nothing and cannot bypass it. Each unit of
// work is a transaction that tells the database, for itself only
// (set_config(…, true)), which account and user it acts for; a statement
// outside one sees and changes no rows of those tables. The system door is
// the one path that runs with row security bypassed: as the pool's session
// user, the tables' owner (see Door.run).
//
// SQLite has no row security: there, wall 1 is the wall.

// The authorities a statement can carry (under authorityKey).
type (
	// scopeAuthority: built through Scope.Apply, for one account.
	scopeAuthority struct{ account, user int64 }
	// userAuthority: a user's own rows of the tables they see across
	// accounts (their memberships, their linked identities).
	userAuthority struct{ user int64 }
	// doorAuthority: the system door, with its reason.
	doorAuthority struct{ reason string }
)

const authorityKey = "switchboard:authority"

// userVisible are the account-owned tables whose rows a user also sees as
// their own, in every account: UserView reads them by user_id.
var userVisible = map[string]bool{"memberships": true, "sso_links": true}

// walls is what the walls know about one database: its account-owned
// tables, read from the schema on first use and after every migration.
type walls struct {
	// owner is the pool of the tables' owner, on PostgreSQL: the system
	// door's, and the migrations'.
	owner *gorm.DB

	// schema is the connection the account-owned tables are read through:
	// the owner's on PostgreSQL (the application's role does not exist
	// before the first migration), the database's on SQLite.
	schema *sql.DB

	mu     sync.Mutex
	tables map[string]bool
	// applicationWall is off only in tests that check the database's wall
	// alone (DisableApplicationWallForTest).
	applicationWall bool

	// scopes is the database's scope cache, and listen where
	// WatchKeyScopes connects to keep it informed (nil on SQLite: nothing
	// to listen to).
	scopes scopeCache
	listen *pgx.ConnConfig

	// turns holds one token for each connection of the application's
	// pool; see appConn. On SQLite, whose read units run their
	// statements on the pool without a transaction, a read unit holds a
	// turn while it runs (runUnitOnce): the requests of a loaded server
	// waited for a connection tens of milliseconds in the pool's draw.
	turns Turns

	// shapes keeps the Statements' rendered shapes (shapeKey →
	// *renderedShape), for this database.
	shapes sync.Map
}

// appConn takes a connection of db's pool (the application's, on
// PostgreSQL) for one unit of work, in the order requests asked for one;
// the caller closes the connection and then gives the turn back
// (t.turns.Give). database/sql hands a freed connection to a random waiter,
// not the first: with more requests in flight than connections, a request
// could lose that draw many times over while later ones went ahead, so
// requests wait on turns, one a connection, instead.
func (t *walls) appConn(ctx context.Context, db *gorm.DB) (*sql.Conn, error) {
	if t == nil {
		return nil, errors.New("a unit of work on a database not opened by tenancy.Open")
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if err := t.turns.Take(ctx); err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.turns.Give()
		return nil, err
	}
	return conn, nil
}

func (*walls) Name() string                 { return "switchboard:tenancy" }
func (*walls) Initialize(db *gorm.DB) error { return nil }

func wallsOf(db *gorm.DB) *walls {
	t, _ := db.Config.Plugins["switchboard:tenancy"].(*walls)
	return t
}

// ForgetCachedScopesForTest empties db's scope cache, as news of a change
// would: for tests that count what a request costs when nothing is kept.
// Never call it outside tests.
func ForgetCachedScopesForTest(db *gorm.DB) { keyScopesChanged(db) }

// DisableApplicationWallForTest turns wall 1 off on db, for tests that show
// that row security alone keeps accounts apart: statements are neither
// refused nor restricted to the scope's account by the application. Never
// call it outside tests.
func DisableApplicationWallForTest(db *gorm.DB) {
	t := wallsOf(db)
	t.mu.Lock()
	t.applicationWall = false
	t.mu.Unlock()
}

func (t *walls) wallOn() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.applicationWall
}

// accountTables are the tables with an account_id column, read from the
// schema the first time they are needed. The schema is read on the
// statement's own connection: taking another from a pool could wait
// forever, holding t.mu, while every connection of the pool is in a
// transaction waiting for t.mu.
func (t *walls) accountTables(db *gorm.DB) (map[string]bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tables != nil {
		return t.tables, nil
	}
	q := `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'account_id'`
	if DialectOfDB(db) == Postgres {
		// pg_catalog, not information_schema: the latter lists only what
		// the connection's role may use, and the application's role is not
		// the owner's.
		q = `SELECT c.relname FROM pg_catalog.pg_attribute a
			JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND a.attname = 'account_id'
			AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`
	}
	var conn gorm.ConnPool = t.schema
	if db.Statement != nil && db.Statement.ConnPool != nil {
		conn = db.Statement.ConnPool
	}
	rows, err := conn.QueryContext(context.Background(), q)
	if err != nil {
		return nil, fmt.Errorf("read the account-owned tables: %w", err)
	}
	defer rows.Close()
	tables := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		tables[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	t.tables = tables
	return tables, nil
}

// forget makes the next statement read the schema again (it migrated).
func (t *walls) forget() {
	t.mu.Lock()
	t.tables = nil
	t.mu.Unlock()
}

// AccountOwnedTables lists the account-owned tables of db's schema.
func AccountOwnedTables(db *gorm.DB) ([]string, error) {
	tables, err := wallsOf(db).accountTables(db)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(tables))
	for name := range tables {
		out = append(out, name)
	}
	return out, nil
}

// guard is wall 1: it fails a statement on account-owned tables that has
// no authority for them.
func guard(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	t := wallsOf(db)
	if !t.wallOn() {
		return
	}
	owned, err := t.accountTables(db)
	if err != nil {
		_ = db.AddError(err)
		return
	}
	stmt := db.Statement
	authority, _ := stmt.Get(authorityKey)
	if _, ok := authority.(doorAuthority); ok {
		return
	}
	if stmt.SQL.Len() > 0 {
		// Raw SQL, written by hand: only the door may name these tables.
		if table, ok := firstOwned(owned, stmt.SQL.String()); ok {
			_ = db.AddError(fmt.Errorf("%w: raw SQL on %s outside the system door", ErrUnscoped, table))
		}
		return
	}
	if owned[stmt.Table] {
		switch a := authority.(type) {
		case scopeAuthority:
		case userAuthority:
			if !userVisible[stmt.Table] {
				_ = db.AddError(fmt.Errorf("%w: %s is not a user's own", ErrUnscoped, stmt.Table))
				return
			}
			_ = a
		default:
			_ = db.AddError(fmt.Errorf("%w: %s", ErrUnscoped, stmt.Table))
			return
		}
	}
	texts, subqueries := statementTexts(stmt)
	if table, ok := unguardedSubquery(owned, subqueries); ok {
		_ = db.AddError(fmt.Errorf("%w: subquery on %s", ErrUnscoped, table))
		return
	}
	if authority != nil {
		// Joins and conditions of a statement with an authority are its
		// own; on PostgreSQL row security holds them to the same account.
		return
	}
	for _, text := range texts {
		if table, ok := firstOwned(owned, text); ok {
			_ = db.AddError(fmt.Errorf("%w: %s", ErrUnscoped, table))
			return
		}
	}
}

// guardCreate is wall 1 for inserts: into an account-owned table only with
// an authority, and through a scope the row's account_id is the scope's,
// whatever the struct held.
func guardCreate(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	t := wallsOf(db)
	if !t.wallOn() {
		if a, ok := db.Statement.Get(authorityKey); ok {
			if s, ok := a.(scopeAuthority); ok {
				db.Statement.SetColumn("account_id", s.account, true)
			}
		}
		return
	}
	owned, err := t.accountTables(db)
	if err != nil {
		_ = db.AddError(err)
		return
	}
	if !owned[db.Statement.Table] {
		return
	}
	a, _ := db.Statement.Get(authorityKey)
	switch a := a.(type) {
	case scopeAuthority:
		db.Statement.SetColumn("account_id", a.account, true)
	case doorAuthority:
	default:
		_ = db.AddError(fmt.Errorf("%w: insert into %s", ErrUnscoped, db.Statement.Table))
	}
}

// statementTexts is every piece of SQL text a built statement carries: a
// table expression, joins, selected columns, orders and groups, and the text
// of its clauses' expressions (where a subquery written by hand would be).
// subqueries are the statements built with the builder that it embeds.
func statementTexts(stmt *gorm.Statement) (texts []string, subqueries []*gorm.DB) {
	vars := func(vs []any) {
		for _, v := range vs {
			if sub, ok := v.(*gorm.DB); ok {
				subqueries = append(subqueries, sub)
			}
		}
	}
	texts = append(texts, stmt.Selects...)
	if stmt.TableExpr != nil {
		texts = append(texts, stmt.TableExpr.SQL)
		vars(stmt.TableExpr.Vars)
	}
	for _, j := range stmt.Joins {
		texts = append(texts, j.Name)
		vars(j.Conds)
		if e, ok := j.Expression.(clause.Expr); ok {
			texts = append(texts, e.SQL)
			vars(e.Vars)
		}
	}
	var walk func(e clause.Expression)
	each := func(xs []clause.Expression) {
		for _, x := range xs {
			walk(x)
		}
	}
	walk = func(e clause.Expression) {
		switch e := e.(type) {
		case clause.Expr:
			texts = append(texts, e.SQL)
			vars(e.Vars)
		case clause.NamedExpr:
			texts = append(texts, e.SQL)
			vars(e.Vars)
		case clause.Where:
			each(e.Exprs)
		case clause.AndConditions:
			each(e.Exprs)
		case clause.OrConditions:
			each(e.Exprs)
		case clause.NotConditions:
			each(e.Exprs)
		case clause.Select:
			for _, c := range e.Columns {
				texts = append(texts, c.Name)
			}
			if e.Expression != nil {
				walk(e.Expression)
			}
		case clause.OrderBy:
			for _, c := range e.Columns {
				texts = append(texts, c.Column.Name)
			}
			if e.Expression != nil {
				walk(e.Expression)
			}
		case clause.GroupBy:
			for _, c := range e.Columns {
				texts = append(texts, c.Name)
			}
			each(e.Having)
		case clause.From:
			for _, j := range e.Joins {
				if j.Expression != nil {
					walk(j.Expression)
				}
			}
		}
	}
	for _, c := range stmt.Clauses {
		if c.Expression != nil {
			walk(c.Expression)
		}
	}
	return texts, subqueries
}

// unguardedSubquery is the first account-owned table a statement embeds
// through a subquery of its own without an authority: the subquery's own
// refusal, made while it is rendered into this statement, would be lost.
func unguardedSubquery(owned map[string]bool, subs []*gorm.DB) (string, bool) {
	for _, sub := range subs {
		stmt := sub.Statement
		if a, _ := stmt.Get(authorityKey); a != nil {
			continue
		}
		table := stmt.Table
		if table == "" && stmt.Model != nil {
			if err := stmt.Parse(stmt.Model); err == nil {
				table = stmt.Table
			}
		}
		if owned[table] {
			return table, true
		}
		texts, nested := statementTexts(stmt)
		for _, text := range texts {
			if t, ok := firstOwned(owned, text); ok {
				return t, true
			}
		}
		if t, ok := unguardedSubquery(owned, nested); ok {
			return t, true
		}
	}
	return "", false
}

// firstOwned is the first account-owned table that text names.
func firstOwned(owned map[string]bool, text string) (string, bool) {
	for _, word := range strings.FieldsFunc(strings.ToLower(text), notIdentifier) {
		if owned[word] {
			return word, true
		}
	}
	return "", false
}

func notIdentifier(r rune) bool {
	return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
}
