package tenancy_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

type pageOfNames struct {
	Limit, Offset int
	Except        string
}

// builds counts the renders of namesStatement's build.
var builds int

// namesStatement lists the names of the indexes a scope sees, A to Z or Z
// to A (its shape), a page at a time, leaving one name out.
var namesStatement = tenancy.NewStatement(func(tx *gorm.DB, s tenancy.Scope, descending bool, a pageOfNames) *gorm.DB {
	builds++
	order := "name ASC"
	if descending {
		order = "name DESC"
	}
	return s.Apply(tx.Table("indexes")).Where("(visibility = ? OR created_by_id = ?) AND name <> ?", models.VisibilityAccount, s.UserID(), a.Except).
		Select("name").Order(order).Limit(a.Limit).Offset(a.Offset)
})

func namesFrom(rows tenancy.Rows, out *[]string) error {
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		*out = append(*out, n)
	}
	return nil
}

// A Statement answers what its build's statement answers, for any scope,
// shape and values, the scope's account's rows only; on PostgreSQL it
// renders a shape twice, once, and no more for other values or accounts.
// (Not parallel: it counts the renders of a package variable.)
func TestStatementsAnswerAsTheirBuild(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for _, name := range []string{"Alpha", "Bravo", "Charlie", "Delta"} {
			_, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput(name, "account"))
			dbtest.Must(t, err)
		}
		_, err := models.CreateIndex(t.Context(), db, f.Admin, dbtest.IndexInput("Admin's own", "private"))
		dbtest.Must(t, err)
		for _, name := range []string{"Other one", "Other two"} {
			_, err := models.CreateIndex(t.Context(), db, f.Other, dbtest.IndexInput(name, "account"))
			dbtest.Must(t, err)
		}
		pg := tenancy.DialectOfDB(db) == tenancy.Postgres
		builds = 0
		calls := []struct {
			scope      tenancy.Scope
			descending bool
			args       pageOfNames
			want       string
			renders    int // on PostgreSQL
		}{
			{f.Admin, false, pageOfNames{Limit: 10}, "Admin's own Alpha Bravo Charlie Delta", 2},
			{f.Admin, false, pageOfNames{Limit: 2, Offset: 1, Except: "Bravo"}, "Alpha Charlie", 0},
			{f.Member, false, pageOfNames{Limit: 10}, "Alpha Bravo Charlie Delta", 2}, // another role: a shape of its own
			{f.Other, false, pageOfNames{Limit: 10, Except: "x"}, "Other one Other two", 0},
			{f.Admin, true, pageOfNames{Limit: 3}, "Delta Charlie Bravo", 2},
			{f.Other, true, pageOfNames{Limit: 1, Offset: 1}, "Other one", 0},
			{f.Admin, false, pageOfNames{Limit: 10, Offset: 9}, "", 0},
		}
		for i, c := range calls {
			before := builds
			var got []string
			dbtest.Must(t, namesStatement.Query(t.Context(), db, c.scope, c.descending, c.args, func(rows tenancy.Rows) error { return namesFrom(rows, &got) }))
			if strings.Join(got, " ") != c.want {
				t.Errorf("call %d: %q, want %q", i+1, strings.Join(got, " "), c.want)
			}
			want := 1
			if pg {
				want = c.renders
			}
			if n := builds - before; n != want {
				t.Errorf("call %d: %d renders, want %d", i+1, n, want)
			}
		}
	})
}

// A build that binds a value computed from its inputs, or one of the
// scope's account's fields, or whose text changes with its values, is
// refused on PostgreSQL rather than answer another request with this
// one's value.
func TestStatementsRefuseBuildsThatBreakTheirRules(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	f := dbtest.NewOrgFixture(t, db)
	bad := map[string]*tenancy.Statement[int, pageOfNames]{
		"an offset computed from the limit": tenancy.NewStatement(func(tx *gorm.DB, s tenancy.Scope, _ int, a pageOfNames) *gorm.DB {
			return s.Apply(tx.Table("indexes")).Select("name").Limit(a.Limit).Offset(a.Limit * 2)
		}),
		"the account's public ID": tenancy.NewStatement(func(tx *gorm.DB, s tenancy.Scope, _ int, a pageOfNames) *gorm.DB {
			return s.Apply(tx.Table("indexes")).Where("public_id <> ?", s.Account().PublicID).Select("name").Limit(a.Limit)
		}),
		"a branch past the first page": tenancy.NewStatement(func(tx *gorm.DB, s tenancy.Scope, _ int, a pageOfNames) *gorm.DB {
			tx = s.Apply(tx.Table("indexes")).Select("name")
			if a.Offset > 100 {
				tx = tx.Where("visibility = 'account'")
			}
			return tx.Limit(a.Limit).Offset(a.Offset)
		}),
		"a term made from an argument": tenancy.NewStatement(func(tx *gorm.DB, s tenancy.Scope, _ int, a pageOfNames) *gorm.DB {
			return s.Apply(tx.Table("indexes")).Where("name LIKE ?", "%"+a.Except+"%").Select("name").Limit(a.Limit)
		}),
	}
	for name, st := range bad {
		err := st.Query(t.Context(), db, f.Admin, 0, pageOfNames{Limit: 5}, func(tenancy.Rows) error { return nil })
		if err == nil {
			t.Errorf("%s: the statement ran", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// A Statement's arguments are a struct of values bound as they are.
func TestStatementArgumentsAreBoundAsTheyAre(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("a Statement with a float argument was declared")
		}
	}()
	tenancy.NewStatement(func(tx *gorm.DB, s tenancy.Scope, _ int, a struct{ Ratio float64 }) *gorm.DB { return tx })
}

// videoNames reads a table whose changes are no news to kept answers.
var videoNames = tenancy.NewKept(func(tx *gorm.DB, s tenancy.Scope, _ struct{}, a pageOfNames) *gorm.DB {
	return s.Apply(tx.Table("indexes")).Joins("JOIN videos ON videos.index_id = indexes.id").
		Select("indexes.name").Limit(a.Limit).Offset(a.Offset)
}, func(rows tenancy.Rows) ([]string, error) {
	var names []string
	return names, namesFrom(rows, &names)
})

// A kept statement may read only tables whose every change is news to what
// is kept: PostgreSQL's plan of one that reads another (videos) fails it,
// rather than keep answers that no change to that table would forget.
func TestKeptStatementsReadOnlyTablesWithNews(t *testing.T) {
	t.Parallel()
	db := dbtest.Postgres(t)
	f := dbtest.NewOrgFixture(t, db)
	_, err := videoNames.Query(t.Context(), db, f.Admin, struct{}{}, pageOfNames{Limit: 10})
	if err == nil || !strings.Contains(err.Error(), "[videos]") {
		t.Fatalf("a kept statement reading videos: %v, want it refused for reading videos", err)
	}
}
