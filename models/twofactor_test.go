package models_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// RFC 6238 appendix B, SHA-1: the secret is the ASCII "12345678901234567890";
// six-digit codes are the last six digits of the eight-digit vectors.
func TestTOTPCodesMatchRFC6238(t *testing.T) {
	t.Parallel()
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	for unix, want := range map[int64]string{
		59: "287082", 1111111109: "081804", 1111111111: "050471",
		1234567890: "005924", 2000000000: "279037", 20000000000: "353130",
	} {
		got, err := models.TOTPCode(secret, time.Unix(unix, 0))
		if err != nil || got != want {
			t.Errorf("code at %d = %q (%v), want %q", unix, got, err, want)
		}
	}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := models.TOTPCode(secret, at)
	dbtest.Must(t, err)
	return c
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		u, _ := dbtest.User(t, db)
		at := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)

		first, err := models.PendingTOTP(ctx, db, box, u, "Switchboard")
		dbtest.Must(t, err)
		again, err := models.PendingTOTP(ctx, db, box, u, "Switchboard")
		dbtest.Must(t, err)
		if first.Secret != again.Secret || len(first.Secret) != 32 {
			t.Fatalf("the pending secret changed between pages or is not 160 bits: %q, %q", first.Secret, again.Secret)
		}
		if !strings.HasPrefix(first.URL, "otpauth://totp/") || !strings.Contains(first.URL, "secret="+first.Secret) {
			t.Fatalf("enrolment URL %q", first.URL)
		}
		// The secret is sealed at rest.
		if n := dbtest.CountRows(t, db, "totp_factors", "secret_sealed LIKE ?", "%"+first.Secret+"%"); n != 0 {
			t.Fatal("the TOTP secret is stored in the clear")
		}
		// A secret sealed for one user does not open for another.
		other, _ := dbtest.User(t, db)
		_, err = models.PendingTOTP(ctx, db, box, other, "Switchboard")
		dbtest.Must(t, err)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE totp_factors SET secret_sealed = (SELECT secret_sealed FROM totp_factors WHERE user_id = ?) WHERE user_id = ?", u.ID, other.ID).Error)
		moved, err := models.PendingTOTP(ctx, db, box, other, "Switchboard")
		dbtest.Must(t, err)
		if moved.Secret == first.Secret {
			t.Fatal("a sealed secret copied to another user's row opened there")
		}

		_, err = models.EnableTOTP(ctx, db, box, u.ID, "000000", at)
		dbtest.WantIs(t, err, models.ErrCodeInvalid)
		if on, _ := models.HasSecondFactor(ctx, db, u.ID); on {
			t.Fatal("a wrong code enabled TOTP")
		}
		codes, err := models.EnableTOTP(ctx, db, box, u.ID, code(t, first.Secret, at), at)
		dbtest.Must(t, err)
		if len(codes) != models.RecoveryCodeCount {
			t.Fatalf("%d recovery codes", len(codes))
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if seen[c] || len(c) != 11 || !strings.ContainsAny(c, "23456789") {
				t.Fatalf("recovery code %q is repeated or malformed", c)
			}
			seen[c] = true
			if n := dbtest.CountRows(t, db, "recovery_codes", "code_hash = ?", c); n != 0 {
				t.Fatal("a recovery code is stored in the clear")
			}
		}
		_, err = models.PendingTOTP(ctx, db, box, u, "Switchboard")
		dbtest.WantIs(t, err, models.ErrTOTPEnabled)
		st, err := models.SecondFactorStatusOf(ctx, db, u.ID)
		dbtest.Must(t, err)
		if !st.TOTP || st.RecoveryLeft != 10 {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestTOTPDriftAndReplay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		u, _ := dbtest.User(t, db)
		enrolled := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)
		secret, _ := dbtest.EnrolTOTP(t, db, box, u, enrolled)
		verify := func(c string, at time.Time) error {
			_, err := models.VerifySecondFactor(ctx, db, box, u.ID, c, at)
			return err
		}
		// The enrolment's own code is used up.
		dbtest.WantIs(t, verify(code(t, secret, enrolled), enrolled), models.ErrCodeInvalid)

		now := enrolled.Add(10 * time.Minute)
		// Two steps away is too far, either way.
		dbtest.WantIs(t, verify(code(t, secret, now.Add(-60*time.Second)), now), models.ErrCodeInvalid)
		dbtest.WantIs(t, verify(code(t, secret, now.Add(60*time.Second)), now), models.ErrCodeInvalid)
		// One step behind is accepted, once.
		behind := code(t, secret, now.Add(-30*time.Second))
		dbtest.Must(t, verify(behind, now))
		dbtest.WantIs(t, verify(behind, now), models.ErrCodeInvalid)
		// The current code, written with a space, is accepted once.
		cur := code(t, secret, now)
		dbtest.Must(t, verify(cur[:3]+" "+cur[3:], now))
		dbtest.WantIs(t, verify(cur, now), models.ErrCodeInvalid)
		// One step ahead is accepted; after it, the current step is spent.
		dbtest.Must(t, verify(code(t, secret, now.Add(30*time.Second)), now))
		dbtest.WantIs(t, verify(code(t, secret, now), now.Add(time.Second)), models.ErrCodeInvalid)
	})
}

