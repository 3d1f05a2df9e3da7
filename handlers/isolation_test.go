package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/scim"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// resources are one account's resources, by the kind of ID a route takes.
type resources struct {
	label       string
	index       string
	video       string
	integration string
	member      string // a user's public ID: a member of the account other than the attacker
	invitation  string
	apiKey      string // the public ID of an API key of the account's owner
	invoice     string
	ssoTest     string // a connection test's request ID
	session     string // the ID of a session of the account's user
	passkey     string // the ID of a passkey of the account's user
	scimToken   string // the public ID of a SCIM token of the organization
	scimSecret  string // that token itself
	scimUser    string // a provisioned user's SCIM id
	scimGroup   string // a SCIM group's id
}

// seedResources gives a scope an index with a video and an integration.
func seedResources(t testing.TB, db *gorm.DB, label string, s tenancy.Scope, visibility string) resources {
	t.Helper()
	ctx := t.Context()
	idx, err := models.CreateIndex(ctx, db, s, models.IndexInput{Name: label + " index", Models: []string{"marengo"}, MarengoOptions: []string{"visual"}, Visibility: visibility})
	if err != nil {
		t.Fatal(err)
	}
	v, err := models.AddVideo(ctx, db, s, idx.PublicID, models.VideoInput{Title: label + " video", URL: "https://e.com/v.mp4", DurationSeconds: "60"})
	if err != nil {
		t.Fatal(err)
	}
	it, err := models.CreateIntegration(ctx, db, s, models.IntegrationInput{Name: label + " bucket", Bucket: "bucket-" + strings.ToLower(strings.ReplaceAll(label, " ", "-")),
		Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/r"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := models.CreateAPIKey(ctx, db, s, label+" key", models.DefaultAPIKeyTTL)
	if err != nil {
		t.Fatal(err)
	}
	seq := invoiceSeq.Add(1)
	invoice := fmt.Sprintf("%024x", seq)
	if err := dbtest.Plain(t, db).Exec(`INSERT INTO invoices (public_id, account_id, number, period, currency, total_minor, status, bill_to, created_at)
		VALUES (?, ?, ?, ?, 'USD', 4900, 'issued', ?, ?)`, invoice, s.AccountID(), "SB-TEST-"+invoice, fmt.Sprintf("2020-%02d", seq%12+1), label, time.Now()).Error; err != nil {
		t.Fatal(err)
	}
	ssoTest := fmt.Sprintf("id-test-%d", seq)
	uid := s.UserID()
	if err := sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, s), ssoTest, sso.SSOTest, &uid); err != nil {
		t.Fatal(err)
	}
	_, sess, err := models.CreateSession(ctx, db, s.UserID(), s.AccountID(), "192.0.2.1", "Firefox", handlers.DefaultSessionLifetime)
	if err != nil {
		t.Fatal(err)
	}
	_, pk := dbtest.RegisterPasskey(t, db, dbtest.PasskeyRP(t), storedUser(t, db, s.UserID()), label)
	r := resources{session: strconv.FormatInt(sess.ID, 10), passkey: strconv.FormatInt(pk.ID, 10), label: label, index: idx.PublicID, video: v.PublicID, integration: it.PublicID, member: missingID, invitation: missingID,
		apiKey: key.PublicID, invoice: invoice, ssoTest: ssoTest, scimToken: missingID, scimUser: missingID, scimGroup: missingID}
	if s.IsOrganization() && s.Role() == tenancy.RoleAdmin {
		m, _ := dbtest.User(t, db)
		dbtest.AddMember(t, db, s, m, tenancy.RoleMember)
		r.member = m.PublicID
		res, err := models.Invite(ctx, db, s, dbtest.Unique("invitee")+"@example.com", tenancy.RoleMember, tenancy.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		r.invitation = res.Invited[0].PublicID
		// The organization's identity provider manages that member.
		tok, err := scim.CreateToken(ctx, db, s, label+" token", tenancy.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scim.ScopeForToken(ctx, db, tok.Secret)
		if err != nil {
			t.Fatal(err)
		}
		u, err := scim.CreateUser(ctx, db, sc.Scope, scim.UserInput{UserName: m.Email, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		g, err := scim.CreateGroup(ctx, db, sc.Scope, scim.GroupInput{DisplayName: label + " group", Members: []string{u.PublicID}})
		if err != nil {
			t.Fatal(err)
		}
		r.scimToken, r.scimSecret, r.scimUser, r.scimGroup = tok.PublicID, tok.Secret, u.PublicID, g.PublicID
	}
	return r
}

var invoiceSeq atomic.Int64

// missingID stands in for a resource a target does not have.
var missingID = strings.Repeat("f", 24)

// snapshot is what must not change when another account's user tries.
func snapshot(t testing.TB, db *gorm.DB, s tenancy.Scope, r resources) string {
	t.Helper()
	ctx := t.Context()
	idx, err := models.GetIndex(ctx, db, s, r.index)
	if err != nil {
		t.Fatalf("%s: index gone: %v", r.label, err)
	}
	videos, err := models.ListVideos(ctx, db, s, idx.Index, tenancy.Page{Number: 1, Size: 10})
	if err != nil || len(videos) != 1 {
		t.Fatalf("%s: videos %v, %v", r.label, videos, err)
	}
	it, err := models.GetIntegration(ctx, db, s, r.integration)
	if err != nil {
		t.Fatalf("%s: integration gone: %v", r.label, err)
	}
	members, _, err := models.ListMembers(ctx, db, s, tenancy.Page{Number: 1, Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	for _, m := range members {
		who = append(who, m.UserPublicID+":"+string(m.Role))
	}
	var invitations []string
	if s.Role() == tenancy.RoleAdmin && s.IsOrganization() {
		rows, _, err := models.ListInvitations(ctx, db, s, tenancy.Page{Number: 1, Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range rows {
			invitations = append(invitations, inv.PublicID+":"+inv.TokenHash)
		}
	}
	keys, err := models.ListAPIKeys(ctx, db, s)
	if err != nil {
		t.Fatal(err)
	}
	var keyState []string
	for _, k := range keys {
		keyState = append(keyState, k.PublicID+":"+k.KeyHash+":"+string(k.Status()))
	}
	var provisioned []string
	if err := dbtest.Plain(t, db).Raw(`SELECT public_id || ':' || user_name || ':' || external_id || ':' || CAST(active AS TEXT) FROM scim_users WHERE account_id = ?
		UNION ALL SELECT public_id || ':' || display_name || ':' || CAST(updated_at AS TEXT) FROM scim_groups WHERE account_id = ?
		UNION ALL SELECT public_id || ':' || COALESCE(CAST(revoked_at AS TEXT), 'live') FROM scim_tokens WHERE account_id = ?
		UNION ALL SELECT CAST(group_id AS TEXT) || ':' || CAST(scim_user_id AS TEXT) FROM scim_group_members WHERE account_id = ?
		ORDER BY 1`, s.AccountID(), s.AccountID(), s.AccountID(), s.AccountID()).Scan(&provisioned).Error; err != nil {
		t.Fatal(err)
	}
	var passkeys []string
	if err := dbtest.Plain(t, db).Raw("SELECT CAST(id AS TEXT) || ':' || name FROM passkeys WHERE user_id = ? ORDER BY id", s.UserID()).Scan(&passkeys).Error; err != nil {
		t.Fatal(err)
	}
	return strings.Join([]string{strings.Join(passkeys, ","), idx.Name, string(idx.Visibility), idx.UpdatedAt.String(), videos[0].Title, it.Name, it.Bucket,
		it.UpdatedAt.String(), strings.Join(who, ","), strings.Join(invitations, ","), strings.Join(keyState, ","), strings.Join(provisioned, ",")}, "|")
}

// fillRoute puts a target's IDs into a route's parameters, choosing by the
// path segment before each parameter. A parameter it does not know fails
// the test, so a new route is never left out by accident.
func fillRoute(t testing.TB, path string, r resources) (string, bool) {
	t.Helper()
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, ":") {
			continue
		}
		prev := ""
		if i > 0 {
			prev = segs[i-1]
		}
		switch {
		case prev == "indexes":
			segs[i] = r.index
		case prev == "api-keys":
			segs[i] = r.apiKey
		case prev == "invoices":
			segs[i] = r.invoice
		case prev == "test" && strings.Contains(path, "/sso/"):
			segs[i] = r.ssoTest
		case prev == "videos":
			segs[i] = r.video
		case prev == "integrations":
			segs[i] = r.integration
		case prev == "members":
			segs[i] = r.member
		case prev == "sessions":
			segs[i] = r.session
		case prev == "passkeys":
			segs[i] = r.passkey
		case prev == "invitations" && seg == ":id":
			segs[i] = r.invitation
		case prev == "scim-tokens":
			segs[i] = r.scimToken
		case prev == "Users":
			segs[i] = r.scimUser
		case prev == "Groups":
			segs[i] = r.scimGroup
		case prev == "Schemas" || prev == "ResourceTypes":
			return "", false // the same for every organization
		case seg == ":token":
			return "", false // emailed links carry secrets, not resource IDs
		case seg == ":slug":
			return "", false // an organization's public SAML endpoints (metadata, login, ACS)
		default:
			t.Fatalf("the isolation test does not know what %s in %s refers to: add it to fillRoute", seg, path)
		}
	}
	return strings.Join(segs, "/"), true
}

// plausibleForm fills every field a form of the dashboard might take, so a
// refusal is the scope's doing, not a validation error's.
var plausibleForm = url.Values{
	"name": {"Hijacked"}, "model": {"marengo"}, "marengo_options": {"visual"}, "visibility": {"account"},
	"title": {"Hijacked"}, "url": {"https://e.com/h.mp4"}, "duration_seconds": {"60"},
	"bucket": {"hijacked-bucket"}, "region": {"us-east-1"}, "role_arn": {"arn:aws:iam::123456789012:role/h"},
	"role": {"admin"}, "emails": {"hijack@example.com"},
}

// TestIsolationMatrix has a member of one account request, change and delete
// the resources of others through every registered route that takes a
// resource ID: another organization, another user's personal account, and a
// private index of another member of the same organization. Every attempt is
// a 404 and changes nothing.
func TestIsolationMatrix(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, isolationMatrix)
}

// TestIsolationMatrixWithRowSecurityAlone runs the matrix again on
// PostgreSQL with the application's wall switched off: the database's row
// security alone still keeps every account's resources apart.
func TestIsolationMatrixWithRowSecurityAlone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		if tenancy.DialectOfDB(db) != tenancy.Postgres {
			t.Skip("SQLite has no row-level security: the application's wall is its only one")
		}
		tenancy.DisableApplicationWallForTest(db)
		isolationMatrix(t, db)
	})
}

// storedUser is a user as stored: registering a passkey takes their
// password hash and public ID (the passkey's user handle).
func storedUser(t testing.TB, db *gorm.DB, id int64) models.User {
	t.Helper()
	u, err := models.GetUser(t.Context(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func isolationMatrix(t *testing.T, db *gorm.DB) {
	// At a domain name, so that passkeys are on and their routes tried.
	app := newApp(t, db, func(c *handlers.Config) { c.BaseURL = strings.Replace(c.BaseURL, "127.0.0.1", "localhost", 1) })
	// The attacker: an administrator of their own organization, with resources of their own.
	attacker, _, c := app.user(t)
	home := dbtest.Org(t, db, attacker)
	own := seedResources(t, db, "Own", home, "account")
	c.switchTo(home.Account().PublicID)
	attackerKey := newKey(t, db, home)

	otherOwner, otherPersonal := dbtest.User(t, db)
	otherOrg := dbtest.Org(t, db, otherOwner)
	colleague, _ := dbtest.User(t, db)
	colleagueScope := dbtest.AddMember(t, db, home, colleague, tenancy.RoleMember)
	targets := []struct {
		scope tenancy.Scope
		res   resources
	}{
		{otherOrg, seedResources(t, db, "Other Org", otherOrg, "account")},
		{otherPersonal, seedResources(t, db, "Other Personal", otherPersonal, "")},
		{colleagueScope, seedResources(t, db, "Colleague Private", colleagueScope, "private")},
	}
	// The colleague's integration and membership are shared with the
	// attacker by design; only the private index is theirs alone.
	targets[2].res.integration, targets[2].res.member, targets[2].res.invitation, targets[2].res.invoice = "", missingID, missingID, missingID

	before := map[string]string{}
	for _, tg := range targets {
		before[tg.res.label] = snapshot(t, db, tg.scope, withIntegration(tg.res, own))
	}

	routes := app.e.Routes()
	sort.Slice(routes, func(i, j int) bool { return routes[i].Method+routes[i].Path < routes[j].Method+routes[j].Path })
	tried := 0
	for _, rt := range routes {
		if !strings.Contains(rt.Path, ":") {
			continue
		}
		for _, tg := range targets {
			foreign := tg.res
			variants := []resources{foreign}
			if strings.Contains(rt.Path, ":video_id") {
				// The attacker's own index with a foreign video.
				variants = append(variants, resources{label: foreign.label, index: own.index, video: foreign.video, integration: own.integration})
			}
			for _, v := range variants {
				if v.integration == "" {
					v.integration = strings.Repeat("f", 24) // no foreign integration: a missing one
				}
				path, ok := fillRoute(t, rt.Path, v)
				if !ok {
					continue
				}
				tried++
				var r *response
				switch {
				case strings.HasPrefix(rt.Path, "/v1.3/"):
					r = apiCall(t, app, attackerKey, rt.Method, path, `{"index_name":"Hijacked"}`)
				case strings.HasPrefix(rt.Path, "/scim/v2/"):
					// With the attacker's organization's own SCIM token.
					body := map[string]string{
						http.MethodPut:   `{"userName":"hijack@example.com","displayName":"Hijacked","active":false}`,
						http.MethodPatch: `{"Operations":[{"op":"replace","path":"displayName","value":"Hijacked"}]}`,
					}[rt.Method]
					var b any
					if body != "" {
						b = body
					}
					r = app.scim(t, own.scimSecret, rt.Method, path, b).response
				case rt.Method == http.MethodGet:
					r = c.get(path)
				case rt.Method == http.MethodPost:
					r = c.post(path, plausibleForm, "/indexes/new")
				default:
					t.Fatalf("the isolation test does not try %s routes (%s)", rt.Method, rt.Path)
				}
				if r.Code != http.StatusNotFound {
					t.Errorf("%s %s (%s): %d, want 404", rt.Method, path, tg.res.label, r.Code)
				}
				if strings.Contains(r.Body, tg.res.label) {
					t.Errorf("%s %s: the answer names %q", rt.Method, path, tg.res.label)
				}
			}
		}
	}
	if tried < 20 {
		t.Fatalf("only %d attempts: are the resource routes registered?", tried)
	}
	for _, tg := range targets {
		if after := snapshot(t, db, tg.scope, withIntegration(tg.res, own)); after != before[tg.res.label] {
			t.Errorf("%s changed:\n before %s\n after  %s", tg.res.label, before[tg.res.label], after)
		}
	}
	// The attacker's own resources still work through the same routes.
	c.get("/indexes/" + own.index).status(http.StatusOK)
	c.get("/integrations/" + own.integration).status(http.StatusOK)
}

// withIntegration fills in an integration to snapshot for targets that have
// none of their own.
func withIntegration(r, fallback resources) resources {
	if r.integration == "" {
		r.integration = fallback.integration
	}
	return r
}
