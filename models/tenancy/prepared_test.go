package tenancy_test

import (
	"database/sql"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// TestStatementsArePreparedOnce: a statement a request runs again is not
// prepared again. On SQLite, GORM's cache keeps it; on PostgreSQL, pgx
// keeps it on the connection, inside a scope's unit of work (row security
// settings and all), as pg_prepared_statements shows.
func TestStatementsArePreparedOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, personal := dbtest.User(t, db)
		read := func(tx *gorm.DB) error {
			var n int64
			return personal.Apply(tx.Model(&models.Index{})).Count(&n).Error
		}
		if tenancy.DialectOfDB(db) == tenancy.SQLite {
			cache, ok := db.ConnPool.(*gorm.PreparedStmtDB)
			if !ok {
				t.Fatalf("SQLite's pool is a %T, not GORM's prepared-statement cache", db.ConnPool)
			}
			dbtest.Must(t, personal.Read(t.Context(), db, read))
			keys := cache.Stmts.Keys()
			dbtest.Must(t, personal.Read(t.Context(), db, read))
			if after := cache.Stmts.Keys(); len(after) != len(keys) {
				t.Errorf("running a statement again prepared %d more", len(after)-len(keys))
			}
			found := false
			for _, k := range keys {
				found = found || strings.Contains(k, `FROM "indexes"`) || strings.Contains(k, "FROM `indexes`")
			}
			if !found {
				t.Errorf("the count is not among the prepared statements %v", keys)
			}
			return
		}
		dbtest.Must(t, personal.Read(t.Context(), db, func(tx *gorm.DB) error {
			if err := read(tx); err != nil {
				return err
			}
			var prepared []string
			if err := tx.Raw(`SELECT statement FROM pg_prepared_statements`).Scan(&prepared).Error; err != nil {
				return err
			}
			for _, p := range prepared {
				if strings.Contains(p, `FROM "indexes"`) {
					return nil
				}
			}
			t.Errorf("the count is not prepared on its connection: %v", prepared)
			return nil
		}))
	})
}

// TestWarmUpOpensEveryConnection: on PostgreSQL, WarmUp leaves both pools
// holding all the connections they may keep, idle, and requests then run
// on them without opening more; on SQLite it opens nothing.
func TestWarmUpOpensEveryConnection(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		beforeApp, beforeDoor := tenancy.PoolStats(db)
		tenancy.WarmUp(t.Context(), db)
		app, door := tenancy.PoolStats(db)
		if tenancy.DialectOfDB(db) == tenancy.SQLite {
			if app.OpenConnections != beforeApp.OpenConnections || door.OpenConnections != beforeDoor.OpenConnections {
				t.Errorf("WarmUp opened SQLite connections: %d → %d", beforeApp.OpenConnections, app.OpenConnections)
			}
			return
		}
		for name, s := range map[string]sql.DBStats{"requests": app, "system door": door} {
			if s.MaxOpenConnections < 2 || s.OpenConnections != s.MaxOpenConnections || s.Idle != s.MaxOpenConnections || s.InUse != 0 {
				t.Errorf("the %s pool after WarmUp: %d open, %d idle, %d in use; want all %d open and idle",
					name, s.OpenConnections, s.Idle, s.InUse, s.MaxOpenConnections)
			}
		}
		_, personal := dbtest.User(t, db)
		var n int64
		dbtest.Must(t, personal.Read(t.Context(), db, func(tx *gorm.DB) error {
			return personal.Apply(tx.Model(&models.Index{})).Count(&n).Error
		}))
		if after, _ := tenancy.PoolStats(db); after.OpenConnections != app.OpenConnections {
			t.Errorf("a read after WarmUp opened a connection: %d → %d open", app.OpenConnections, after.OpenConnections)
		}
	})
}
