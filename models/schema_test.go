package models_test

import (
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/migrations"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// TestSchemaMatchesModels checks, on each dialect, that the migrated table of
// every GORM model has exactly the columns GORM maps: a field without a
// column breaks every query on the model, and a column without a field is
// never written.
func TestSchemaMatchesModels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		table string
		model any
	}{
		{"users", &models.User{}},
		{"accounts", &tenancy.Account{}},
		{"memberships", &tenancy.Membership{}},
		{"sessions", &models.Session{}},
		{"email_tokens", &models.EmailToken{}},
		{"audit_events", &tenancy.AuditEvent{}},
		{"passkeys", &models.Passkey{}},
		{"webauthn_challenges", &models.WebAuthnChallenge{}},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for _, c := range cases {
			t.Run(c.table, func(t *testing.T) {
				stmt := &gorm.Statement{DB: db}
				dbtest.Must(t, stmt.Parse(c.model))
				if stmt.Schema.Table != c.table {
					t.Fatalf("GORM maps %T to table %q, want %q", c.model, stmt.Schema.Table, c.table)
				}
				if !dbtest.Plain(t, db).Migrator().HasTable(c.table) {
					t.Fatalf("table %s does not exist after migrating", c.table)
				}
				inTable := map[string]bool{}
				for _, name := range tableColumns(t, db, c.table) {
					inTable[name] = true
				}
				mapped := map[string]bool{}
				for _, name := range stmt.Schema.DBNames {
					mapped[name] = true
					if !inTable[name] || !dbtest.Plain(t, db).Migrator().HasColumn(c.model, name) {
						t.Errorf("%T maps column %s.%s, which the migration does not create", c.model, c.table, name)
					}
				}
				for name := range inTable {
					if !mapped[name] {
						t.Errorf("migration creates %s.%s, which %T does not map", c.table, name, c.model)
					}
				}
				if len(stmt.Schema.DBNames) == 0 {
					t.Fatalf("%T maps no columns", c.model)
				}
			})
		}
	})
}

// tableColumns lists a table's columns from the catalogue, with raw SQL:
// Migrator().ColumnTypes reads a row of the table itself, which the scope
// guard refuses on account-owned tables (correctly: it is an unscoped
// SELECT * FROM audit_events).
func tableColumns(t *testing.T, db *gorm.DB, table string) []string {
	t.Helper()
	var names []string
	var err error
	if tenancy.DialectOfDB(db) == tenancy.Postgres {
		err = dbtest.Plain(t, db).Raw("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", table).
			Scan(&names).Error
	} else {
		err = dbtest.Plain(t, db).Raw("SELECT name FROM pragma_table_info(?)", table).Scan(&names).Error
	}
	dbtest.Must(t, err)
	if len(names) == 0 {
		t.Fatalf("table %s has no columns", table)
	}
	return names
}

// TestColumnTypesOfUnownedTables: for tables outside the scope guard the
// migrator's own view agrees with the catalogue query above, so that the
// check is not only as good as tableColumns.
func TestColumnTypesOfUnownedTables(t *testing.T) {
	t.Parallel()
	cases := map[string]any{
		"users": &models.User{}, "accounts": &tenancy.Account{}, "memberships": &tenancy.Membership{},
		"sessions": &models.Session{}, "email_tokens": &models.EmailToken{},
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		for table, model := range cases {
			cols, err := dbtest.Plain(t, db).Migrator().ColumnTypes(model)
			dbtest.Must(t, err)
			var got []string
			for _, c := range cols {
				got = append(got, c.Name())
			}
			want := tableColumns(t, db, table)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: ColumnTypes %v, catalogue %v", table, got, want)
			}
		}
	})
}

// TestMigrationDirectoriesMatch checks that both dialects carry the same
// versioned migrations, so that neither database falls behind.
func TestMigrationDirectoriesMatch(t *testing.T) {
	t.Parallel()
	versioned := regexp.MustCompile(`^\d{5}_[a-z0-9_]+\.sql$`)
	list := func(dir string) []string {
		t.Helper()
		entries, err := fs.ReadDir(migrations.FS, dir)
		dbtest.Must(t, err)
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("%s/%s is a directory", dir, e.Name())
				continue
			}
			if !versioned.MatchString(e.Name()) {
				t.Errorf("%s/%s is not named like 00001_name.sql", dir, e.Name())
			}
			body, err := fs.ReadFile(migrations.FS, path.Join(dir, e.Name()))
			dbtest.Must(t, err)
			if !strings.Contains(string(body), "-- +goose Up") {
				t.Errorf("%s/%s has no goose Up section", dir, e.Name())
			}
			names = append(names, e.Name())
		}
		sort.Strings(names)
		return names
	}
	pg, lite := list("postgres"), list("sqlite")
	if len(pg) == 0 {
		t.Fatal("no PostgreSQL migrations")
	}
	if strings.Join(pg, "\n") != strings.Join(lite, "\n") {
		t.Fatalf("migration files differ:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
}
