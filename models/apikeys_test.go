package models_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
)

// secretShape is a key as handed out: the prefix, then URL-safe base64.
var secretShape = regexp.MustCompile(`^` + regexp.QuoteMeta(models.APIKeyPrefix) + `[A-Za-z0-9_-]+$`)

// wantKeyWorks fails unless the secret authenticates as the scope's user in
// the scope's account, with the scope's role, as key keyID.
func wantKeyWorks(t *testing.T, db *gorm.DB, secret string, want tenancy.Scope, keyID int64) tenancy.KeyScope {
	t.Helper()
	ks, err := models.ScopeForAPIKey(t.Context(), db, secret)
	if err != nil {
		t.Fatalf("key %.12s… refused: %v; want it to work", secret, err)
	}
	if ks.AccountID() != want.AccountID() || ks.UserID() != want.UserID() || ks.Role() != want.Role() || ks.KeyID != keyID {
		t.Fatalf("key %.12s… acts as account %d, user %d, role %s, key %d; want %d, %d, %s, %d",
			secret, ks.AccountID(), ks.UserID(), ks.Role(), ks.KeyID, want.AccountID(), want.UserID(), want.Role(), keyID)
	}
	if ks.Account().PublicID != want.Account().PublicID || ks.Account().Kind != want.Account().Kind {
		t.Fatalf("key's account %+v, want %+v", ks.Account(), want.Account())
	}
	return ks
}

// The key's scope carries every column of its account, set ones included:
// its limits decide the rate limit, its kind what the scope may do.
func TestScopeForAPIKeyReadsTheWholeAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		perMinute, perDay := int64(7), int64(70)
		_, err := ratelimit.SetAccountLimits(t.Context(), db, f.Admin.Account().PublicID, &perMinute, &perDay)
		dbtest.Must(t, err)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET sso_enforced = ?, plan = ? WHERE id = ?", true, tenancy.PlanDeveloper, f.Admin.AccountID()).Error)
		k := dbtest.NewAPIKey(t, db, f.Admin, "all columns")
		ks := wantKeyWorks(t, db, k.Secret, f.Admin, k.ID)
		// The whole row, as the dashboard reads it.
		fresh, err := tenancy.LoadScope(t.Context(), db, f.Admin.UserID(), f.Admin.Account().PublicID)
		dbtest.Must(t, err)
		if !reflect.DeepEqual(ks.Account(), fresh.Account()) {
			t.Fatalf("key's account %+v, want %+v", ks.Account(), fresh.Account())
		}
		a := ks.Account()
		if a.RatePerMinute == nil || *a.RatePerMinute != 7 || a.RatePerDay == nil || *a.RatePerDay != 70 || !a.SSOEnforced ||
			a.Plan != tenancy.PlanDeveloper || a.Slug == nil || a.CreatedByID == 0 || a.CreatedAt.IsZero() || a.UpdatedAt.IsZero() || a.Name == "" {
			t.Fatalf("key's account %+v lacks columns", a)
		}
	})
}

// wantKeyRefused fails unless the secret is refused with ErrAPIKeyInvalid.
func wantKeyRefused(t *testing.T, db *gorm.DB, secret string) {
	t.Helper()
	ks, err := models.ScopeForAPIKey(t.Context(), db, secret)
	if !errors.Is(err, models.ErrAPIKeyInvalid) {
		t.Fatalf("key %.12s…: scope %+v, error %v; want ErrAPIKeyInvalid", secret, ks, err)
	}
	if !ks.IsZero() {
		t.Fatalf("refused key still returned a scope: %+v", ks)
	}
}

// keyIDs are the public IDs of keys, in order.
func keyIDs(keys []models.APIKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.PublicID
	}
	return out
}

func listKeys(t *testing.T, db *gorm.DB, s tenancy.Scope) []models.APIKey {
	t.Helper()
	keys, err := models.ListAPIKeys(t.Context(), db, s)
	dbtest.Must(t, err)
	return keys
}

