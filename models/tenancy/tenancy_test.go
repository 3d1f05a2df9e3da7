package tenancy_test

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// Wall 1 refuses raw SQL on account-owned tables outside the system door,
// however it is spelled, and writes nothing.
func TestRawSQLOnAccountTablesIsRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newAuditFixture(t, db)
		plain := dbtest.Plain(t, db)
		var rows []map[string]any
		cases := []struct {
			label string
			run   func() error
		}{
			{"Raw", func() error { return db.Raw("SELECT * FROM audit_events").Scan(&rows).Error }},
			{"Raw with a hand-written account filter", func() error {
				return db.Raw("SELECT * FROM audit_events WHERE account_id = ?", f.a.AccountID()).Scan(&rows).Error
			}},
			{"Raw upper case", func() error { return db.Raw("SELECT * FROM AUDIT_EVENTS").Scan(&rows).Error }},
			{"Raw quoted", func() error { return db.Raw(`SELECT * FROM "audit_events"`).Scan(&rows).Error }},
			{"Raw Row", func() error {
				tx := db.Raw("SELECT COUNT(*) FROM api_keys")
				if row := tx.Row(); row != nil {
					var n int64
					return row.Scan(&n)
				}
				return tx.Error
			}},
			{"Exec delete", func() error { return db.Exec("DELETE FROM audit_events").Error }},
			{"Exec update", func() error { return db.Exec("UPDATE indexes SET name = 'taken'").Error }},
			{"Exec insert", func() error {
				return db.Exec("INSERT INTO audit_events (account_id, action, created_at) VALUES (?, 'forged', ?)", f.b.AccountID(), dbtest.UTC()).Error
			}},
			{"Exec on plan changes", func() error { return db.Exec("DELETE FROM plan_changes").Error }},
			{"Exec on rate windows", func() error { return db.Exec("DELETE FROM rate_windows").Error }},
			{"Exec on memberships", func() error { return db.Exec("DELETE FROM memberships").Error }},
			{"subquery in Where", func() error {
				return db.Model(&tenancy.Account{}).Where("id IN (SELECT account_id FROM audit_events)").Find(&rows).Error
			}},
			{"subquery in Select", func() error {
				return db.Table("accounts").Select("id, (SELECT COUNT(*) FROM api_keys WHERE api_keys.account_id = accounts.id) AS keys").Find(&rows).Error
			}},
			{"built subquery without a scope", func() error {
				return db.Model(&tenancy.Account{}).Where("id IN (?)", db.Model(&tenancy.AuditEvent{}).Select("account_id")).Find(&rows).Error
			}},
			{"join written by hand", func() error {
				return db.Table("users").Joins("JOIN memberships ON memberships.user_id = users.id").Find(&rows).Error
			}},
			{"raw SQL inside a scope's unit of work", func() error {
				return tenancy.RawInScope(db, f.a, "SELECT COUNT(*) FROM audit_events")
			}},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := dbtest.CountAll(t, plain)
				dbtest.WantIs(t, c.run(), tenancy.ErrUnscoped)
				dbtest.WantNothingWritten(t, plain, before)
			})
		}
	})
}

// The account-owned tables are read from the schema: every table with an
// account_id column, including those a hand-kept list used to miss.
func TestAccountOwnedTablesComeFromTheSchema(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		got, err := tenancy.AccountOwnedTables(db)
		dbtest.Must(t, err)
		sort.Strings(got)
		q := `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'account_id' ORDER BY 1`
		if tenancy.DialectOfDB(db) == tenancy.Postgres {
			q = `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'account_id' ORDER BY 1`
		}
		var want []string
		dbtest.Must(t, dbtest.Plain(t, db).Raw(q).Scan(&want).Error)
		if !slices.Equal(got, want) {
			t.Fatalf("account-owned tables %v, want %v", got, want)
		}
		for _, table := range []string{"memberships", "plan_changes", "rate_windows", "sso_links", "invoice_lines", "usage_daily_account"} {
			if !slices.Contains(got, table) {
				t.Errorf("%s is not guarded", table)
			}
		}
	})
}

