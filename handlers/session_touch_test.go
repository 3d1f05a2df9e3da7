package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// A session idle for more than five minutes has its activity recorded by
// its next request, once: the server forgets its own copy of the session
// with the old time (recording use is no news to the scope cache), so the
// requests after it neither record it again nor sign anyone out.
func TestSessionActivityIsRecordedOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, _, c := app.user(t)
		c.get("/").status(http.StatusOK)
		lastSeen := func() time.Time {
			var at time.Time
			dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT last_seen_at FROM sessions WHERE user_id = ?", u.ID).Scan(&at).Error)
			return at
		}
		idle := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE sessions SET last_seen_at = ? WHERE user_id = ?", idle, u.ID).Error)
		tenancy.ForgetCachedScopesForTest(db) // the write above is no news

		c.get("/").status(http.StatusOK)
		touched := lastSeen()
		if !touched.After(idle.Add(9 * time.Minute)) {
			t.Fatalf("after a request, the session was last seen at %v, want about now", touched)
		}
		time.Sleep(20 * time.Millisecond)
		for range 3 {
			c.get("/").status(http.StatusOK)
		}
		if again := lastSeen(); !again.Equal(touched) {
			t.Errorf("the requests after the one that recorded activity recorded it again (%v, then %v)", touched, again)
		}
	})
}