// rowText is every column of one row, as text, for searching a secret in it.
func rowText(t *testing.T, db *gorm.DB, query string, args ...any) map[string]string {
	t.Helper()
	rows, err := dbtest.Plain(t, db).Raw(query, args...).Rows()
	dbtest.Must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	dbtest.Must(t, err)
	if !rows.Next() {
		t.Fatalf("%s: no row", query)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	dbtest.Must(t, rows.Scan(ptrs...))
	out := map[string]string{}
	for i, c := range cols {
		switch v := vals[i].(type) {
		case []byte:
			out[c] = string(v)
		default:
			out[c] = fmt.Sprint(v)
		}
	}
	return out
}

func TestCreateAPIKeyStoresOnlyTheHash(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		user, s := dbtest.User(t, db)
		before := dbtest.UTC()
		k := dbtest.NewAPIKey(t, db, s, "  CI   pipeline ")
		after := dbtest.UTC()

		if !strings.HasPrefix(k.Secret, models.APIKeyPrefix) || !secretShape.MatchString(k.Secret) {
			t.Fatalf("secret %q: want %q followed by URL-safe base64", k.Secret, models.APIKeyPrefix)
		}
		// Each base64 character carries 6 bits: 128 bits need 22 of them.
		if random := len(k.Secret) - len(models.APIKeyPrefix); random*6 < 128 {
			t.Fatalf("secret %q has %d random characters (%d bits), want at least 128 bits", k.Secret, random, random*6)
		}
		if !strings.HasPrefix(k.Secret, k.Prefix) || len(k.Prefix) <= len(models.APIKeyPrefix) || len(k.Prefix) > 16 {
			t.Fatalf("prefix %q, want the first characters (a few past %q) of %q", k.Prefix, models.APIKeyPrefix, k.Secret)
		}
		if k.Name != "CI pipeline" || k.UserID != user.ID || k.AccountID != s.AccountID() {
			t.Errorf("key %+v: want name %q, user %d, account %d", k.APIKey, "CI pipeline", user.ID, s.AccountID())
		}
		if !objectID.MatchString(k.PublicID) {
			t.Errorf("public ID %q, want 24 lower-case hex characters", k.PublicID)
		}
		if k.CreatedAt.Before(before) || k.CreatedAt.After(after) || !k.ExpiresAt.Equal(k.CreatedAt.Add(models.DefaultAPIKeyTTL)) {
			t.Errorf("created %v, expires %v; want now and %v later", k.CreatedAt, k.ExpiresAt, models.DefaultAPIKeyTTL)
		}
		if k.Status() != models.KeyActive || k.LastUsedAt != nil || k.RevokedAt != nil {
			t.Errorf("new key: status %s, last used %v, revoked %v", k.Status(), k.LastUsedAt, k.RevokedAt)
		}

		// The row holds the hash, and the secret (or its part past the
		// stored prefix) in no column.
		row := rowText(t, db, "SELECT * FROM api_keys WHERE id = ?", k.ID)
		if row["key_hash"] != tenancy.HashToken(k.Secret) {
			t.Errorf("key_hash %q, want the SHA-256 of the secret", row["key_hash"])
		}
		hidden := k.Secret[len(k.Prefix):]
		for col, v := range row {
			if strings.Contains(v, k.Secret) || strings.Contains(v, hidden) {
				t.Errorf("column %s holds the secret: %q", col, v)
			}
		}
		var audit []string
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COALESCE(target, '') || ' ' || COALESCE(details, '') FROM audit_events").Scan(&audit).Error)
		for _, line := range audit {
			if strings.Contains(line, hidden) {
				t.Errorf("the audit log holds the secret: %q", line)
			}
		}

		// Another key has another secret, prefix and hash.
		k2 := dbtest.NewAPIKey(t, db, s, "CI pipeline")
		if k2.Secret == k.Secret || k2.KeyHash == k.KeyHash || k2.Prefix == k.Prefix || k2.PublicID == k.PublicID {
			t.Errorf("two keys share a secret, hash, prefix or ID: %+v, %+v", k.APIKey, k2.APIKey)
		}
		wantKeyWorks(t, db, k.Secret, s, k.ID)
		wantKeyWorks(t, db, k2.Secret, s, k2.ID)
	})
}

func TestCreateAPIKeyValidatesTheName(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		for _, name := range []string{
			"",
			"   \t\n ",
			strings.Repeat("k", 101),
			strings.Repeat("é", 101),
			"null\x00byte",
			"escape\x1b[31m",
			"bell\a",
			"del\x7f",
			"bad utf-8 \xff",
		} {
			_, err := models.CreateAPIKey(t.Context(), db, s, name, models.DefaultAPIKeyTTL)
			dbtest.WantFields(t, err, "name")
		}
		if n := dbtest.CountRows(t, db, "api_keys", ""); n != 0 {
			t.Fatalf("%d keys written by refused creations", n)
		}
		// 100 characters (not bytes) are fine.
		k := dbtest.NewAPIKey(t, db, s, strings.Repeat("é", 100))
		if k.Name != strings.Repeat("é", 100) {
			t.Errorf("name %q", k.Name)
		}
	})
}

func TestAPIKeysNeedAScope(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		var zero tenancy.Scope
		_, err := models.CreateAPIKey(t.Context(), db, zero, "x", models.DefaultAPIKeyTTL)
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		_, err = models.ListAPIKeys(t.Context(), db, zero)
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		_, err = models.RegenerateAPIKey(t.Context(), db, zero, "x", models.DefaultAPIKeyTTL)
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		_, err = models.RevokeAPIKey(t.Context(), db, zero, "x")
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
	})
}

func TestListAPIKeysShowsOnlyOwnKeysInTheAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		adminOrg1 := dbtest.NewAPIKey(t, db, f.Admin, "admin org 1")
		adminPersonal := dbtest.NewAPIKey(t, db, f.AdminPersonal, "admin personal")
		memberOrg := dbtest.NewAPIKey(t, db, f.Member, "member org")
		adminOrg2 := dbtest.NewAPIKey(t, db, f.Admin, "admin org 2")
		dbtest.NewAPIKey(t, db, f.Other, "another organization")
		dbtest.NewAPIKey(t, db, f.OtherPersonal, "another personal account")

		// Newest first; administrators do not see their members' keys.
		if got, want := keyIDs(listKeys(t, db, f.Admin)), []string{adminOrg2.PublicID, adminOrg1.PublicID}; !slices.Equal(got, want) {
			t.Errorf("admin in the organization lists %v, want %v", got, want)
		}
		if got, want := keyIDs(listKeys(t, db, f.AdminPersonal)), []string{adminPersonal.PublicID}; !slices.Equal(got, want) {
			t.Errorf("admin in their personal account lists %v, want %v", got, want)
		}
		if got, want := keyIDs(listKeys(t, db, f.Member)), []string{memberOrg.PublicID}; !slices.Equal(got, want) {
			t.Errorf("member lists %v, want %v", got, want)
		}
		if got := listKeys(t, db, f.Member2); len(got) != 0 {
			t.Errorf("member without keys lists %v", keyIDs(got))
		}
		for _, k := range listKeys(t, db, f.Admin) {
			if k.AccountID != f.Admin.AccountID() || k.UserID != f.AdminUser.ID || k.Status() != models.KeyActive {
				t.Errorf("listed key %+v", k)
			}
		}
	})
}

func TestRegenerateAPIKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		old := dbtest.NewAPIKey(t, db, f.Member, "deploy")
		// Used, and close to expiry.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE api_keys SET last_used_at = ?, expires_at = ? WHERE id = ?",
			dbtest.UTC().Add(-time.Hour), dbtest.UTC().Add(time.Hour), old.ID).Error)
		wantKeyWorks(t, db, old.Secret, f.Member, old.ID)

		before := dbtest.UTC()
		fresh, err := models.RegenerateAPIKey(t.Context(), db, f.Member, old.PublicID, 30*24*time.Hour)
		dbtest.Must(t, err)
		if fresh.Secret == old.Secret || !secretShape.MatchString(fresh.Secret) || !strings.HasPrefix(fresh.Secret, fresh.Prefix) {
			t.Fatalf("regenerated secret %q (prefix %q), old %q", fresh.Secret, fresh.Prefix, old.Secret)
		}
		if fresh.PublicID != old.PublicID || fresh.ID != old.ID || fresh.Name != old.Name {
			t.Errorf("regenerated key %+v is not the same key as %+v", fresh.APIKey, old.APIKey)
		}
		row := dbtest.RawAPIKey(t, db, old.ID)
		if row.KeyHash == old.KeyHash || row.KeyHash != tenancy.HashToken(fresh.Secret) || row.Prefix != fresh.Prefix {
			t.Errorf("stored hash %s prefix %s; want the new secret's", row.KeyHash, row.Prefix)
		}
		if row.ExpiresAt.Before(before.Add(30*24*time.Hour)) || row.LastUsedAt != nil || row.RevokedAt != nil {
			t.Errorf("after regenerating: expires %v, last used %v, revoked %v; want a full new term, unused", row.ExpiresAt, row.LastUsedAt, row.RevokedAt)
		}
		wantKeyRefused(t, db, old.Secret)
		wantKeyWorks(t, db, fresh.Secret, f.Member, old.ID)
		if n := dbtest.CountRows(t, db, "api_keys", ""); n != 1 {
			t.Errorf("%d key rows, want 1", n)
		}

		// A revoked key cannot be brought back.
		_, err = models.RevokeAPIKey(t.Context(), db, f.Member, old.PublicID)
		dbtest.Must(t, err)
		_, err = models.RegenerateAPIKey(t.Context(), db, f.Member, old.PublicID, models.DefaultAPIKeyTTL)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		wantKeyRefused(t, db, fresh.Secret)
		if dbtest.RawAPIKey(t, db, old.ID).KeyHash != tenancy.HashToken(fresh.Secret) {
			t.Error("a refused regeneration changed the hash")
		}
	})
}

func TestRevokeAPIKeyIsRefusedOnTheNextRequest(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		k := dbtest.NewAPIKey(t, db, f.Admin, "revoke me")
		keep := dbtest.NewAPIKey(t, db, f.Admin, "keep me")
		wantKeyWorks(t, db, k.Secret, f.Admin, k.ID)

		revoked, err := models.RevokeAPIKey(t.Context(), db, f.Admin, k.PublicID)
		dbtest.Must(t, err)
		if revoked.PublicID != k.PublicID {
			t.Errorf("revoked %s, want %s", revoked.PublicID, k.PublicID)
		}
		wantKeyRefused(t, db, k.Secret)
		wantKeyWorks(t, db, keep.Secret, f.Admin, keep.ID)
		if row := dbtest.RawAPIKey(t, db, k.ID); row.RevokedAt == nil || row.Status() != models.KeyRevoked {
			t.Errorf("stored key: revoked %v, status %s", row.RevokedAt, row.Status())
		}
		for _, l := range listKeys(t, db, f.Admin) {
			want := models.KeyActive
			if l.ID == k.ID {
				want = models.KeyRevoked
			}
			if l.Status() != want {
				t.Errorf("listed %q as %s, want %s", l.Name, l.Status(), want)
			}
		}
		_, err = models.RevokeAPIKey(t.Context(), db, f.Admin, k.PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = models.RevokeAPIKey(t.Context(), db, f.Admin, "000000000000000000000000")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
	})
}

func TestAnotherMembersKeyIsNotFound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		memberKey := dbtest.NewAPIKey(t, db, f.Member, "member's")
		adminPersonalKey := dbtest.NewAPIKey(t, db, f.AdminPersonal, "admin's personal")
		otherKey := dbtest.NewAPIKey(t, db, f.Other, "another organization's")

		tries := []struct {
			who tenancy.Scope
			key models.NewAPIKey
		}{
			{f.Admin, memberKey},         // an administrator, same organization
			{f.Member2, memberKey},       // another member
			{f.Admin, adminPersonalKey},  // the same user, another account
			{f.AdminPersonal, memberKey}, // another account
			{f.Admin, otherKey},          // another organization
		}
		for _, try := range tries {
			_, err := models.RegenerateAPIKey(t.Context(), db, try.who, try.key.PublicID, models.DefaultAPIKeyTTL)
			dbtest.WantIs(t, err, tenancy.ErrNotFound)
			_, err = models.RevokeAPIKey(t.Context(), db, try.who, try.key.PublicID)
			dbtest.WantIs(t, err, tenancy.ErrNotFound)
		}
		for _, k := range []models.NewAPIKey{memberKey, adminPersonalKey, otherKey} {
			row := dbtest.RawAPIKey(t, db, k.ID)
			if row.RevokedAt != nil || row.KeyHash != k.KeyHash {
				t.Errorf("%q was changed by someone else: %+v", k.Name, row)
			}
		}
		wantKeyWorks(t, db, memberKey.Secret, f.Member, memberKey.ID)
		wantKeyWorks(t, db, adminPersonalKey.Secret, f.AdminPersonal, adminPersonalKey.ID)
	})
}

func TestExpiredAPIKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		k := dbtest.NewAPIKey(t, db, s, "old")
		fresh := dbtest.NewAPIKey(t, db, s, "fresh")
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE api_keys SET expires_at = ? WHERE id = ?", dbtest.UTC().Add(-time.Second), k.ID).Error)

		wantKeyRefused(t, db, k.Secret)
		wantKeyWorks(t, db, fresh.Secret, s, fresh.ID)
		for _, l := range listKeys(t, db, s) {
			want := models.KeyActive
			if l.ID == k.ID {
				want = models.KeyExpired
			}
			if l.Status() != want {
				t.Errorf("listed %q as %s, want %s", l.Name, l.Status(), want)
			}
		}

		// A key created with a lifetime of zero is expired at once.
		z, err := models.CreateAPIKey(t.Context(), db, s, "zero", 0)
		dbtest.Must(t, err)
		if z.Status() != models.KeyExpired {
			t.Errorf("zero-lifetime key is %s", z.Status())
		}
		wantKeyRefused(t, db, z.Secret)
	})
}

func TestScopeForAPIKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		adminKey := dbtest.NewAPIKey(t, db, f.Admin, "admin")
		memberKey := dbtest.NewAPIKey(t, db, f.Member, "member")
		personalKey := dbtest.NewAPIKey(t, db, f.AdminPersonal, "personal")

		before := tenancy.QueryCount()
		wantKeyWorks(t, db, adminKey.Secret, f.Admin, adminKey.ID)
		if n := tenancy.QueryCount() - before; n != 1 {
			t.Errorf("authenticating a key took %d queries, want 1", n)
		}
		ks := wantKeyWorks(t, db, memberKey.Secret, f.Member, memberKey.ID)
		if ks.Role() != tenancy.RoleMember || !ks.IsOrganization() {
			t.Errorf("member key: role %s, organization %v", ks.Role(), ks.IsOrganization())
		}
		ks = wantKeyWorks(t, db, personalKey.Secret, f.AdminPersonal, personalKey.ID)
		if !ks.IsPersonal() || ks.Role() != tenancy.RoleAdmin {
			t.Errorf("personal key: personal %v, role %s", ks.IsPersonal(), ks.Role())
		}
	})
}

func TestScopeForAPIKeyReadsTheRoleAtEachRequest(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		k := dbtest.NewAPIKey(t, db, f.Member, "member")
		_, err := models.ChangeRole(t.Context(), db, f.Admin, f.MemberUser.PublicID, tenancy.RoleAdmin, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		ks, err := models.ScopeForAPIKey(t.Context(), db, k.Secret)
		dbtest.Must(t, err)
		if ks.Role() != tenancy.RoleAdmin {
			t.Errorf("after promotion the key acts as %s, want admin", ks.Role())
		}
	})
}

func TestScopeForAPIKeyRefusesAFormerMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		k := dbtest.NewAPIKey(t, db, f.Member, "member")
		personal := dbtest.NewAPIKey(t, db, dbtestPersonal(t, db, f.MemberUser), "personal")
		wantKeyWorks(t, db, k.Secret, f.Member, k.ID)

		// The membership goes without the key being revoked (as if some
		// other code path removed it): the key must stop anyway.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM memberships WHERE account_id = ? AND user_id = ?", f.Member.AccountID(), f.MemberUser.ID).Error)
		if dbtest.RawAPIKey(t, db, k.ID).RevokedAt != nil {
			t.Fatal("the raw delete revoked the key; the test proves nothing")
		}
		wantKeyRefused(t, db, k.Secret)
		if _, err := models.ScopeForAPIKey(t.Context(), db, personal.Secret); err != nil {
			t.Errorf("their personal key is refused: %v", err)
		}
	})
}

// dbtestPersonal is the user's personal scope.
func dbtestPersonal(t *testing.T, db *gorm.DB, u models.User) tenancy.Scope {
	t.Helper()
	s, err := tenancy.PersonalScope(t.Context(), db, u.ID)
	dbtest.Must(t, err)
	return s
}

// departureFixture is a member with keys in an organization, in their
// personal account and in a second organization, next to the keys of the
// organization's administrators.
type departureFixture struct {
	dbtest.OrgFixture
	memberKeys      []models.NewAPIKey // in the organization
	memberElsewhere []models.NewAPIKey // personal account and another organization
	adminKey        models.NewAPIKey   // the first administrator's, in the organization
	admin2Key       models.NewAPIKey   // member2, promoted, in the organization
	secondOrg       tenancy.Scope      // member's scope in another organization
}

func newDepartureFixture(t *testing.T, db *gorm.DB) departureFixture {
	t.Helper()
	f := departureFixture{OrgFixture: dbtest.NewOrgFixture(t, db)}
	_, err := models.ChangeRole(t.Context(), db, f.Admin, f.Member2User.PublicID, tenancy.RoleAdmin, dbtest.ActorOf(f.AdminUser))
	dbtest.Must(t, err)
	f.Member2, err = tenancy.LoadScope(t.Context(), db, f.Member2User.ID, f.Admin.Account().PublicID)
	dbtest.Must(t, err)
	f.secondOrg = dbtest.AddMember(t, db, f.Other, f.MemberUser, tenancy.RoleMember)
	f.memberKeys = []models.NewAPIKey{dbtest.NewAPIKey(t, db, f.Member, "one"), dbtest.NewAPIKey(t, db, f.Member, "two")}
	f.memberElsewhere = []models.NewAPIKey{
		dbtest.NewAPIKey(t, db, dbtestPersonal(t, db, f.MemberUser), "personal"),
		dbtest.NewAPIKey(t, db, f.secondOrg, "second org"),
	}
	f.adminKey = dbtest.NewAPIKey(t, db, f.Admin, "admin")
	f.admin2Key = dbtest.NewAPIKey(t, db, f.Member2, "admin 2")
	return f
}