// Ten requests racing with one code: exactly one passes.
func TestTOTPReplayRace(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		u, _ := dbtest.User(t, db)
		enrolled := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)
		secret, codes := dbtest.EnrolTOTP(t, db, box, u, enrolled)
		now := enrolled.Add(time.Hour)
		for _, c := range []string{code(t, secret, now), codes[3]} {
			var wg sync.WaitGroup
			var mu sync.Mutex
			passed := 0
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := models.VerifySecondFactor(ctx, db, box, u.ID, c, now)
					if err != nil && !errors.Is(err, models.ErrCodeInvalid) {
						t.Error(err)
					}
					if err == nil {
						mu.Lock()
						passed++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if passed != 1 {
				t.Fatalf("code %q passed %d times", c, passed)
			}
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		u, _ := dbtest.User(t, db)
		other, _ := dbtest.User(t, db)
		at := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)
		_, codes := dbtest.EnrolTOTP(t, db, box, u, at)
		_, otherCodes := dbtest.EnrolTOTP(t, db, box, other, at)

		// Someone else's recovery code is worth nothing here.
		_, err := models.VerifySecondFactor(ctx, db, box, u.ID, otherCodes[0], at)
		dbtest.WantIs(t, err, models.ErrCodeInvalid)
		// Once, upper-case or not, with or without the dash.
		used, err := models.VerifySecondFactor(ctx, db, box, u.ID, strings.ToUpper(strings.ReplaceAll(codes[0], "-", "")), at)
		dbtest.Must(t, err)
		if used != models.FactorRecovery {
			t.Fatalf("used %q", used)
		}
		_, err = models.VerifySecondFactor(ctx, db, box, u.ID, codes[0], at)
		dbtest.WantIs(t, err, models.ErrCodeInvalid)
		st, _ := models.SecondFactorStatusOf(ctx, db, u.ID)
		if st.RecoveryLeft != 9 {
			t.Fatalf("%d left", st.RecoveryLeft)
		}
		// New codes kill the old ones.
		fresh, err := models.RegenerateRecoveryCodes(ctx, db, u.ID)
		dbtest.Must(t, err)
		_, err = models.VerifySecondFactor(ctx, db, box, u.ID, codes[1], at)
		dbtest.WantIs(t, err, models.ErrCodeInvalid)
		_, err = models.VerifySecondFactor(ctx, db, box, u.ID, fresh[1], at)
		dbtest.Must(t, err)
		// A user without a second factor has none to regenerate.
		plain, _ := dbtest.User(t, db)
		_, err = models.RegenerateRecoveryCodes(ctx, db, plain.ID)
		dbtest.WantIs(t, err, models.ErrNoSecondFactor)
	})
}

func TestDisableTOTPNeedsPasswordAndCode(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		u, _ := dbtest.User(t, db)
		at := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)
		secret, _ := dbtest.EnrolTOTP(t, db, box, u, at)
		now := at.Add(time.Hour)
		dbtest.WantFields(t, models.DisableTOTP(ctx, db, box, u.ID, "wrong password", code(t, secret, now), now), "current_password")
		dbtest.WantFields(t, models.DisableTOTP(ctx, db, box, u.ID, dbtest.Password, "123456", now), "code")
		if on, _ := models.HasSecondFactor(ctx, db, u.ID); !on {
			t.Fatal("refused attempts turned TOTP off")
		}
		dbtest.Must(t, models.DisableTOTP(ctx, db, box, u.ID, dbtest.Password, code(t, secret, now), now))
		if on, _ := models.HasSecondFactor(ctx, db, u.ID); on {
			t.Fatal("TOTP is still on")
		}
		if n := dbtest.CountRows(t, db, "recovery_codes", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d recovery codes survived", n)
		}
	})
}

