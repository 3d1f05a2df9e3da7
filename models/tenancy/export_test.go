package tenancy

import (
	"context"

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