// wantMemberKeysRevoked fails unless the member's organization keys are
// refused and their keys elsewhere still work.
func (f departureFixture) wantMemberKeysRevoked(t *testing.T, db *gorm.DB) {
	t.Helper()
	for _, k := range f.memberKeys {
		wantKeyRefused(t, db, k.Secret)
	}
	wantKeyWorks(t, db, f.memberElsewhere[0].Secret, dbtestPersonal(t, db, f.MemberUser), f.memberElsewhere[0].ID)
	wantKeyWorks(t, db, f.memberElsewhere[1].Secret, f.secondOrg, f.memberElsewhere[1].ID)
	for _, k := range f.memberElsewhere {
		if dbtest.RawAPIKey(t, db, k.ID).RevokedAt != nil {
			t.Errorf("key %q of another account was revoked", k.Name)
		}
	}
}

func TestRemoveMemberRevokesTheirKeys(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newDepartureFixture(t, db)
		_, err := models.RemoveMember(t.Context(), db, f.Admin, f.MemberUser.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
		f.wantMemberKeysRevoked(t, db)
		for _, k := range f.memberKeys {
			if dbtest.RawAPIKey(t, db, k.ID).RevokedAt == nil {
				t.Errorf("key %q: revoked_at not set", k.Name)
			}
		}
		wantKeyWorks(t, db, f.adminKey.Secret, f.Admin, f.adminKey.ID)
		wantKeyWorks(t, db, f.admin2Key.Secret, f.Member2, f.admin2Key.ID)
		// Rejoining does not bring the keys back.
		dbtest.AddMember(t, db, f.Admin, f.MemberUser, tenancy.RoleMember)
		for _, k := range f.memberKeys {
			wantKeyRefused(t, db, k.Secret)
		}
	})
}

func TestLeaveOrganizationRevokesTheirKeys(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newDepartureFixture(t, db)
		dbtest.Must(t, models.LeaveOrganization(t.Context(), db, f.Member, dbtest.ActorOf(f.MemberUser)))
		f.wantMemberKeysRevoked(t, db)
		wantKeyWorks(t, db, f.adminKey.Secret, f.Admin, f.adminKey.ID)

		// An administrator leaving loses theirs too; the last one cannot
		// leave and keeps them.
		dbtest.Must(t, models.LeaveOrganization(t.Context(), db, f.Member2, dbtest.ActorOf(f.Member2User)))
		wantKeyRefused(t, db, f.admin2Key.Secret)
		dbtest.WantIs(t, models.LeaveOrganization(t.Context(), db, f.Admin, dbtest.ActorOf(f.AdminUser)), models.ErrLastAdmin)
		wantKeyWorks(t, db, f.adminKey.Secret, f.Admin, f.adminKey.ID)
	})
}

func TestDeleteOrganizationRevokesEveryKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newDepartureFixture(t, db)
		adminPersonal := dbtest.NewAPIKey(t, db, f.AdminPersonal, "admin personal")
		dbtest.Must(t, models.DeleteOrganization(t.Context(), db, f.Admin, f.Admin.Account().Name, dbtest.ActorOf(f.AdminUser)))
		f.wantMemberKeysRevoked(t, db)
		wantKeyRefused(t, db, f.adminKey.Secret)
		wantKeyRefused(t, db, f.admin2Key.Secret)
		wantKeyWorks(t, db, adminPersonal.Secret, f.AdminPersonal, adminPersonal.ID)
		if n := dbtest.CountRows(t, db, "api_keys", "account_id = ? AND revoked_at IS NULL", f.Admin.AccountID()); n != 0 {
			t.Errorf("%d live keys left in the deleted organization", n)
		}
	})
}

// A departure that fails after the keys were revoked revokes nothing: the
// revocation is part of the departure's transaction.
func TestDepartureRevocationIsInTheSameTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newDepartureFixture(t, db)
		wantKept := func(t *testing.T, keys ...models.NewAPIKey) {
			t.Helper()
			for _, k := range keys {
				if row := dbtest.RawAPIKey(t, db, k.ID); row.RevokedAt != nil {
					t.Errorf("key %q revoked by a departure that failed", k.Name)
				}
			}
		}

		t.Run("remove", func(t *testing.T) {
			dbtest.FailOn(t, db, "INSERT", "audit_events")
			_, err := models.RemoveMember(t.Context(), db, f.Admin, f.MemberUser.PublicID, dbtest.ActorOf(f.AdminUser))
			if err == nil {
				t.Fatal("RemoveMember succeeded although its audit event could not be written")
			}
			wantKept(t, f.memberKeys...)
			if membershipRole(t, db, f.Member.AccountID(), f.MemberUser.ID) == "" {
				t.Error("the membership is gone")
			}
		})
		t.Run("leave", func(t *testing.T) {
			dbtest.FailOn(t, db, "INSERT", "audit_events")
			if err := models.LeaveOrganization(t.Context(), db, f.Member, dbtest.ActorOf(f.MemberUser)); err == nil {
				t.Fatal("LeaveOrganization succeeded although its audit event could not be written")
			}
			wantKept(t, f.memberKeys...)
		})
		t.Run("delete", func(t *testing.T) {
			dbtest.FailOn(t, db, "DELETE", "accounts")
			if err := models.DeleteOrganization(t.Context(), db, f.Admin, f.Admin.Account().Name, dbtest.ActorOf(f.AdminUser)); err == nil {
				t.Fatal("DeleteOrganization succeeded although the account could not be deleted")
			}
			wantKept(t, append(f.memberKeys, f.adminKey, f.admin2Key)...)
		})
		for _, k := range f.memberKeys {
			wantKeyWorks(t, db, k.Secret, f.Member, k.ID)
		}
	})
}

