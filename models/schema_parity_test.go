package models_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
)

// schemaDifferences are the known differences between the schemas the two
// dialects' migrations build, as TestMigratedSchemasMatch words them. All
// but the first are differences to remove with a migration; the test fails
// on any other difference and on an entry here that no longer occurs.
var schemaDifferences = map[string]bool{
	// By design: SQLite's servers hear of changes to the scope cache's
	// tables through this counter (migration 00025), PostgreSQL's through
	// notifications.
	"scope_cache_news: table: PostgreSQL absent, SQLite present": true,
	// SQLite lets a PRIMARY KEY column other than INTEGER PRIMARY KEY (the
	// rowid) hold NULL unless it is declared NOT NULL; PostgreSQL's primary
	// keys never do. Fixed by declaring these columns NOT NULL in SQLite
	// (which takes rebuilding each table).
	"billing_contacts: column account_id: PostgreSQL integer NOT NULL no default, SQLite integer NULL no default": true,
	"rate_windows: column account_id: PostgreSQL integer NOT NULL no default, SQLite integer NULL no default":     true,
	"sp_keys: column id: PostgreSQL integer NOT NULL no default, SQLite integer NULL no default":                  true,
	"sso_connections: column account_id: PostgreSQL integer NOT NULL no default, SQLite integer NULL no default":  true,
	"sso_replays: column assertion_id: PostgreSQL text NOT NULL no default, SQLite text NULL no default":          true,
	"sso_requests: column id: PostgreSQL text NOT NULL no default, SQLite text NULL no default":                   true,
	"throttle_buckets: column key_hash: PostgreSQL text NOT NULL no default, SQLite text NULL no default":         true,
}

// TestMigratedSchemasMatch migrates a fresh SQLite and a fresh PostgreSQL
// database and compares, table by table, what their catalogues say: the
// columns (type family, nullability, whether there is a default), the
// primary key, the indexes (columns, uniqueness, partial predicate), the
// foreign keys (with their ON DELETE action) and the check constraints (by
// name). Row-security policies exist on PostgreSQL alone and are left out,
// as is goose's own table.
func TestMigratedSchemasMatch(t *testing.T) {
	t.Parallel()
	lite := sqliteSchema(t, dbtest.Plain(t, dbtest.SQLite(t)))
	wantSchemaRead(t, "SQLite", lite)
	pg := postgresSchema(t, dbtest.Plain(t, dbtest.Postgres(t)))
	wantSchemaRead(t, "PostgreSQL", pg)

	seen := map[string]bool{}
	for _, d := range diffSchemas(pg, lite) {
		seen[d] = true
		if !schemaDifferences[d] {
			t.Errorf("%s", d)
		}
	}
	for d := range schemaDifferences {
		if !seen[d] {
			t.Errorf("listed in schemaDifferences but no longer found (remove it): %s", d)
		}
	}
}

// schema is what the test compares of a database: table name → fact key
// (like "column email" or "index sessions_user") → the fact's description.
type schema map[string]map[string]string

func (s schema) add(table, key, value string) {
	if s[table] == nil {
		s[table] = map[string]string{}
	}
	if old, ok := s[table][key]; ok {
		value = old + "; " + value
	}
	s[table][key] = value
}

// diffSchemas words every difference as "table: fact: PostgreSQL …, SQLite …".
func diffSchemas(pg, lite schema) []string {
	var out []string
	describe := func(v string, ok bool) string {
		if !ok {
			return "absent"
		}
		return v
	}
	for _, table := range unionKeys(pg, lite) {
		if pg[table] == nil || lite[table] == nil {
			out = append(out, fmt.Sprintf("%s: table: PostgreSQL %s, SQLite %s", table,
				describe("present", pg[table] != nil), describe("present", lite[table] != nil)))
			continue
		}
		for _, key := range unionKeys(pg[table], lite[table]) {
			p, pok := pg[table][key]
			l, lok := lite[table][key]
			if pok && lok && p == l {
				continue
			}
			out = append(out, fmt.Sprintf("%s: %s: PostgreSQL %s, SQLite %s", table, key, describe(p, pok), describe(l, lok)))
		}
	}
	return out
}

func unionKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// wantSchemaRead checks that the catalogue reader found what the first
// migration creates, so that the comparison cannot pass by reading nothing.
func wantSchemaRead(t *testing.T, dialect string, s schema) {
	t.Helper()
	if len(s) < 20 {
		t.Fatalf("%s: read only %d tables", dialect, len(s))
	}
	for key, want := range map[string]string{
		"column public_id":                            "text NOT NULL no default",
		"column plan":                                 "text NOT NULL default",
		"column slug":                                 "text NULL no default",
		"primary key":                                 "(id)",
		"unique (public_id)":                          "UNIQUE",
		"index accounts_one_personal_per_user":        "UNIQUE (created_by_id) WHERE kind = 'personal'",
		"foreign key (created_by_id) -> users":        "(id) ON DELETE CASCADE",
		"check accounts_kind_check":                   "CHECK",
		"index accounts_one_organization_per_creator": "UNIQUE (created_by_id) WHERE kind = 'organization'",
	} {
		if got := s["accounts"][key]; got != want {
			t.Errorf("%s: accounts: %s read as %q, want %q", dialect, key, got, want)
		}
	}
	if got := s["memberships"]["primary key"]; got != "(account_id, user_id)" {
		t.Errorf("%s: memberships: primary key read as %q", dialect, got)
	}
	if got := s["audit_events"]["index audit_events_account_time"]; got != "(account_id, created_at DESC, id DESC)" {
		t.Errorf("%s: audit_events: index audit_events_account_time read as %q", dialect, got)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// typeFamily maps a declared or catalogued column type to what both
// dialects can agree on.
func typeFamily(declared string) string {
	t := strings.ToLower(strings.TrimSpace(declared))
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	switch t {
	case "bigint", "integer", "int", "int2", "int4", "int8", "smallint":
		return "integer"
	case "text", "character varying", "varchar", "character", "char":
		return "text"
	case "timestamp with time zone", "timestamp without time zone", "timestamptz", "timestamp", "datetime":
		return "timestamp"
	case "date":
		return "date"
	case "boolean", "bool":
		return "boolean"
	case "double precision", "real", "float", "double", "numeric", "decimal":
		return "number"
	case "bytea", "blob":
		return "bytes"
	case "json", "jsonb":
		return "json"
	}
	return t
}

func columnFact(typ string, notNull, hasDefault bool) string {
	null, def := "NULL", "no default"
	if notNull {
		null = "NOT NULL"
	}
	if hasDefault {
		def = "default"
	}
	return typeFamily(typ) + " " + null + " " + def
}

func indexFact(unique bool, columns []string, predicate string) string {
	s := "(" + strings.Join(columns, ", ") + ")"
	if unique {
		s = "UNIQUE " + s
	}
	if predicate != "" {
		s += " WHERE " + normalizePredicate(predicate)
	}
	return s
}

var (
	typeCast = regexp.MustCompile(`::(timestamp with time zone|timestamp without time zone|character varying|double precision|[a-z_]+)`)
	spaces   = regexp.MustCompile(`\s+`)
)

// normalizePredicate brings PostgreSQL's deparsed predicate, "((kind =
// 'personal'::text))", and SQLite's text as written, "kind = 'personal'",
// to one form: no casts, no parentheses, upper-case keywords.
func normalizePredicate(p string) string {
	p = typeCast.ReplaceAllString(p, "")
	p = strings.NewReplacer("(", " ", ")", " ").Replace(p)
	words := strings.Fields(spaces.ReplaceAllString(p, " "))
	for i, w := range words {
		switch u := strings.ToUpper(w); u {
		case "AND", "OR", "NOT", "IS", "NULL", "IN", "TRUE", "FALSE":
			words[i] = u
		}
	}
	return strings.Join(words, " ")
}

func onDelete(action string) string {
	switch strings.ToUpper(action) {
	case "C", "CASCADE":
		return "CASCADE"
	case "N", "SET NULL":
		return "SET NULL"
	case "D", "SET DEFAULT":
		return "SET DEFAULT"
	case "R", "RESTRICT":
		return "RESTRICT"
	}
	return "NO ACTION"
}

// postgresSchema reads the current schema's tables from the catalogue.
func postgresSchema(t *testing.T, db *gorm.DB) schema {
	t.Helper()
	s := schema{}
	var tables []string
	mustExec(t, db.Raw(`SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND c.relname <> 'goose_db_version'`).Scan(&tables))
	for _, table := range tables {
		var cols []struct {
			ColumnName    string
			DataType      string
			IsNullable    string
			ColumnDefault *string
		}
		mustExec(t, db.Raw(`SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ?`, table).Scan(&cols))
		for _, c := range cols {
			// A serial column's default is its sequence: SQLite's
			// INTEGER PRIMARY KEY numbers rows without one.
			def := c.ColumnDefault != nil && !strings.HasPrefix(*c.ColumnDefault, "nextval(")
			s.add(table, "column "+c.ColumnName, columnFact(c.DataType, c.IsNullable == "NO", def))
		}

		var cons []struct {
			Conname     string
			Contype     string
			Confdeltype string
			Cols        string
			RefTable    string
			RefCols     string
		}
		mustExec(t, db.Raw(`SELECT con.conname, con.contype::text AS contype, con.confdeltype::text AS confdeltype,
			COALESCE((SELECT string_agg(a.attname, ', ' ORDER BY k.n) FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
				JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), '') AS cols,
			COALESCE(fr.relname, '') AS ref_table,
			COALESCE((SELECT string_agg(a.attname, ', ' ORDER BY k.n) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
				JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum), '') AS ref_cols
			FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_class fr ON fr.oid = con.confrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ?`, table).Scan(&cons))
		for _, c := range cons {
			switch c.Contype {
			case "p":
				s.add(table, "primary key", "("+c.Cols+")")
			case "f":
				s.add(table, "foreign key ("+c.Cols+") -> "+c.RefTable, "("+c.RefCols+") ON DELETE "+onDelete(c.Confdeltype))
			case "c":
				s.add(table, "check "+c.Conname, "CHECK")
			case "u":
				// Read with the indexes, which carry them on both dialects.
			default:
				s.add(table, "constraint "+c.Conname, "type "+c.Contype)
			}
		}

		var idx []struct {
			Name      string
			IsUnique  bool
			ConType   string
			Predicate string
			KeyList   string
		}
		mustExec(t, db.Raw(`SELECT i.relname AS name, x.indisunique AS is_unique,
			COALESCE((SELECT con.contype::text FROM pg_constraint con WHERE con.conindid = x.indexrelid AND con.contype IN ('p', 'u') LIMIT 1), '') AS con_type,
			COALESCE(pg_get_expr(x.indpred, x.indrelid), '') AS predicate,
			(SELECT string_agg(pg_get_indexdef(x.indexrelid, k, true) || CASE WHEN x.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END, '|' ORDER BY k)
				FROM generate_series(1, x.indnkeyatts) k) AS key_list
			FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ?`, table).Scan(&idx))
		for _, ix := range idx {
			keys := strings.Split(ix.KeyList, "|")
			for i, k := range keys { // "position" is quoted, a keyword to PostgreSQL
				keys[i] = strings.ReplaceAll(k, `"`, "")
			}
			switch ix.ConType {
			case "p":
				// The primary key, read with the constraints.
			case "u":
				s.add(table, "unique ("+strings.Join(keys, ", ")+")", "UNIQUE")
			default:
				s.add(table, "index "+ix.Name, indexFact(ix.IsUnique, keys, ix.Predicate))
			}
		}
	}
	return s
}

// sqliteSchema reads the database's tables from sqlite_master and the
// pragma table functions; check constraints, which no pragma lists, from
// the tables' CREATE statements.
func sqliteSchema(t *testing.T, db *gorm.DB) schema {
	t.Helper()
	s := schema{}
	var tables []struct{ Name, SQL string }
	mustExec(t, db.Raw(`SELECT name, sql FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'goose_db_version'`).Scan(&tables))
	for _, table := range tables {
		var cols []struct {
			Name      string
			Type      string
			NotNull   bool
			DfltValue *string
			PK        int
		}
		mustExec(t, db.Raw(`SELECT name, type, "notnull" AS not_null, dflt_value, pk FROM pragma_table_info(?)`, table.Name).Scan(&cols))
		var pk []string
		for _, c := range cols {
			if c.PK > 0 {
				pk = append(pk, "")
			}
		}
		for _, c := range cols {
			notNull := c.NotNull
			if c.PK > 0 {
				pk[c.PK-1] = c.Name
				// INTEGER PRIMARY KEY is the rowid, never NULL; other
				// primary key columns of SQLite take NULL unless declared
				// NOT NULL.
				notNull = notNull || (len(pk) == 1 && strings.EqualFold(c.Type, "INTEGER"))
			}
			s.add(table.Name, "column "+c.Name, columnFact(c.Type, notNull, c.DfltValue != nil))
		}
		if len(pk) > 0 {
			s.add(table.Name, "primary key", "("+strings.Join(pk, ", ")+")")
		}

		var fks []struct {
			ID       int
			Seq      int
			Table    string
			From     string
			To       *string
			OnDelete string
		}
		mustExec(t, db.Raw(`SELECT id, seq, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table.Name).Scan(&fks))
		for i := 0; i < len(fks); {
			j := i
			var from, to []string
			for ; j < len(fks) && fks[j].ID == fks[i].ID; j++ {
				from = append(from, fks[j].From)
				if fks[j].To != nil {
					to = append(to, *fks[j].To)
				}
			}
			if len(to) == 0 { // REFERENCES t: its primary key
				var refPK []struct {
					Name string
					PK   int
				}
				mustExec(t, db.Raw(`SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, fks[i].Table).Scan(&refPK))
				for _, c := range refPK {
					to = append(to, c.Name)
				}
			}
			s.add(table.Name, "foreign key ("+strings.Join(from, ", ")+") -> "+fks[i].Table,
				"("+strings.Join(to, ", ")+") ON DELETE "+onDelete(fks[i].OnDelete))
			i = j
		}

		var idx []struct {
			Name    string
			Unique  bool
			Origin  string
			Partial bool
		}
		mustExec(t, db.Raw(`SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, table.Name).Scan(&idx))
		for _, ix := range idx {
			var keys []struct {
				Name *string
				Desc bool
			}
			mustExec(t, db.Raw(`SELECT name, "desc" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno`, ix.Name).Scan(&keys))
			var names []string
			for _, k := range keys {
				n := "<expression>"
				if k.Name != nil {
					n = *k.Name
				}
				if k.Desc {
					n += " DESC"
				}
				names = append(names, n)
			}
			switch ix.Origin {
			case "pk":
			case "u":
				s.add(table.Name, "unique ("+strings.Join(names, ", ")+")", "UNIQUE")
			default:
				var sql string
				mustExec(t, db.Raw(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, ix.Name).Scan(&sql))
				predicate := ""
				if ix.Partial {
					if at := keywordAt(sql, "WHERE"); at >= 0 {
						predicate = strings.TrimSpace(sql[at+len("WHERE"):])
					}
				}
				s.add(table.Name, "index "+ix.Name, indexFact(ix.Unique, names, predicate))
			}
		}

		for _, name := range sqliteChecks(table.Name, table.SQL) {
			s.add(table.Name, "check "+name, "CHECK")
		}
	}
	return s
}

// sqliteChecks names the check constraints of a CREATE TABLE statement as
// PostgreSQL would: by their CONSTRAINT name, else table_column_check for a
// column's own check and table_check for the table's.
func sqliteChecks(table, create string) []string {
	open := strings.IndexByte(create, '(')
	if open < 0 {
		return nil
	}
	var names []string
	for _, def := range splitTopLevel(create[open+1:]) {
		words := sqlWords(def)
		if len(words) == 0 {
			continue
		}
		column := ""
		switch strings.ToUpper(words[0]) {
		case "CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK":
		default:
			column = unquoteIdent(words[0])
		}
		for i, w := range words {
			if !strings.EqualFold(w, "CHECK") {
				continue
			}
			switch {
			case i >= 2 && strings.EqualFold(words[i-2], "CONSTRAINT"):
				names = append(names, unquoteIdent(words[i-1]))
			case column != "":
				names = append(names, table+"_"+column+"_check")
			default:
				names = append(names, table+"_check")
			}
		}
	}
	return names
}

// splitTopLevel splits the body of a CREATE TABLE (after its opening
// parenthesis) at the commas outside parentheses, quotes and comments, up
// to the closing parenthesis.
func splitTopLevel(body string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '\'' || c == '"' || c == '`':
			if j := strings.IndexByte(body[i+1:], c); j >= 0 {
				i += j + 1
			}
		case c == '[':
			if j := strings.IndexByte(body[i+1:], ']'); j >= 0 {
				i += j + 1
			}
		case c == '-' && strings.HasPrefix(body[i:], "--"):
			if j := strings.IndexByte(body[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(body)
			}
		case c == '/' && strings.HasPrefix(body[i:], "/*"):
			if j := strings.Index(body[i:], "*/"); j >= 0 {
				i += j + 1
			}
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return append(parts, body[start:i])
			}
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, body[start:i])
			start = i + 1
		}
	}
	return append(parts, body[start:])
}