// The policy: the scope knows whether its user has a second factor, an
// API key of a member without one is refused, and a member who signed in
// through the organization's IdP passes.
func TestRequire2FAPolicy(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx, box := context.Background(), dbtest.SecretBox
		f := dbtest.NewOrgFixture(t, db)
		at := time.Date(2031, 3, 14, 15, 9, 0, 0, time.UTC)
		memberKey := dbtest.NewAPIKey(t, db, f.Member, "member")
		ssoKey := dbtest.NewAPIKey(t, db, f.Member2, "sso member")

		// An administrator without a second factor cannot turn it on.
		_, err := models.UpdateOrganization(ctx, db, f.Admin, f.Admin.Account().Name, true, tenancy.Actor{})
		dbtest.WantFields(t, err, "require_2fa")
		// A member may not at all.
		_, err = models.UpdateOrganization(ctx, db, f.Member, f.Admin.Account().Name, false, tenancy.Actor{})
		dbtest.WantIs(t, err, tenancy.ErrForbidden)

		dbtest.EnrolTOTP(t, db, box, f.AdminUser, at)
		admin, err := tenancy.ScopeForSession(ctx, db, f.AdminUser.ID, f.Admin.AccountID())
		dbtest.Must(t, err)
		before, err := models.MembersWithoutSecondFactor(ctx, db, admin)
		dbtest.Must(t, err)
		if before != 2 {
			t.Fatalf("%d members without a second factor, want 2", before)
		}
		_, err = models.UpdateOrganization(ctx, db, admin, admin.Account().Name, true, tenancy.Actor{Name: "Admin"})
		dbtest.Must(t, err)
		if n := dbtest.CountRows(t, db, "audit_events", "account_id = ? AND action = ?", admin.AccountID(), string(tenancy.AuditRequire2FAOn)); n != 1 {
			t.Fatalf("%d audit events", n)
		}

		member, err := tenancy.ScopeForSession(ctx, db, f.MemberUser.ID, f.Member.AccountID())
		dbtest.Must(t, err)
		if member.SecondFactorAdmits(0) || !member.SecondFactorAdmits(member.AccountID()) {
			t.Fatal("a member without a second factor is admitted by a password session, or refused by an SSO one")
		}
		admin, _ = tenancy.ScopeForSession(ctx, db, f.AdminUser.ID, f.Admin.AccountID())
		if !admin.SecondFactorAdmits(0) {
			t.Fatal("the administrator with a second factor is refused")
		}
		// The member's personal account knows no policy.
		personal, _ := tenancy.PersonalScope(ctx, db, f.MemberUser.ID)
		if !personal.SecondFactorAdmits(0) {
			t.Fatal("the policy reached a personal account")
		}

		_, err = models.ScopeForAPIKey(ctx, db, memberKey.Secret)
		dbtest.WantIs(t, err, models.ErrSecondFactorRequired)
		// Signing in through the organization's IdP counts.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE memberships SET sso_signed_in_at = ? WHERE account_id = ? AND user_id = ?", at, f.Admin.AccountID(), f.Member2User.ID).Error)
		_, err = models.ScopeForAPIKey(ctx, db, ssoKey.Secret)
		dbtest.Must(t, err)
		// Enrolling lets the key work again, at once.
		dbtest.EnrolTOTP(t, db, box, f.MemberUser, at)
		_, err = models.ScopeForAPIKey(ctx, db, memberKey.Secret)
		dbtest.Must(t, err)
	})
}

// One user's sessions cannot be listed or ended by another.
func TestRevokeSessionsOfTheUserOnly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		life := models.SessionLifetime{Idle: time.Hour, Absolute: 24 * time.Hour}
		a, as := dbtest.User(t, db)
		b, bs := dbtest.User(t, db)
		_, a1, err := models.CreateSession(ctx, db, a.ID, as.AccountID(), "192.0.2.1", "Firefox", life)
		dbtest.Must(t, err)
		_, a2, err := models.CreateSession(ctx, db, a.ID, as.AccountID(), "192.0.2.2", "Safari", life)
		dbtest.Must(t, err)
		_, b1, err := models.CreateSession(ctx, db, b.ID, bs.AccountID(), "192.0.2.3", "Edge", life)
		dbtest.Must(t, err)

		dbtest.WantIs(t, models.RevokeUserSession(ctx, db, a.ID, b1.ID), tenancy.ErrNotFound)
		list, err := models.ListUserSessions(ctx, db, b.ID, life)
		dbtest.Must(t, err)
		if len(list) != 1 || list[0].ID != b1.ID {
			t.Fatalf("b's sessions after a's attempt: %+v", list)
		}
		dbtest.Must(t, models.RevokeUserSession(ctx, db, a.ID, a2.ID))
		_, a3, err := models.CreateSession(ctx, db, a.ID, as.AccountID(), "192.0.2.4", "Chrome", life)
		dbtest.Must(t, err)
		n, err := models.RevokeOtherSessions(ctx, db, a.ID, a1.ID)
		dbtest.Must(t, err)
		list, _ = models.ListUserSessions(ctx, db, a.ID, life)
		if n != 1 || len(list) != 1 || list[0].ID != a1.ID || a3.ID == a1.ID {
			t.Fatalf("revoked %d, left %+v", n, list)
		}
		if list, _ := models.ListUserSessions(ctx, db, b.ID, life); len(list) != 1 {
			t.Fatal("revoking a's other sessions ended b's")
		}
	})
}
