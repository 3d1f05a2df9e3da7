package throttle_test

import (
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// openTwice opens dsn as two separate pools, migrated once.
func openTwice(t *testing.T, dsn string) (*gorm.DB, *gorm.DB) {
	t.Helper()
	var dbs [2]*gorm.DB
	for i := range dbs {
		dbs[i] = dbtest.Open(t, dsn)
	}
	dbtest.Must(t, tenancy.Migrate(t.Context(), dbs[0]))
	return dbs[0], dbs[1]
}