func TestScopeForAPIKeyRefusesJunk(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		_, s := dbtest.User(t, db)
		k := dbtest.NewAPIKey(t, db, s, "real")
		for _, secret := range []string{
			"",
			"x",
			models.APIKeyPrefix,
			strings.TrimPrefix(k.Secret, models.APIKeyPrefix), // without the prefix
			"Bearer " + k.Secret,
			k.Secret + " ",
			k.Secret[:len(k.Secret)-1],
			strings.ToUpper(k.Secret),
			k.Prefix,
			k.KeyHash,
			models.APIKeyPrefix + k.KeyHash,
			strings.Repeat("a", 10*1024),
			models.APIKeyPrefix + strings.Repeat("a", 10*1024),
			models.APIKeyPrefix + "\x00\xff' OR 1=1 --",
		} {
			ks, err := models.ScopeForAPIKey(t.Context(), db, secret)
			if err != models.ErrAPIKeyInvalid { // exactly the sentinel, not a wrapped database error
				t.Errorf("secret %.40q: scope %+v, error %v; want exactly ErrAPIKeyInvalid", secret, ks, err)
			}
		}
		wantKeyWorks(t, db, k.Secret, s, k.ID)
	})
}

// apiIndexFixture is an organization's indexes with known dates, models and
// names, next to indexes nobody in the test may list.
type apiIndexFixture struct {
	dbtest.OrgFixture
	shared       []models.Index // the admin sees these: account-wide and their own private ones
	memberSecret models.Index   // member's private index
	day1, day2   time.Time
}

func newAPIIndexFixture(t *testing.T, db *gorm.DB) apiIndexFixture {
	t.Helper()
	f := apiIndexFixture{OrgFixture: dbtest.NewOrgFixture(t, db)}
	f.day1 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	f.day2 = time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	specs := []struct {
		name             string
		marengo, pegasus []string
		visibility       string
		created, updated time.Time
	}{
		{"Alpha", []string{"visual"}, nil, "", f.day1.Add(1 * time.Hour), f.day2.Add(5 * time.Hour)},
		{"beta clips", []string{"visual", "audio"}, nil, "", f.day1.Add(2 * time.Hour), f.day2.Add(1 * time.Hour)},
		{"Gamma", nil, []string{"visual"}, "", f.day1.Add(3 * time.Hour), f.day2.Add(7 * time.Hour)},
		{"Delta clips", []string{"audio"}, []string{"visual", "audio"}, "", f.day2.Add(1 * time.Hour), f.day2.Add(3 * time.Hour)},
		{"100% real", nil, []string{"audio"}, "", f.day2.Add(2 * time.Hour), f.day2.Add(2 * time.Hour)},
		{"a_b", []string{"visual"}, nil, "", f.day2.Add(3 * time.Hour), f.day2.Add(6 * time.Hour)},
		{"admin private", []string{"visual"}, nil, "private", f.day2.Add(4 * time.Hour), f.day2.Add(4 * time.Hour)},
	}
	for _, sp := range specs {
		in := models.IndexInput{Name: sp.name, MarengoOptions: sp.marengo, PegasusOptions: sp.pegasus, Visibility: sp.visibility}
		if sp.marengo != nil {
			in.Models = append(in.Models, models.ModelMarengo)
		}
		if sp.pegasus != nil {
			in.Models = append(in.Models, models.ModelPegasus)
		}
		idx, err := models.CreateIndex(t.Context(), db, f.Admin, in)
		dbtest.Must(t, err)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE indexes SET created_at = ?, updated_at = ? WHERE id = ?", sp.created, sp.updated, idx.ID).Error)
		f.shared = append(f.shared, dbtest.RawIndex(t, db, idx.ID))
	}
	f.memberSecret = dbtest.NewIndex(t, db, f.Member, "member private clips", "private")
	dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE indexes SET created_at = ?, updated_at = ? WHERE id = ?", f.day1, f.day1, f.memberSecret.ID).Error)
	dbtest.NewIndex(t, db, f.Other, "Alpha other org", "")
	dbtest.NewIndex(t, db, f.OtherPersonal, "beta clips", "")
	return f
}

// names is the indexes' names in order.
func names(idxs []models.Index) []string {
	out := make([]string, len(idxs))
	for i, idx := range idxs {
		out[i] = idx.Name
	}
	return out
}

