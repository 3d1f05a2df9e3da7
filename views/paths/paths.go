// Package paths builds every URL of the dashboard, one function per route,
// so that handlers, views and emails spell each path once and escape the
// parts that come from data in one place. handlers/paths_test.go checks that
// every builder matches a registered route. Embedded assets have theirs in
// static.Path, which adds the content hash.
package paths

import (
	"net/url"
	"strings"
)

// seg escapes one path segment taken from data (a slug, a token, an id).
func seg(s string) string { return url.PathEscape(s) }

// WithQuery appends the query to a path built here; empty values are left out.
func WithQuery(path string, query url.Values) string {
	q := url.Values{}
	for k, vs := range query {
		for _, v := range vs {
			if v != "" {
				q.Add(k, v)
			}
		}
	}
	if len(q) == 0 {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + q.Encode()
}

// Operations.
func Health() string { return "/healthz" }
func Ready() string  { return "/readyz" }

// Signing in, signing up, passwords.
func SignIn() string                    { return "/signin" }
func SignUp() string                    { return "/signup" }
func SignOut() string                   { return "/signout" }
func SignInSecondFactor() string        { return "/signin/two-factor" }
func SignInPasskey() string             { return "/signin/passkey" }
func SignInPasskeyOptions() string      { return SignInPasskey() + "/options" }
func SignInSecondFactorPasskey() string { return SignInSecondFactor() + "/passkey" }
func SignInSecondFactorPasskeyOptions() string {
	return SignInSecondFactorPasskey() + "/options"
}
func VerifyEmail(token string) string   { return "/verify/" + seg(token) }
func ResendVerification() string        { return "/verify/resend" }
func ForgotPassword() string            { return "/password/forgot" }
func ResetPassword(token string) string { return "/password/reset/" + seg(token) }

// Accounts.
func Home() string            { return "/" }
func SwitchAccount() string   { return "/accounts/switch" }
func NewOrganization() string { return "/organizations/new" }

// Indexes and their videos.
func Indexes() string              { return "/indexes" }
func NewIndex() string             { return "/indexes/new" }
func Index(id string) string       { return "/indexes/" + seg(id) }
func DeleteIndex(id string) string { return Index(id) + "/delete" }
func Videos(indexID string) string { return Index(indexID) + "/videos" }
func DeleteVideo(indexID, videoID string) string {
	return Videos(indexID) + "/" + seg(videoID) + "/delete"
}

// Integrations.
func Integrations() string               { return "/integrations" }
func NewIntegration() string             { return "/integrations/new" }
func Integration(id string) string       { return "/integrations/" + seg(id) }
func DeleteIntegration(id string) string { return Integration(id) + "/delete" }

// The platform API.
func APIIndexes() string              { return "/v1.3/indexes" }
func APIIndex(id string) string       { return APIIndexes() + "/" + seg(id) }
func APIVideos(indexID string) string { return APIIndex(indexID) + "/videos" }

// API keys.
func APIKeys() string                   { return "/settings/api-keys" }
func RegenerateAPIKey(id string) string { return APIKeys() + "/" + seg(id) + "/regenerate" }
func RevokeAPIKey(id string) string     { return APIKeys() + "/" + seg(id) + "/revoke" }

// Single sign-on: the organization's settings.
func SSOSettings() string            { return "/settings/sso" }
func SSOTest() string                { return SSOSettings() + "/test" }
func SSOTestResult(id string) string { return SSOTest() + "/" + seg(id) }
func SSOVerifyDomain() string        { return SSOSettings() + "/domains/verify" }

// SCIM provisioning: the organization's tokens and settings.
func SCIMTokens() string               { return SSOSettings() + "/scim-tokens" }
func RevokeSCIMToken(id string) string { return SCIMTokens() + "/" + seg(id) + "/revoke" }
func SCIMSettings() string             { return SSOSettings() + "/scim" }

// SCIM provisioning: the identity provider's endpoint (RFC 7644).
func SCIMBase() string                  { return "/scim/v2" }
func SCIMUsers() string                 { return SCIMBase() + "/Users" }
func SCIMUser(id string) string         { return SCIMUsers() + "/" + seg(id) }
func SCIMGroups() string                { return SCIMBase() + "/Groups" }
func SCIMGroup(id string) string        { return SCIMGroups() + "/" + seg(id) }
func SCIMServiceProviderConfig() string { return SCIMBase() + "/ServiceProviderConfig" }
func SCIMSchemas() string               { return SCIMBase() + "/Schemas" }
func SCIMSchema(id string) string       { return SCIMSchemas() + "/" + seg(id) }
func SCIMResourceTypes() string         { return SCIMBase() + "/ResourceTypes" }
func SCIMResourceType(id string) string { return SCIMResourceTypes() + "/" + seg(id) }

// Single sign-on: the sign-in flow, per organization slug.
func SSODiscovery() string           { return "/signin/sso" }
func SSOMetadata(slug string) string { return sso(slug, "metadata") }
func SSOLogin(slug string) string    { return sso(slug, "login") }
func SSOACS(slug string) string      { return sso(slug, "acs") }
func SSOComplete(slug string) string { return sso(slug, "complete") }
func SSOLink(slug string) string     { return sso(slug, "link") }
func SSOUnlink(slug string) string   { return sso(slug, "unlink") }

// sso is one of an organization's single sign-on endpoints.
func sso(slug, endpoint string) string { return "/sso/" + seg(slug) + "/" + endpoint }

// Usage and billing.
func Usage() string                 { return "/settings/usage" }
func UsageCSV() string              { return "/settings/usage.csv" }
func Billing() string               { return "/settings/billing" }
func BillingPlan() string           { return Billing() + "/plan" }
func BillingContact() string        { return Billing() + "/contact" }
func BillingEnterprise() string     { return Billing() + "/enterprise" }
func Invoice(id string) string      { return Billing() + "/invoices/" + seg(id) }
func InvoicePrint(id string) string { return Invoice(id) + "/print" }

// InvoiceCSV is the invoice's lines as CSV; the invoice route serves it.
func InvoiceCSV(id string) string { return Invoice(id) + ".csv" }

// The organization's settings.
func OrganizationSettings() string { return "/settings/organization" }
func LeaveOrganization() string    { return OrganizationSettings() + "/leave" }
func DeleteOrganization() string   { return OrganizationSettings() + "/delete" }

// Members and invitations.
func Members() string                   { return "/settings/members" }
func InviteMembers() string             { return Members() + "/invite" }
func MemberRole(userID string) string   { return Members() + "/" + seg(userID) + "/role" }
func RemoveMember(userID string) string { return Members() + "/" + seg(userID) + "/remove" }
func ResendInvitation(id string) string { return sentInvitation(id) + "/resend" }
func RevokeInvitation(id string) string { return sentInvitation(id) + "/revoke" }

// sentInvitation is an invitation as its organization's administrators see it.
func sentInvitation(id string) string { return "/settings/invitations/" + seg(id) }
func AuditLog() string                { return "/settings/audit-log" }
func Invitation(token string) string  { return "/invitations/" + seg(token) }

// The user's profile.
func Profile() string { return "/settings/profile" }

// Settings › Security: second factors and sessions.
func Security() string                       { return "/settings/security" }
func SecurityTOTP() string                   { return Security() + "/totp" }
func SecurityTOTPDisable() string            { return Security() + "/totp/disable" }
func SecurityRecoveryCodes() string          { return Security() + "/recovery-codes" }
func SecuritySessionsRevokeOthers() string   { return Security() + "/sessions/revoke-others" }
func SecuritySessionRevoke(id string) string { return Security() + "/sessions/" + seg(id) + "/revoke" }
func SecurityPasskeys() string               { return Security() + "/passkeys" }
func SecurityPasskeyOptions() string         { return SecurityPasskeys() + "/options" }
func SecurityPasskeyRename(id string) string { return SecurityPasskeys() + "/" + seg(id) + "/rename" }
func SecurityPasskeyRemove(id string) string { return SecurityPasskeys() + "/" + seg(id) + "/remove" }
func SecondFactorRequired() string           { return "/two-factor/required" }
