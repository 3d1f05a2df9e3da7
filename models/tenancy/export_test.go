package tenancy

import (
	"context"
	"database/sql"

	"gorm.io/gorm"
)

// RawInScope runs raw SQL inside the scope's unit of work, as a careless
// model function might.
func RawInScope(db *gorm.DB, s Scope, query string) error {
	var n int64
	return s.Read(context.Background(), db, func(tx *gorm.DB) error { return tx.Raw(query).Scan(&n).Error })
}

// ScopeCacheTables are the tables whose writes flush the scope cache.
func ScopeCacheTables() []string {
	var names []string
	for t := range scopeCacheTables {
		names = append(names, t)
	}
	return names
}

// QuietColumns says whether a change to table.column alone is no news.
func QuietColumns(table, column string) bool { return quietColumns[table][column] }

// PoolStats are the statistics of db's pool for requests and of the system
// door's (the same pool on SQLite).
func PoolStats(db *gorm.DB) (requests, door sql.DBStats) {
	app, _ := db.DB()
	owner := app
	if t := wallsOf(db); t != nil && t.owner != nil {
		owner, _ = t.owner.DB()
	}
	return app.Stats(), owner.Stats()
}