func listForAPI(t *testing.T, db *gorm.DB, s tenancy.Scope, q models.APIIndexQuery) ([]string, int64) {
	t.Helper()
	if q.Page == 0 {
		q.Page = 1
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	rows, total, err := models.ListIndexesForAPI(t.Context(), db, s, q)
	dbtest.Must(t, err)
	for _, r := range rows {
		if r.AccountID != s.AccountID() {
			t.Errorf("listed index %q of account %d in account %d", r.Name, r.AccountID, s.AccountID())
		}
	}
	return names(rows), total
}

func TestListIndexesForAPI(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newAPIIndexFixture(t, db)
		newestFirst := []string{"admin private", "a_b", "100% real", "Delta clips", "Gamma", "beta clips", "Alpha"}
		check := func(t *testing.T, s tenancy.Scope, q models.APIIndexQuery, want []string, wantTotal int64) {
			t.Helper()
			got, total := listForAPI(t, db, s, q)
			if !slices.Equal(got, want) || total != wantTotal {
				t.Errorf("%+v: got %q (total %d), want %q (total %d)", q, got, total, want, wantTotal)
			}
		}

		t.Run("sort", func(t *testing.T) {
			check(t, f.Admin, models.APIIndexQuery{}, newestFirst, 7)
			check(t, f.Admin, models.APIIndexQuery{SortBy: "created_at"}, newestFirst, 7)
			check(t, f.Admin, models.APIIndexQuery{SortBy: "created_at", Ascending: true}, reversed(newestFirst), 7)
			byUpdate := []string{"Gamma", "a_b", "Alpha", "admin private", "Delta clips", "100% real", "beta clips"}
			check(t, f.Admin, models.APIIndexQuery{SortBy: "updated_at"}, byUpdate, 7)
			check(t, f.Admin, models.APIIndexQuery{SortBy: "updated_at", Ascending: true}, reversed(byUpdate), 7)
		})
		t.Run("pages", func(t *testing.T) {
			check(t, f.Admin, models.APIIndexQuery{Page: 1, Limit: 3}, newestFirst[0:3], 7)
			check(t, f.Admin, models.APIIndexQuery{Page: 2, Limit: 3}, newestFirst[3:6], 7)
			check(t, f.Admin, models.APIIndexQuery{Page: 3, Limit: 3}, newestFirst[6:], 7)
			check(t, f.Admin, models.APIIndexQuery{Page: 4, Limit: 3}, []string{}, 7)
			check(t, f.Admin, models.APIIndexQuery{Page: 1000, Limit: 50}, []string{}, 7)
			// So far past the end that the offset does not fit in an int.
			check(t, f.Admin, models.APIIndexQuery{Page: math.MaxInt, Limit: 50}, []string{}, 7)
			check(t, f.Admin, models.APIIndexQuery{Page: 2, Limit: 2, SortBy: "created_at", Ascending: true}, []string{"Gamma", "Delta clips"}, 7)
			check(t, f.Admin, models.APIIndexQuery{Page: 9, Limit: 2, Name: "clips"}, []string{}, 2)
		})
		t.Run("name", func(t *testing.T) {
			check(t, f.Admin, models.APIIndexQuery{Name: "CLIPS"}, []string{"Delta clips", "beta clips"}, 2)
			check(t, f.Admin, models.APIIndexQuery{Name: "alpha"}, []string{"Alpha"}, 1)
			// LIKE's wildcards are matched literally.
			check(t, f.Admin, models.APIIndexQuery{Name: "%"}, []string{"100% real"}, 1)
			check(t, f.Admin, models.APIIndexQuery{Name: "_"}, []string{"a_b"}, 1)
			check(t, f.Admin, models.APIIndexQuery{Name: "nothing like it"}, []string{}, 0)
			// The member's private index matches for them only.
			check(t, f.Admin, models.APIIndexQuery{Name: "member private"}, []string{}, 0)
			check(t, f.Member, models.APIIndexQuery{Name: "private"}, []string{"member private clips"}, 1)
		})
		t.Run("models", func(t *testing.T) {
			check(t, f.Admin, models.APIIndexQuery{ModelFamily: models.ModelPegasus}, []string{"100% real", "Delta clips", "Gamma"}, 3)
			check(t, f.Admin, models.APIIndexQuery{ModelFamily: models.ModelMarengo},
				[]string{"admin private", "a_b", "Delta clips", "beta clips", "Alpha"}, 5)
			check(t, f.Admin, models.APIIndexQuery{ModelFamily: models.ModelMarengo, ModelOptions: []string{"audio"}},
				[]string{"Delta clips", "beta clips"}, 2)
			check(t, f.Admin, models.APIIndexQuery{ModelFamily: models.ModelMarengo, ModelOptions: []string{"visual", "audio"}},
				[]string{"beta clips"}, 1)
			check(t, f.Admin, models.APIIndexQuery{ModelFamily: models.ModelPegasus, ModelOptions: []string{"visual"}},
				[]string{"Delta clips", "Gamma"}, 2)
			// Options without a family: any model with them.
			check(t, f.Admin, models.APIIndexQuery{ModelOptions: []string{"audio"}},
				[]string{"100% real", "Delta clips", "beta clips"}, 3)
		})
		t.Run("created day", func(t *testing.T) {
			d1, d2 := f.day1, f.day2
			// A midnight keeps the whole UTC day.
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &d1}, []string{"Gamma", "beta clips", "Alpha"}, 3)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &d2}, newestFirst[:4], 4)
			d3 := d2.AddDate(0, 0, 1)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &d3}, []string{}, 0)
			check(t, f.Admin, models.APIIndexQuery{UpdatedAt: &d1}, []string{}, 0)
			check(t, f.Admin, models.APIIndexQuery{UpdatedAt: &d2, Name: "a"}, newestFirst, 7)
		})
		t.Run("created at or after a time of the day", func(t *testing.T) {
			// From the instant (inclusive) to the end of its UTC day.
			at := f.day1.Add(2 * time.Hour)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &at}, []string{"Gamma", "beta clips"}, 2)
			// Rows are stamped to the microsecond: a nanosecond later already
			// leaves out what was created at the instant, on both databases.
			justAfter := at.Add(time.Nanosecond)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &justAfter}, []string{"Gamma"}, 1)
			noon := f.day1.Add(12 * time.Hour)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &noon}, []string{}, 0)
			// The next day does not count, however late the time.
			late := f.day1.Add(23*time.Hour + 59*time.Minute)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &late}, []string{}, 0)
			// Another zone's time is the same instant.
			east := f.day2.Add(2 * time.Hour).In(time.FixedZone("UTC+9", 9*3600))
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &east}, []string{"admin private", "a_b", "100% real"}, 3)
			upd := f.day2.Add(5 * time.Hour)
			check(t, f.Admin, models.APIIndexQuery{UpdatedAt: &upd}, []string{"a_b", "Gamma", "Alpha"}, 3)
			check(t, f.Admin, models.APIIndexQuery{CreatedAt: &at, UpdatedAt: &upd}, []string{"Gamma"}, 1)
		})
		t.Run("visibility", func(t *testing.T) {
			// The member sees the shared indexes and their own private one,
			// not the administrator's.
			want := append([]string{}, newestFirst[1:]...)
			want = append(want, "member private clips")
			check(t, f.Member, models.APIIndexQuery{}, want, 7)
			check(t, f.Member2, models.APIIndexQuery{}, newestFirst[1:], 6)
			check(t, f.Other, models.APIIndexQuery{}, []string{"Alpha other org"}, 1)
			check(t, f.AdminPersonal, models.APIIndexQuery{}, []string{}, 0)
			_, _, err := models.ListIndexesForAPI(t.Context(), db, tenancy.Scope{}, models.APIIndexQuery{Page: 1, Limit: 10})
			dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		})
	})
}

