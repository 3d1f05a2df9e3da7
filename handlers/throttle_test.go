package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models/dbtest"
)

// newClockedApp runs the router with the throttles on clock.
func newClockedApp(t *testing.T, db *gorm.DB, clock *manualClock) *testApp {
	t.Helper()
	return newApp(t, db, func(cfg *handlers.Config) { cfg.Clock = clock.Now })
}

func signInMessage(r *response) string {
	return strings.TrimSpace(r.doc().Find(`[data-testid="signin-error"]`).Text())
}

func wrongPassword(email string) url.Values {
	return url.Values{"email": {email}, "password": {"wrong password!"}}
}

func rightPassword(email string) url.Values {
	return url.Values{"email": {email}, "password": {dbtest.Password}}
}

// Two servers on one database count the same failures: five spread over
// both lock the pair on either.
func TestSignInThrottleIsSharedByServers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		one, two := newClockedApp(t, db, clock), newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		onOne, onTwo := one.client(), two.client()
		for i := range 5 {
			c := onOne
			if i%2 == 1 {
				c = onTwo
			}
			c.post("/signin", wrongPassword(u.Email)).status(http.StatusUnauthorized)
		}
		for _, c := range []*client{onOne, onTwo} {
			r := c.post("/signin", rightPassword(u.Email)).status(http.StatusTooManyRequests)
			if msg := signInMessage(r); !strings.Contains(msg, "Wait 10 minutes") {
				t.Fatalf("throttled sign-in says %q", msg)
			}
		}
		clock.Advance(10 * time.Minute)
		onTwo.post("/signin", rightPassword(u.Email)).redirectsTo("/")
	})
}

// An attacker failing from many addresses never keeps the owner out of a
// correct sign-in from theirs for more than a few seconds, and stays
// throttled themselves.
func TestAttackerElsewhereDoesNotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		var attackers []*client
		for i := range 4 {
			attackers = append(attackers, app.clientFrom(fmt.Sprintf("127.0.0.%d", 10+i)))
		}
		failed := 0
		for range 8 {
			for _, a := range attackers {
				if r := a.post("/signin", wrongPassword(u.Email)); r.Code == http.StatusUnauthorized {
					failed++
				} else {
					r.status(http.StatusTooManyRequests)
				}
			}
		}
		// The email's budget across addresses (10) ran out first.
		if failed != 10 {
			t.Fatalf("%d failures were let through, want 10", failed)
		}
		owner := app.clientFrom("127.0.0.99")
		r := owner.post("/signin", rightPassword(u.Email)).status(http.StatusTooManyRequests)
		if msg := signInMessage(r); !strings.Contains(msg, "Wait 3 seconds") {
			t.Fatalf("the owner is told %q, want a wait of 3 seconds", msg)
		}
		clock.Advance(3 * time.Second)
		owner.post("/signin", rightPassword(u.Email)).redirectsTo("/")
		owner.get("/").status(http.StatusOK)
		// Each of the attacker's addresses has 5 tries, then waits minutes.
		clock.Advance(time.Minute)
		attackers[0].post("/signin", wrongPassword(u.Email)).status(http.StatusUnauthorized)
		attackers[0].post("/signin", wrongPassword(u.Email)).status(http.StatusUnauthorized)
		r = attackers[0].post("/signin", wrongPassword(u.Email)).status(http.StatusTooManyRequests)
		if msg := signInMessage(r); !strings.Contains(msg, "minutes") {
			t.Fatalf("the attacker is told %q, want minutes", msg)
		}
	})
}

// One failure every 15 minutes, for days, never locks anyone out.
func TestSparseSignInFailuresNeverLock(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		app := newClockedApp(t, db, clock)
		u, _ := dbtest.User(t, db)
		c := app.client()
		for range 40 {
			c.post("/signin", wrongPassword(u.Email)).status(http.StatusUnauthorized)
			clock.Advance(15 * time.Minute)
		}
		c.post("/signin", rightPassword(u.Email)).redirectsTo("/")
	})
}

// Verification and reset links are throttled in the shared store too: a
// second server refuses what the first just sent.
func TestEmailedLinksAreThrottledAcrossServers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		clock := newManualClock()
		one, two := newClockedApp(t, db, clock), newClockedApp(t, db, clock)
		onOne := one.client()
		onOne.signUp("Ada Lovelace", "ada@example.com")
		onOne.post("/verify/resend", nil, "/").status(http.StatusSeeOther)
		onTwo := two.client()
		onTwo.signIn("ada@example.com")
		onTwo.post("/verify/resend", nil, "/").status(http.StatusSeeOther)
		onTwo.get("/").status(http.StatusOK).contains("Wait 1 minute before asking again")
		clock.Advance(time.Minute)
		onTwo.post("/verify/resend", nil, "/").status(http.StatusSeeOther)
		onTwo.get("/").status(http.StatusOK).contains("We sent a new verification link")

		u, _ := dbtest.User(t, db)
		resets := func(app *testApp) int {
			n := 0
			for _, m := range app.mail.Messages() {
				if m.To == u.Email && strings.Contains(m.Subject, "Reset") {
					n++
				}
			}
			return n
		}
		for i := range 5 {
			app := one
			if i%2 == 1 {
				app = two
			}
			app.client().post("/password/forgot", url.Values{"email": {u.Email}}).status(http.StatusOK).contains(`data-testid="reset-sent"`)
		}
		if n := resets(one) + resets(two); n != 3 {
			t.Fatalf("%d reset emails sent for 5 requests, want 3", n)
		}
	})
}
