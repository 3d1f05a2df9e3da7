package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// TestAPIListStatementsDoNotGrow: GET /v1.3/indexes makes as many SQL
// statements for an account of 20,000 indexes as for one of 1, and its
// total_results is exact at both (the maintained count, not a count of the
// rows): the rate-limit counter, the page with its total (and the key, on
// SQLite, which keeps no key cache).
func TestAPIListStatementsDoNotGrow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		got := map[int]int64{}
		most := int64(0)
		for _, n := range []int{1, 20_000} {
			u, _ := dbtest.User(t, db)
			org := dbtest.Org(t, db, u)
			seedIndexes(t, db, org, n)
			key := newKey(t, db, org)
			most = warmAPIKey(t, app, db, key)
			before := tenancy.QueryCount()
			r := apiCall(t, app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)
			got[n] = tenancy.QueryCount() - before
			if want := fmt.Sprintf(`"total_results":%d`, n); !strings.Contains(r.Body, want) {
				t.Errorf("an account of %d indexes: %s, want %s", n, r.Body[:min(len(r.Body), 300)], want)
			}
		}
		t.Logf("GET /v1.3/indexes statements by account size: %v", got)
		if got[1] != got[20_000] || got[20_000] > most {
			t.Errorf("GET /v1.3/indexes makes %v statements by account size, want the same at every size and at most %d", got, most)
		}
	})
}