func reversed(in []string) []string {
	out := slices.Clone(in)
	slices.Reverse(out)
	return out
}

func TestListVideosForAPI(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "videos", "")
		var titles []string
		for i := range 5 {
			v := dbtest.AddVideo(t, db, f.Member, idx.PublicID, fmt.Sprintf("clip %d", i), 10+i)
			dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE videos SET created_at = ?, updated_at = ? WHERE id = ?",
				time.Date(2024, 5, 1, i, 0, 0, 0, time.UTC), time.Date(2024, 5, 2, 4-i, 0, 0, 0, time.UTC), v.ID).Error)
			titles = append(titles, v.Title)
		}
		other := dbtest.NewIndex(t, db, f.Admin, "other", "")
		dbtest.AddVideo(t, db, f.Admin, other.PublicID, "clip elsewhere", 30)
		newest := reversed(titles)

		list := func(s tenancy.Scope, id string, q models.APIVideoQuery) ([]string, int64, error) {
			if q.Page == 0 {
				q.Page = 1
			}
			if q.Limit == 0 {
				q.Limit = 50
			}
			vs, total, err := models.ListVideosForAPI(t.Context(), db, s, id, q)
			out := []string{}
			for _, v := range vs {
				out = append(out, v.Title)
			}
			return out, total, err
		}
		check := func(q models.APIVideoQuery, want []string, wantTotal int64) {
			t.Helper()
			got, total, err := list(f.Member2, idx.PublicID, q)
			dbtest.Must(t, err)
			if !slices.Equal(got, want) || total != wantTotal {
				t.Errorf("%+v: got %q (total %d), want %q (total %d)", q, got, total, want, wantTotal)
			}
		}
		check(models.APIVideoQuery{}, newest, 5)
		check(models.APIVideoQuery{Limit: 2}, newest[:2], 5)
		check(models.APIVideoQuery{Page: 2, Limit: 2}, newest[2:4], 5)
		check(models.APIVideoQuery{Page: 3, Limit: 2}, newest[4:], 5)
		check(models.APIVideoQuery{Page: 4, Limit: 2}, []string{}, 5)
		check(models.APIVideoQuery{Page: math.MaxInt, Limit: 2}, []string{}, 5)
		check(models.APIVideoQuery{Ascending: true, Limit: 2}, titles[:2], 5)
		check(models.APIVideoQuery{SortBy: "updated_at"}, titles, 5)
		check(models.APIVideoQuery{Filename: "CLIP 3"}, []string{"clip 3"}, 1)
		check(models.APIVideoQuery{Filename: "%"}, []string{}, 0)

		secret := dbtest.NewIndex(t, db, f.Member, "secret", "private")
		for _, try := range []struct {
			s  tenancy.Scope
			id string
		}{
			{f.Member2, "000000000000000000000000"},
			{f.Other, idx.PublicID},            // another organization
			{f.AdminPersonal, idx.PublicID},    // the same user, another account
			{f.Admin, secret.PublicID},         // another member's private index
			{f.Member2, secret.PublicID},       //
			{f.Member2, idx.PublicID + "' --"}, // junk
		} {
			got, total, err := list(try.s, try.id, models.APIVideoQuery{})
			if !errors.Is(err, tenancy.ErrNotFound) || len(got) != 0 || total != 0 {
				t.Errorf("index %q as user %d in account %d: %q (%d), %v; want ErrNotFound",
					try.id, try.s.UserID(), try.s.AccountID(), got, total, err)
			}
		}
		_, _, err := list(tenancy.Scope{}, idx.PublicID, models.APIVideoQuery{})
		dbtest.WantIs(t, err, tenancy.ErrUnscoped)
		if got, _, err := list(f.Member, secret.PublicID, models.APIVideoQuery{}); err != nil || len(got) != 0 {
			t.Errorf("the creator lists their private index: %q, %v", got, err)
		}
	})
}