// The system door is opened in few places, each with its reason: a new one
// shows up here as a change to review.
func TestSystemDoorCallSites(t *testing.T) {
	t.Parallel()
	want := []string{
		`billing.go: find the accounts to invoice for a month`,
		`billing.go: close an account's month into its invoice`,
		`billing.go: snapshot the video each member holds`,
		`apikeys.go: look up an API key by its secret`,
		`demo.go: seed the demo into an empty database`,
		// The HTTP benchmark's data set (cmd/benchhttp), into a database of
		// its own that SeedBench refuses unless it is empty.
		`bench.go: seed the HTTP benchmark's data set into an empty database`,
		`bench.go: seed the HTTP benchmark's data set into an empty database`,
		`bench.go: settle the benchmark's seeded data and refresh the planner's statistics`,
		`invitation_links.go: look up an invitation by its token`,
		`invitation_links.go: accept an invitation by its token`,
		`members.go: hand a departing member's private indexes to an administrator`,
		`ratelimit.go: count an account's API requests against its rate limits`,
		`sso.go: single sign-on, before a user is known`,
		`sso.go: delete expired SSO requests and replay records`,
		`sso.go: the operator proves a domain: switchboard sso verify-domain`,
		`sso.go: drop other organizations' claims of a domain one proved`,
		`apikeys.go: revoke every API key of a user whose address changed hands`,
		`sso_links.go: drop the identities linked to a user before their address was proved`,
		`sso_signin.go: list which of a user's organizations sign in through SSO`,
		`usage.go: write the batched usage of API requests`,
		`tokens.go: look up a SCIM token by its secret`,
		`users.go: SCIM provisioning creates a user and their personal account`,
		`security_audit.go: record a member's security change in their organizations' audit logs`,
	}
	var got []string
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			name := ""
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			if name != "System" || len(call.Args) != 1 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: System's reason is not a string literal", path)
				return true
			}
			reason, _ := strconv.Unquote(lit.Value)
			got = append(got, filepath.Base(path)+": "+reason)
			return true
		})
		return nil
	})
	dbtest.Must(t, err)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the system door is opened at:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Scopes are built only by the constructors that check membership (and the
// door's): nowhere else under models does a Scope literal name an account.
func TestScopesAreBuiltOnlyByTheirConstructors(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{"tenancy/scope.go": true, "tenancy/system.go": true}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator)))
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || allowed[name] {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok || len(lit.Elts) == 0 {
				return true
			}
			if isScope(lit.Type) {
				t.Errorf("%s builds a Scope by hand: %s", name, fmt.Sprint(lit.Elts))
			}
			return true
		})
		return nil
	})
	dbtest.Must(t, err)
}

// isScope reports whether a literal's type is Scope, in its own package or
// from another (tenancy.Scope).
func isScope(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "Scope"
	case *ast.SelectorExpr:
		return e.Sel.Name == "Scope"
	}
	return false
}

// pgOnly skips on SQLite, where there is no row-level security: the
// application's wall stands alone there.
func pgOnly(t *testing.T, db *gorm.DB) {
	t.Helper()
	if tenancy.DialectOfDB(db) != tenancy.Postgres {
		t.Skip("SQLite has no row-level security")
	}
}

// asApp runs fn in a transaction of plain acting as the application's role,
// with the settings given ("" leaves one unset).
func asApp(t *testing.T, plain *gorm.DB, account, user string, fn func(tx *gorm.DB)) {
	t.Helper()
	dbtest.Must(t, asAppErr(plain, account, user, func(tx *gorm.DB) error { fn(tx); return nil }))
}