// sqlWords are the words of a definition outside parentheses, quotes and
// comments; a quoted identifier is one word with its quotes.
func sqlWords(def string) []string {
	var words []string
	depth := 0
	for i := 0; i < len(def); {
		c := def[i]
		switch {
		case c == '-' && strings.HasPrefix(def[i:], "--"):
			j := strings.IndexByte(def[i:], '\n')
			if j < 0 {
				return words
			}
			i += j
		case c == '/' && strings.HasPrefix(def[i:], "/*"):
			j := strings.Index(def[i:], "*/")
			if j < 0 {
				return words
			}
			i += j + 2
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := c
			if c == '[' {
				end = ']'
			}
			j := strings.IndexByte(def[i+1:], end)
			if j < 0 {
				j = len(def) - i - 1
			}
			if depth == 0 && c != '\'' {
				words = append(words, def[i:i+j+2])
			}
			i += j + 2
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		default:
			j := i
			for j < len(def) && strings.IndexByte(" \t\r\n,()'\"`[", def[j]) < 0 {
				j++
			}
			if depth == 0 {
				words = append(words, def[i:j])
			}
			i = j
		}
	}
	return words
}

func unquoteIdent(w string) string {
	if len(w) >= 2 && strings.IndexByte("\"`[", w[0]) >= 0 {
		return w[1 : len(w)-1]
	}
	return w
}

// keywordAt is the offset of keyword in sql as a word outside parentheses
// and quotes, or -1.
func keywordAt(sql, keyword string) int {
	depth := 0
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'' || c == '"':
			if j := strings.IndexByte(sql[i+1:], c); j >= 0 {
				i += j + 1
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && len(sql)-i >= len(keyword) && strings.EqualFold(sql[i:i+len(keyword)], keyword) &&
			(i == 0 || !isIdentByte(sql[i-1])) && (i+len(keyword) == len(sql) || !isIdentByte(sql[i+len(keyword)])):
			return i
		}
	}
	return -1
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func mustExec(t *testing.T, db *gorm.DB) {
	t.Helper()
	if db.Error != nil {
		t.Fatal(db.Error)
	}
}
