package handlers

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"gorm.io/gorm"

	"switchboard/handlers/mail"
	"switchboard/models"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/models/usage"
	"switchboard/views/paths"
)

// New builds the dashboard's router: every route and the middleware order.
//
// Order: Recover → RequestID → Logger → Secure → CheckInput → BodyLimit
// (global; echo runs these after routing, so CheckInput sees the route's
// parameters, and it comes first so that even a body refused for its size
// gets the API's headers), then per route TextOnly → Session (which loads the user) → CSRF → RequireUser → LoadScope →
// GuardAccount → RequireCapability → handler. Static files and the health
// check skip the session, so they cost no query.
func New(cfg Config, db *gorm.DB, log *slog.Logger, mailer mail.Mailer) *echo.Echo {
	cfg = cfg.withDefaults(db, log)
	d := &deps{db: db, cfg: cfg, log: log, mail: mailer, requests: new(atomic.Int64),
		store: newDBStore(db, cfg.SessionKey, cfg.Sessions, cfg.secure()),
		csrf:  csrf(cfg.secure()), box: models.NewSecretBox(cfg.SessionKey)}
	if rp, err := models.NewPasskeyRP(cfg.BaseURL, totpIssuer); err == nil {
		d.passkeys = rp
	} else {
		// Passkeys stay off (and their pages say why); nothing else changes.
		log.Info("passkeys are off", "reason", err.Error())
		d.passkeysOff = err.Error()
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = d.handleError
	e.Use(middleware.Recover(), middleware.RequestID(), d.requestLogger, cfg.Metrics.Middleware, secureHeaders(cfg.secure()), checkInput, middleware.BodyLimit("1M"))

	e.GET(paths.Health(), d.Health).Name = "health"
	e.GET(paths.Ready(), d.Ready).Name = "ready"
	e.GET("/static/*", staticFiles()).Name = "static"

	page := chain{textOnly, d.session, d.csrf}
	r := routes{e: e, d: d, page: page, signedIn: page.with(requireUser, d.loadScope, d.guardAccount)}
	r.auth()
	r.home()
	r.indexes()
	r.integrations()
	r.api()
	r.apiKeys()
	r.sso()
	r.scim()
	r.billing()
	r.settings()
	r.members()
	r.security()
	return e
}

// withDefaults fills in what the deployment left unset.
func (c Config) withDefaults(db *gorm.DB, log *slog.Logger) Config {
	if c.APIKeyTTL == 0 {
		c.APIKeyTTL = models.DefaultAPIKeyTTL
	}
	if c.RateLimiter == nil {
		c.RateLimiter = ratelimit.NewDBRateLimiter(db)
	}
	if c.Throttle == nil {
		c.Throttle = throttle.NewDBThrottle(db, c.SessionKey)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.LookupTXT == nil {
		c.LookupTXT = txtLookup(c.DNSServer)
	}
	if c.Readiness == nil {
		c.Readiness = &Readiness{}
	}
	if c.Usage == nil {
		// Nothing runs this one, so nothing writes its events: it holds a
		// bounded number, then drops the rest and says so in the log. The
		// server command passes one it runs.
		c.Usage = usage.NewUsageRecorder(db, log, time.Second)
	}
	return c
}

// chain is a route's middleware, in order.
type chain []echo.MiddlewareFunc

// with is the chain followed by extra; the chain itself is left as it was.
func (ch chain) with(extra ...echo.MiddlewareFunc) chain {
	return append(ch[:len(ch):len(ch)], extra...)
}

// routes registers the dashboard's areas, one method per area.
type routes struct {
	e        *echo.Echo
	d        *deps
	page     chain // pages anyone may open: TextOnly → Session → CSRF
	signedIn chain // page → RequireUser → LoadScope → GuardAccount
}

func (r routes) auth() {
	e, page := r.e, r.page
	auth := &Auth{r.d}
	e.GET("/signin", auth.SignInPage, page...).Name = "signin"
	e.POST("/signin", auth.SignInSubmit, page...).Name = "signin.submit"
	e.GET("/signup", auth.SignUpPage, page...).Name = "signup"
	e.POST("/signup", auth.SignUpSubmit, page...).Name = "signup.submit"
	e.GET("/verify/:token", auth.VerifyEmail, page...).Name = "verify"
	e.GET("/password/forgot", auth.ForgotPasswordPage, page...).Name = "password.forgot"
	e.POST("/password/forgot", auth.ForgotPasswordSubmit, page...).Name = "password.forgot.submit"
	e.GET("/password/reset/:token", auth.ResetPasswordPage, page...).Name = "password.reset"
	e.POST("/password/reset/:token", auth.ResetPasswordSubmit, page...).Name = "password.reset.submit"
	// Signing out and switching are exempt from the account guard: they are
	// how a user leaves a stale account.
	e.GET("/signin/two-factor", auth.SecondFactorPage, page...).Name = "signin.two-factor"
	e.POST("/signin/two-factor", auth.SecondFactorSubmit, page...).Name = "signin.two-factor.submit"
	e.POST("/signin/two-factor/passkey/options", auth.SecondFactorPasskeyOptions, page...).Name = "signin.two-factor.passkey.options"
	e.POST("/signin/two-factor/passkey", auth.SecondFactorPasskeySubmit, page...).Name = "signin.two-factor.passkey.submit"
	e.POST("/signin/passkey/options", auth.PasskeySignInOptions, page...).Name = "signin.passkey.options"
	e.POST("/signin/passkey", auth.PasskeySignInSubmit, page...).Name = "signin.passkey.submit"
	e.POST("/signout", auth.SignOutSubmit, page.with(requireUser)...).Name = "signout"
	e.POST("/verify/resend", auth.ResendVerification, r.signedIn...).Name = "verify.resend"
}

func (r routes) home() {
	e, signedIn := r.e, r.signedIn
	accounts, home := &Accounts{r.d}, &Home{r.d}
	e.POST("/accounts/switch", accounts.SwitchSubmit, r.page.with(requireUser, r.d.loadScope)...).Name = "account.switch"
	e.GET("/", home.HomePage, signedIn...).Name = "home"
	e.GET("/organizations/new", accounts.OrganizationNewPage, signedIn...).Name = "organization.new"
	e.POST("/organizations/new", accounts.OrganizationNewSubmit, signedIn...).Name = "organization.new.submit"
}

func (r routes) indexes() {
	e, signedIn := r.e, r.signedIn
	indexes := &Indexes{r.d}
	e.GET("/indexes", indexes.IndexesPage, signedIn...).Name = "index.list"
	e.GET("/indexes/new", indexes.IndexNewPage, signedIn...).Name = "index.new"
	e.POST("/indexes/new", indexes.IndexNewSubmit, signedIn...).Name = "index.new.submit"
	e.GET("/indexes/:id", indexes.IndexPage, signedIn...).Name = "index"
	e.POST("/indexes/:id", indexes.IndexSubmit, signedIn...).Name = "index.submit"
	e.GET("/indexes/:id/delete", indexes.IndexDeletePage, signedIn...).Name = "index.delete"
	e.POST("/indexes/:id/delete", indexes.IndexDeleteSubmit, signedIn...).Name = "index.delete.submit"
	e.POST("/indexes/:id/videos", indexes.VideoSubmit, signedIn...).Name = "video.new.submit"
	e.POST("/indexes/:id/videos/:video_id/delete", indexes.VideoDeleteSubmit, signedIn...).Name = "video.delete.submit"
}

func (r routes) integrations() {
	e, signedIn := r.e, r.signedIn
	integrations := &Integrations{r.d}
	e.GET("/integrations", integrations.IntegrationsPage, signedIn...).Name = "integration.list"
	e.GET("/integrations/new", integrations.IntegrationNewPage, signedIn...).Name = "integration.new"
	e.POST("/integrations/new", integrations.IntegrationNewSubmit, signedIn...).Name = "integration.new.submit"
	e.GET("/integrations/:id", integrations.IntegrationPage, signedIn...).Name = "integration"
	e.POST("/integrations/:id", integrations.IntegrationSubmit, signedIn...).Name = "integration.submit"
	e.GET("/integrations/:id/delete", integrations.IntegrationDeletePage, signedIn...).Name = "integration.delete"
	e.POST("/integrations/:id/delete", integrations.IntegrationDeleteSubmit, signedIn...).Name = "integration.delete.submit"
}

// api is the platform API: the key, then the account's rate limit, then the
// endpoint. No session, no CSRF (no cookies are read).
func (r routes) api() {
	e := r.e
	api := &API{deps: r.d, limiter: r.d.cfg.RateLimiter, usage: r.d.cfg.Usage}
	e.GET("/v1.3/indexes", api.ListIndexes, api.authenticate, api.limit(catIndexRead)).Name = "api.indexes.list"
	e.POST("/v1.3/indexes", api.CreateIndex, api.authenticate, api.limit(catIndexWrite)).Name = "api.indexes.create"
	e.GET("/v1.3/indexes/:index_id", api.RetrieveIndex, api.authenticate, api.limit(catIndexRead)).Name = "api.indexes.retrieve"
	e.PUT("/v1.3/indexes/:index_id", api.UpdateIndex, api.authenticate, api.limit(catIndexWrite)).Name = "api.indexes.update"
	e.DELETE("/v1.3/indexes/:index_id", api.DeleteIndex, api.authenticate, api.limit(catIndexWrite)).Name = "api.indexes.delete"
	e.GET("/v1.3/indexes/:index_id/videos", api.ListVideos, api.authenticate, api.limit(catVideoRead)).Name = "api.videos.list"
}

func (r routes) apiKeys() {
	e, signedIn := r.e, r.signedIn
	keys := &APIKeys{r.d}
	e.GET("/settings/api-keys", keys.KeysPage, signedIn...).Name = "api-keys"
	e.POST("/settings/api-keys", keys.CreateSubmit, signedIn...).Name = "api-keys.submit"
	e.POST("/settings/api-keys/:id/regenerate", keys.RegenerateSubmit, signedIn...).Name = "api-key.regenerate.submit"
	e.POST("/settings/api-keys/:id/revoke", keys.RevokeSubmit, signedIn...).Name = "api-key.revoke.submit"
}

func (r routes) sso() {
	e, page := r.e, r.page
	sso := &SSO{deps: r.d, allowPrivateMetadataHosts: r.d.cfg.AllowPrivateMetadataHosts}
	asManager := r.signedIn.with(orgOnly, requireCapability(tenancy.CapManageAccount))
	e.GET("/settings/sso", sso.SettingsPage, asManager...).Name = "sso"
	e.POST("/settings/sso", sso.SettingsSubmit, asManager...).Name = "sso.submit"
	e.POST("/settings/sso/test", sso.TestSubmit, asManager...).Name = "sso.test.submit"
	e.POST("/settings/sso/domains/verify", sso.VerifyDomainSubmit, asManager...).Name = "sso.domain.verify.submit"
	e.GET("/settings/sso/test/:id", sso.TestResultPage, asManager...).Name = "sso.test"
	e.POST("/settings/sso/scim-tokens", sso.SCIMTokenSubmit, asManager...).Name = "sso.scim-token.submit"
	e.POST("/settings/sso/scim-tokens/:id/revoke", sso.SCIMTokenRevokeSubmit, asManager...).Name = "sso.scim-token.revoke.submit"
	e.POST("/settings/sso/scim", sso.SCIMSettingsSubmit, asManager...).Name = "sso.scim.submit"
	e.GET("/signin/sso", sso.DiscoveryPage, page...).Name = "signin.sso"
	e.POST("/signin/sso", sso.DiscoverySubmit, page...).Name = "signin.sso.submit"
	e.GET("/sso/:slug/metadata", sso.Metadata).Name = "sso.metadata"
	e.GET("/sso/:slug/login", sso.Login, page...).Name = "sso.login"
	// The IdP posts the response from its own site: no CSRF token can come
	// with it; the signed response is the proof.
	e.POST("/sso/:slug/acs", sso.ACS, r.d.session).Name = "sso.acs"
	e.GET("/sso/:slug/complete", sso.Complete, page...).Name = "sso.complete"
	// Linking acts for the signed-in user, in whatever account is active.
	e.POST("/sso/:slug/link", sso.LinkSubmit, page.with(requireUser)...).Name = "sso.link.submit"
	e.POST("/sso/:slug/unlink", sso.UnlinkSubmit, page.with(requireUser)...).Name = "sso.unlink.submit"
}

// scim is SCIM 2.0 provisioning: the organization's token, then its rate
// limit, then the endpoint. No session, no CSRF (no cookies are read).
func (r routes) scim() {
	e := r.e
	h := &SCIM{deps: r.d, limiter: r.d.cfg.RateLimiter, usage: r.d.cfg.Usage}
	mw := []echo.MiddlewareFunc{h.authenticate, h.limit()}
	e.GET("/scim/v2/Users", h.ListUsers, mw...).Name = "scim.users.list"
	e.POST("/scim/v2/Users", h.CreateUser, mw...).Name = "scim.users.create"
	e.GET("/scim/v2/Users/:id", h.GetUser, mw...).Name = "scim.users.get"
	e.PUT("/scim/v2/Users/:id", h.ReplaceUser, mw...).Name = "scim.users.replace"
	e.PATCH("/scim/v2/Users/:id", h.PatchUser, mw...).Name = "scim.users.patch"
	e.DELETE("/scim/v2/Users/:id", h.DeleteUser, mw...).Name = "scim.users.delete"
	e.GET("/scim/v2/Groups", h.ListGroups, mw...).Name = "scim.groups.list"
	e.POST("/scim/v2/Groups", h.CreateGroup, mw...).Name = "scim.groups.create"
	e.GET("/scim/v2/Groups/:id", h.GetGroup, mw...).Name = "scim.groups.get"
	e.PUT("/scim/v2/Groups/:id", h.ReplaceGroup, mw...).Name = "scim.groups.replace"
	e.PATCH("/scim/v2/Groups/:id", h.PatchGroup, mw...).Name = "scim.groups.patch"
	e.DELETE("/scim/v2/Groups/:id", h.DeleteGroup, mw...).Name = "scim.groups.delete"
	e.GET("/scim/v2/ServiceProviderConfig", h.ServiceProviderConfig, mw...).Name = "scim.config"
	e.GET("/scim/v2/Schemas", h.Schemas, mw...).Name = "scim.schemas"
	e.GET("/scim/v2/Schemas/:id", h.Schema, mw...).Name = "scim.schema"
	e.GET("/scim/v2/ResourceTypes", h.ResourceTypes, mw...).Name = "scim.resource-types"
	e.GET("/scim/v2/ResourceTypes/:id", h.ResourceType, mw...).Name = "scim.resource-type"
}

func (r routes) billing() {
	e, signedIn := r.e, r.signedIn
	billing := &Billing{r.d}
	asBiller := signedIn.with(requireCapability(tenancy.CapManageBilling))
	e.GET("/settings/usage", billing.UsagePage, signedIn...).Name = "usage"
	e.GET("/settings/usage.csv", billing.UsageCSV, signedIn...).Name = "usage.csv"
	e.GET("/settings/billing", billing.BillingPage, asBiller...).Name = "billing"
	e.POST("/settings/billing/plan", billing.PlanSubmit, asBiller...).Name = "billing.plan.submit"
	e.POST("/settings/billing/contact", billing.ContactSubmit, asBiller...).Name = "billing.contact.submit"
	e.POST("/settings/billing/enterprise", billing.EnterpriseSubmit, asBiller...).Name = "billing.enterprise.submit"
	e.GET("/settings/billing/invoices/:id", billing.InvoicePage, asBiller...).Name = "invoice"
	e.GET("/settings/billing/invoices/:id/print", billing.InvoicePrintPage, asBiller...).Name = "invoice.print"
}

func (r routes) settings() {
	e, signedIn := r.e, r.signedIn
	settings := &Settings{r.d}
	inOrg := signedIn.with(orgOnly)
	asManager := inOrg.with(requireCapability(tenancy.CapManageAccount))
	e.GET("/settings/organization", settings.OrganizationPage, inOrg...).Name = "settings.organization"
	e.POST("/settings/organization", settings.OrganizationSubmit, asManager...).Name = "settings.organization.submit"
	e.GET("/settings/organization/leave", settings.LeavePage, inOrg...).Name = "settings.organization.leave"
	e.POST("/settings/organization/leave", settings.LeaveSubmit, inOrg...).Name = "settings.organization.leave.submit"
	e.POST("/settings/organization/delete", settings.DeleteSubmit, asManager...).Name = "settings.organization.delete.submit"
	e.GET("/settings/profile", settings.ProfilePage, signedIn...).Name = "settings.profile"
	e.POST("/settings/profile", settings.ProfileSubmit, signedIn...).Name = "settings.profile.submit"
}

func (r routes) members() {
	e, signedIn := r.e, r.signedIn
	members := &Members{r.d}
	inOrg := signedIn.with(orgOnly)
	asAdmin := inOrg.with(requireCapability(tenancy.CapManageMembers))
	e.GET("/settings/members", members.MembersPage, inOrg...).Name = "members"
	e.POST("/settings/members/invite", members.InviteSubmit, asAdmin...).Name = "members.invite.submit"
	e.POST("/settings/members/:user_id/role", members.RoleSubmit, asAdmin...).Name = "member.role.submit"
	e.GET("/settings/members/:user_id/remove", members.RemovePage, asAdmin...).Name = "member.remove"
	e.POST("/settings/members/:user_id/remove", members.RemoveSubmit, asAdmin...).Name = "member.remove.submit"
	e.POST("/settings/invitations/:id/resend", members.ResendSubmit, asAdmin...).Name = "invitation.resend.submit"
	e.POST("/settings/invitations/:id/revoke", members.RevokeSubmit, asAdmin...).Name = "invitation.revoke.submit"
	e.GET("/settings/audit-log", members.AuditLogPage, inOrg.with(requireCapability(tenancy.CapViewAuditLog))...).Name = "audit-log"
	// The invitation link is for visitors too; accepting needs a user.
	e.GET("/invitations/:token", members.InvitationPage, r.page.with(r.d.loadScope)...).Name = "invitation"
	e.POST("/invitations/:token", members.InvitationAcceptSubmit, signedIn...).Name = "invitation.accept.submit"
}

// security is Settings › Security: the user's own second factors and
// sessions, the same in every account.
func (r routes) security() {
	e, signedIn := r.e, r.signedIn
	sec := &Security{r.d}
	e.GET("/settings/security", sec.SecurityPage, signedIn...).Name = "security"
	e.POST("/settings/security/totp", sec.TOTPSubmit, signedIn...).Name = "security.totp.submit"
	e.POST("/settings/security/totp/disable", sec.TOTPDisableSubmit, signedIn...).Name = "security.totp.disable.submit"
	e.POST("/settings/security/recovery-codes", sec.RecoveryCodesSubmit, signedIn...).Name = "security.recovery-codes.submit"
	e.POST("/settings/security/sessions/revoke-others", sec.RevokeOthersSubmit, signedIn...).Name = "security.sessions.revoke-others.submit"
	e.POST("/settings/security/sessions/:id/revoke", sec.RevokeSessionSubmit, signedIn...).Name = "security.session.revoke.submit"
	e.POST("/settings/security/passkeys/options", sec.PasskeyOptions, signedIn...).Name = "security.passkeys.options"
	e.POST("/settings/security/passkeys", sec.PasskeySubmit, signedIn...).Name = "security.passkeys.submit"
	e.POST("/settings/security/passkeys/:id/rename", sec.PasskeyRenameSubmit, signedIn...).Name = "security.passkey.rename.submit"
	e.POST("/settings/security/passkeys/:id/remove", sec.PasskeyRemoveSubmit, signedIn...).Name = "security.passkey.remove.submit"
	e.GET("/two-factor/required", sec.RequiredPage, signedIn...).Name = "two-factor.required"
}