// asAppErr is asApp for a transaction that may fail.
func asAppErr(plain *gorm.DB, account, user string, fn func(tx *gorm.DB) error) error {
	return plain.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL ROLE switchboard_app").Error; err != nil {
			return err
		}
		if account != "" {
			if err := tx.Exec("SELECT set_config('switchboard.account_id', ?, true)", account).Error; err != nil {
				return err
			}
		}
		if user != "" {
			if err := tx.Exec("SELECT set_config('switchboard.user_id', ?, true)", user).Error; err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// With no account set, the application's role sees no row of any
// account-owned table, whatever they hold; with one set, that account's.
func TestRowSecurityShowsNothingWithoutAnAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		f := newAuditFixture(t, db)
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		seedResources(t, db, org)
		plain := dbtest.Plain(t, db)
		tables, err := tenancy.AccountOwnedTables(db)
		dbtest.Must(t, err)
		sort.Strings(tables)
		for _, table := range tables {
			asApp(t, plain, "", "", func(tx *gorm.DB) {
				var n int64
				dbtest.Must(t, tx.Raw("SELECT COUNT(*) FROM "+table).Scan(&n).Error)
				if n != 0 {
					t.Errorf("%s: %d rows visible with no account set", table, n)
				}
			})
		}
		// One account's rows, and no other's.
		for _, s := range []tenancy.Scope{f.a, f.b, org} {
			id := strconv.FormatInt(s.AccountID(), 10)
			for _, table := range []string{"audit_events", "memberships", "indexes", "videos", "s3_integrations"} {
				var want int64
				dbtest.Must(t, plain.Raw("SELECT COUNT(*) FROM "+table+" WHERE account_id = ?", s.AccountID()).Scan(&want).Error)
				asApp(t, plain, id, strconv.FormatInt(s.UserID(), 10), func(tx *gorm.DB) {
					var n, foreign int64
					dbtest.Must(t, tx.Raw("SELECT COUNT(*) FROM "+table).Scan(&n).Error)
					dbtest.Must(t, tx.Raw("SELECT COUNT(*) FROM "+table+" WHERE account_id <> ?", s.AccountID()).Scan(&foreign).Error)
					if n != want || foreign != 0 {
						t.Errorf("%s as account %s: %d rows (%d foreign), want %d", table, id, n, foreign, want)
					}
				})
			}
		}
		// Writing into another account is refused by the database itself.
		err = asAppErr(plain, strconv.FormatInt(f.a.AccountID(), 10), "", func(tx *gorm.DB) error {
			return tx.Exec("INSERT INTO audit_events (account_id, action, created_at) VALUES (?, 'forged', now())", f.b.AccountID()).Error
		})
		if err == nil || !strings.Contains(err.Error(), "row-level security") {
			t.Errorf("an insert into another account answered %v, want a row-level security violation", err)
		}
	})
}

// A private index and its videos are their creator's alone, even to the
// database.
func TestRowSecurityKeepsPrivateIndexesToTheirCreator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		member, _ := dbtest.User(t, db)
		ms := dbtest.AddMember(t, db, org, member, tenancy.RoleMember)
		idx, err := models.CreateIndex(t.Context(), db, ms, models.IndexInput{Name: "Mine", Models: []string{"marengo"}, MarengoOptions: []string{"visual"}, Visibility: "private"})
		dbtest.Must(t, err)
		_, err = models.AddVideo(t.Context(), db, ms, idx.PublicID, models.VideoInput{Title: "Secret", URL: "https://e.com/v.mp4", DurationSeconds: "10"})
		dbtest.Must(t, err)
		plain := dbtest.Plain(t, db)
		acct := strconv.FormatInt(org.AccountID(), 10)
		for _, who := range []struct {
			user models.User
			want int64
		}{{owner, 0}, {member, 1}} {
			asApp(t, plain, acct, strconv.FormatInt(who.user.ID, 10), func(tx *gorm.DB) {
				for _, table := range []string{"indexes", "videos"} {
					var n int64
					dbtest.Must(t, tx.Raw("SELECT COUNT(*) FROM "+table).Scan(&n).Error)
					if n != who.want {
						t.Errorf("%s sees %d %s, want %d", who.user.Name, n, table, who.want)
					}
				}
			})
		}
	})
}

