package handlers_test

import (
	"regexp"
	"strings"
	"testing"

	"switchboard/models/dbtest"
	"switchboard/static"
	"switchboard/views/paths"
)

// Every route builder must produce a path that a registered route of the
// named method matches; a builder for a route that was renamed or removed
// fails here, not in a user's browser. Arguments hold characters that need
// escaping, to prove the builders escape them into one segment.
func TestEveryPathIsARoute(t *testing.T) {
	t.Parallel()
	app := newApp(t, dbtest.SQLite(t))
	id, slug, token := "ab/c d", "acme corp", "tok?en#1"
	built := []struct{ method, path string }{
		{"GET", paths.Health()},
		{"GET", paths.Ready()},
		{"GET", static.Path("css/app.css")},
		{"GET", paths.SignIn()}, {"POST", paths.SignIn()},
		{"GET", paths.SignUp()}, {"POST", paths.SignUp()},
		{"POST", paths.SignOut()},
		{"GET", paths.VerifyEmail(token)},
		{"POST", paths.ResendVerification()},
		{"GET", paths.ForgotPassword()}, {"POST", paths.ForgotPassword()},
		{"GET", paths.ResetPassword(token)}, {"POST", paths.ResetPassword(token)},
		{"GET", paths.Home()},
		{"POST", paths.SwitchAccount()},
		{"GET", paths.NewOrganization()}, {"POST", paths.NewOrganization()},
		{"GET", paths.Indexes()},
		{"GET", paths.NewIndex()}, {"POST", paths.NewIndex()},
		{"GET", paths.Index(id)}, {"POST", paths.Index(id)},
		{"GET", paths.DeleteIndex(id)}, {"POST", paths.DeleteIndex(id)},
		{"POST", paths.Videos(id)},
		{"POST", paths.DeleteVideo(id, id)},
		{"GET", paths.Integrations()},
		{"GET", paths.NewIntegration()}, {"POST", paths.NewIntegration()},
		{"GET", paths.Integration(id)}, {"POST", paths.Integration(id)},
		{"GET", paths.DeleteIntegration(id)}, {"POST", paths.DeleteIntegration(id)},
		{"GET", paths.APIIndexes()}, {"POST", paths.APIIndexes()},
		{"GET", paths.APIIndex(id)}, {"PUT", paths.APIIndex(id)}, {"DELETE", paths.APIIndex(id)},
		{"GET", paths.APIVideos(id)},
		{"GET", paths.APIKeys()}, {"POST", paths.APIKeys()},
		{"POST", paths.RegenerateAPIKey(id)},
		{"POST", paths.RevokeAPIKey(id)},
		{"GET", paths.SSOSettings()}, {"POST", paths.SSOSettings()},
		{"POST", paths.SSOTest()},
		{"GET", paths.SSOTestResult(id)},
		{"POST", paths.SSOVerifyDomain()},
		{"POST", paths.SCIMTokens()},
		{"POST", paths.RevokeSCIMToken(id)},
		{"POST", paths.SCIMSettings()},
		{"GET", paths.SCIMUsers()}, {"POST", paths.SCIMUsers()},
		{"GET", paths.SCIMUser(id)}, {"PUT", paths.SCIMUser(id)}, {"PATCH", paths.SCIMUser(id)}, {"DELETE", paths.SCIMUser(id)},
		{"GET", paths.SCIMGroups()}, {"POST", paths.SCIMGroups()},
		{"GET", paths.SCIMGroup(id)}, {"PUT", paths.SCIMGroup(id)}, {"PATCH", paths.SCIMGroup(id)}, {"DELETE", paths.SCIMGroup(id)},
		{"GET", paths.SCIMServiceProviderConfig()},
		{"GET", paths.SCIMSchemas()}, {"GET", paths.SCIMSchema(id)},
		{"GET", paths.SCIMResourceTypes()}, {"GET", paths.SCIMResourceType(id)},
		{"GET", paths.SSODiscovery()}, {"POST", paths.SSODiscovery()},
		{"GET", paths.SSOMetadata(slug)},
		{"GET", paths.SSOLogin(slug)},
		{"POST", paths.SSOACS(slug)},
		{"GET", paths.SSOComplete(slug)},
		{"POST", paths.SSOLink(slug)},
		{"POST", paths.SSOUnlink(slug)},
		{"GET", paths.Usage()},
		{"GET", paths.UsageCSV()},
		{"GET", paths.Billing()},
		{"POST", paths.BillingPlan()},
		{"POST", paths.BillingContact()},
		{"POST", paths.BillingEnterprise()},
		{"GET", paths.Invoice(id)},
		{"GET", paths.InvoicePrint(id)},
		{"GET", paths.InvoiceCSV(id)},
		{"GET", paths.OrganizationSettings()}, {"POST", paths.OrganizationSettings()},
		{"GET", paths.LeaveOrganization()}, {"POST", paths.LeaveOrganization()},
		{"POST", paths.DeleteOrganization()},
		{"GET", paths.Members()},
		{"POST", paths.InviteMembers()},
		{"POST", paths.MemberRole(id)},
		{"GET", paths.RemoveMember(id)}, {"POST", paths.RemoveMember(id)},
		{"POST", paths.ResendInvitation(id)},
		{"POST", paths.RevokeInvitation(id)},
		{"GET", paths.AuditLog()},
		{"GET", paths.Invitation(token)}, {"POST", paths.Invitation(token)},
		{"GET", paths.Profile()}, {"POST", paths.Profile()},
		{"GET", paths.SignInSecondFactor()}, {"POST", paths.SignInSecondFactor()},
		{"POST", paths.SignInSecondFactorPasskeyOptions()}, {"POST", paths.SignInSecondFactorPasskey()},
		{"POST", paths.SignInPasskeyOptions()}, {"POST", paths.SignInPasskey()},
		{"GET", paths.Security()},
		{"POST", paths.SecurityTOTP()},
		{"POST", paths.SecurityTOTPDisable()},
		{"POST", paths.SecurityRecoveryCodes()},
		{"POST", paths.SecuritySessionsRevokeOthers()},
		{"POST", paths.SecuritySessionRevoke(id)},
		{"POST", paths.SecurityPasskeyOptions()}, {"POST", paths.SecurityPasskeys()},
		{"POST", paths.SecurityPasskeyRename(id)}, {"POST", paths.SecurityPasskeyRemove(id)},
		{"GET", paths.SecondFactorRequired()},
	}
	type route struct {
		method string
		re     *regexp.Regexp
	}
	var routes []route
	for _, r := range app.e.Routes() {
		pattern := regexp.QuoteMeta(r.Path)
		pattern = regexp.MustCompile(`:[a-z_]+`).ReplaceAllString(pattern, `[^/]+`)
		pattern = strings.ReplaceAll(pattern, `\*`, `.+`)
		routes = append(routes, route{r.Method, regexp.MustCompile("^" + pattern + "$")})
	}
	used := map[string]bool{}
	for _, b := range built {
		matched := false
		for _, r := range routes {
			if r.method == b.method && r.re.MatchString(b.path) {
				matched = true
				used[r.method+" "+r.re.String()] = true
			}
		}
		if !matched {
			t.Errorf("%s %s matches no registered route", b.method, b.path)
		}
	}
	// And the other way round: every route has a builder.
	for _, r := range routes {
		if !used[r.method+" "+r.re.String()] {
			t.Errorf("route %s %s has no builder in views/paths", r.method, r.re)
		}
	}
	if paths.Index(id) != "/indexes/ab%2Fc%20d" || paths.SSOLogin(slug) != "/sso/acme%20corp/login" {
		t.Errorf("builders must escape their arguments: %s, %s", paths.Index(id), paths.SSOLogin(slug))
	}
	if got := paths.WithQuery(paths.Indexes(), map[string][]string{"q": {"a&b"}, "page": {""}}); got != "/indexes?q=a%26b" {
		t.Errorf("WithQuery = %s", got)
	}
}