// The application's role can neither bypass row security nor own a table.
func TestAppRoleIsUnprivileged(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		plain := dbtest.Plain(t, db)
		var r struct {
			Rolsuper, Rolbypassrls, Rolcreaterole, Rolcreatedb bool
		}
		dbtest.Must(t, plain.Raw("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'switchboard_app'").Scan(&r).Error)
		if r.Rolsuper || r.Rolbypassrls || r.Rolcreaterole || r.Rolcreatedb {
			t.Fatalf("switchboard_app is privileged: %+v", r)
		}
		var owned int64
		dbtest.Must(t, plain.Raw("SELECT COUNT(*) FROM pg_tables WHERE tableowner = 'switchboard_app'").Scan(&owned).Error)
		if owned != 0 {
			t.Fatalf("switchboard_app owns %d tables", owned)
		}
		var weak []string
		dbtest.Must(t, plain.Raw(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'account_id' AND NOT a.attisdropped
			WHERE c.relkind = 'r' AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1`).Scan(&weak).Error)
		if len(weak) > 0 {
			t.Fatalf("without forced row security: %v", weak)
		}
	})
}

// A unit of work sets its account for its own transaction only: the pooled
// connection that served it carries nothing into the next.
func TestUnitSettingsEndWithTheirTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		for range 20 {
			_, err := models.ListIndexes(t.Context(), db, org, models.IndexQuery{Page: tenancy.Page{Number: 1, Size: 10}})
			dbtest.Must(t, err)
			_, _, err = models.ListMembers(t.Context(), db, org, tenancy.Page{Number: 1, Size: 10})
			dbtest.Must(t, err)
		}
		sqlDB, err := db.DB()
		dbtest.Must(t, err)
		ctx := context.Background()
		open := sqlDB.Stats().OpenConnections
		if open == 0 {
			t.Fatal("no pooled connection to look at")
		}
		for range open {
			conn, err := sqlDB.Conn(ctx)
			dbtest.Must(t, err)
			defer conn.Close()
			var account, user, role string
			dbtest.Must(t, conn.QueryRowContext(ctx, `SELECT COALESCE(current_setting('switchboard.account_id', true), ''),
				COALESCE(current_setting('switchboard.user_id', true), ''), current_user`).Scan(&account, &user, &role))
			if account != "" || user != "" || role != "switchboard_app" {
				t.Errorf("a pooled connection carries account %q, user %q, acts as %s", account, user, role)
			}
		}
	})
}

// Migrating refuses a schema with an account-owned table that row security
// does not cover: it would fail open.
func TestMigrateRefusesAnAccountTableWithoutRowSecurity(t *testing.T) {
	t.Parallel()
	dbtest.EachAt(t, 0, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("CREATE TABLE stray_notes (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL)").Error)
		err := tenancy.Migrate(t.Context(), db)
		if err == nil || !strings.Contains(err.Error(), "stray_notes") {
			t.Fatalf("migrate answered %v, want a refusal naming stray_notes", err)
		}
	})
}

// Row security alone keeps accounts apart: with the application's wall
// switched off, the model functions still see and change only the scope's
// account's rows.
func TestRowSecurityAloneKeepsAccountsApart(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		pgOnly(t, db)
		tenancy.DisableApplicationWallForTest(db)
		ctx := t.Context()
		ownerA, _ := dbtest.User(t, db)
		ownerB, _ := dbtest.User(t, db)
		a := dbtest.Org(t, db, ownerA)
		b := dbtest.Org(t, db, ownerB)
		ia := seedResources(t, db, a)
		ib := seedResources(t, db, b)
		list, err := models.ListIndexes(ctx, db, a, models.IndexQuery{Page: tenancy.Page{Number: 1, Size: 50}})
		dbtest.Must(t, err)
		if len(list.Rows) != 1 || list.Rows[0].PublicID != ia {
			t.Fatalf("A lists %d indexes", len(list.Rows))
		}
		_, err = models.GetIndex(ctx, db, a, ib)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = models.UpdateIndex(ctx, db, a, ib, models.IndexUpdate{Name: "Taken"})
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = models.DeleteIndex(ctx, db, a, ib)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		members, total, err := models.ListMembers(ctx, db, a, tenancy.Page{Number: 1, Size: 50})
		dbtest.Must(t, err)
		if total != 1 || len(members) != 1 || members[0].UserID != ownerA.ID {
			t.Fatalf("A's members: %d of %d", len(members), total)
		}
		if n, err := models.MemberCount(ctx, db, b); err != nil || n != 1 {
			t.Fatalf("B's member count %d %v", n, err)
		}
		row, err := models.GetIndex(ctx, db, b, ib)
		if err != nil || row.Name != "Walls index" {
			t.Fatalf("B's own index: %+v %v", row, err)
		}
	})
}

// seedResources gives the scope an index with a video, an integration and
// an API key; it returns the index's public ID.
func seedResources(t *testing.T, db *gorm.DB, s tenancy.Scope) string {
	t.Helper()
	ctx := t.Context()
	idx, err := models.CreateIndex(ctx, db, s, models.IndexInput{Name: "Walls index", Models: []string{"marengo"}, MarengoOptions: []string{"visual"}})
	dbtest.Must(t, err)
	_, err = models.AddVideo(ctx, db, s, idx.PublicID, models.VideoInput{Title: "Walls video", URL: "https://e.com/v.mp4", DurationSeconds: "30"})
	dbtest.Must(t, err)
	_, err = models.CreateIntegration(ctx, db, s, models.IntegrationInput{Name: "Walls bucket", Bucket: "walls-bucket", Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/r"})
	dbtest.Must(t, err)
	_, err = models.CreateAPIKey(ctx, db, s, "Walls key", models.DefaultAPIKeyTTL)
	dbtest.Must(t, err)
	return idx.PublicID
}
