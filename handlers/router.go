package handlers

import (
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/models/usage"
)

// New builds the dashboard's router: every route and the middleware order.
//
// Order: Recover → RequestID → Logger → Secure → CheckInput → BodyLimit
// (global; echo runs these after routing, so CheckInput sees the route's
// parameters, and it comes first so that even a body refused for its size
// gets the API's headers), then per route TextOnly → Session (which loads the user) → CSRF → RequireUser → LoadScope →
// GuardAccount → RequireCapability → handler. Static files and the health
// check skip the session, so they cost no query.
func New(cfg Config, db *gorm.DB, log *slog.Logger, mailer Mailer) *echo.Echo {
	d := &deps{db: db, cfg: cfg, log: log, mail: mailer,
		store: newDBStore(db, cfg.SessionKey, cfg.Sessions, cfg.secure()),
		csrf:  csrf(cfg.secure())}
	if cfg.APIKeyTTL == 0 {
		cfg.APIKeyTTL = models.DefaultAPIKeyTTL
	}
	if cfg.RateLimiter == nil {
		cfg.RateLimiter = ratelimit.NewDBRateLimiter(db)
	}
	if cfg.Throttle == nil {
		cfg.Throttle = throttle.NewDBThrottle(db, cfg.SessionKey)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.LookupTXT == nil {
		cfg.LookupTXT = txtLookup(cfg.DNSServer)
	}
	if cfg.Usage == nil {
		// Nothing runs this one, so nothing writes its events: it holds a
		// bounded number, then drops the rest and says so in the log. The
		// server command passes one it runs.
		cfg.Usage = usage.NewUsageRecorder(db, log, time.Second)
	}
	d.cfg = cfg
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = d.handleError
	e.Use(middleware.Recover(), middleware.RequestID(), d.requestLogger, secureHeaders(cfg.secure()), checkInput, middleware.BodyLimit("1M"))

	e.GET("/healthz", d.Health).Name = "health"
	e.GET("/static/*", staticFiles()).Name = "static"

	page := []echo.MiddlewareFunc{textOnly, d.session, d.csrf}
	signedIn := append(page[:len(page):len(page)], requireUser, d.loadScope, d.guardAccount)
	with := func(base []echo.MiddlewareFunc, extra ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return append(base[:len(base):len(base)], extra...)
	}

	auth := &Auth{d}
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
	e.POST("/signout", auth.SignOutSubmit, with(page, requireUser)...).Name = "signout"
	accounts := &Accounts{d}
	e.POST("/accounts/switch", accounts.SwitchSubmit, with(page, requireUser, d.loadScope)...).Name = "account.switch"

	e.POST("/verify/resend", auth.ResendVerification, signedIn...).Name = "verify.resend"
	home := &Home{d}
	e.GET("/", home.HomePage, signedIn...).Name = "home"
	e.GET("/organizations/new", accounts.OrganizationNewPage, signedIn...).Name = "organization.new"
	e.POST("/organizations/new", accounts.OrganizationNewSubmit, signedIn...).Name = "organization.new.submit"

	indexes := &Indexes{d}
	e.GET("/indexes", indexes.IndexesPage, signedIn...).Name = "index.list"
	e.GET("/indexes/new", indexes.IndexNewPage, signedIn...).Name = "index.new"
	e.POST("/indexes/new", indexes.IndexNewSubmit, signedIn...).Name = "index.new.submit"
	e.GET("/indexes/:id", indexes.IndexPage, signedIn...).Name = "index"
	e.POST("/indexes/:id", indexes.IndexSubmit, signedIn...).Name = "index.submit"
	e.GET("/indexes/:id/delete", indexes.IndexDeletePage, signedIn...).Name = "index.delete"
	e.POST("/indexes/:id/delete", indexes.IndexDeleteSubmit, signedIn...).Name = "index.delete.submit"
	e.POST("/indexes/:id/videos", indexes.VideoSubmit, signedIn...).Name = "video.new.submit"
	e.POST("/indexes/:id/videos/:video_id/delete", indexes.VideoDeleteSubmit, signedIn...).Name = "video.delete.submit"

	integrations := &Integrations{d}
	e.GET("/integrations", integrations.IntegrationsPage, signedIn...).Name = "integration.list"
	e.GET("/integrations/new", integrations.IntegrationNewPage, signedIn...).Name = "integration.new"
	e.POST("/integrations/new", integrations.IntegrationNewSubmit, signedIn...).Name = "integration.new.submit"
	e.GET("/integrations/:id", integrations.IntegrationPage, signedIn...).Name = "integration"
	e.POST("/integrations/:id", integrations.IntegrationSubmit, signedIn...).Name = "integration.submit"
	e.GET("/integrations/:id/delete", integrations.IntegrationDeletePage, signedIn...).Name = "integration.delete"
	e.POST("/integrations/:id/delete", integrations.IntegrationDeleteSubmit, signedIn...).Name = "integration.delete.submit"

	// The platform API: the key, then the account's rate limit, then the
	// endpoint. No session, no CSRF (no cookies are read).
	api := &API{deps: d, limiter: cfg.RateLimiter, usage: cfg.Usage}
	e.GET("/v1.3/indexes", api.ListIndexes, api.authenticate, api.limit(catIndexRead)).Name = "api.indexes.list"
	e.POST("/v1.3/indexes", api.CreateIndex, api.authenticate, api.limit(catIndexWrite)).Name = "api.indexes.create"
	e.GET("/v1.3/indexes/:index_id", api.RetrieveIndex, api.authenticate, api.limit(catIndexRead)).Name = "api.indexes.retrieve"
	e.PUT("/v1.3/indexes/:index_id", api.UpdateIndex, api.authenticate, api.limit(catIndexWrite)).Name = "api.indexes.update"
	e.DELETE("/v1.3/indexes/:index_id", api.DeleteIndex, api.authenticate, api.limit(catIndexWrite)).Name = "api.indexes.delete"
	e.GET("/v1.3/indexes/:index_id/videos", api.ListVideos, api.authenticate, api.limit(catVideoRead)).Name = "api.videos.list"

	keys := &APIKeys{d}
	e.GET("/settings/api-keys", keys.KeysPage, signedIn...).Name = "api-keys"
	e.POST("/settings/api-keys", keys.CreateSubmit, signedIn...).Name = "api-keys.submit"
	e.POST("/settings/api-keys/:id/regenerate", keys.RegenerateSubmit, signedIn...).Name = "api-key.regenerate.submit"
	e.POST("/settings/api-keys/:id/revoke", keys.RevokeSubmit, signedIn...).Name = "api-key.revoke.submit"

	sso := &SSO{deps: d, allowPrivateMetadataHosts: cfg.AllowPrivateMetadataHosts}
	e.GET("/settings/sso", sso.SettingsPage, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "sso"
	e.POST("/settings/sso", sso.SettingsSubmit, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "sso.submit"
	e.POST("/settings/sso/test", sso.TestSubmit, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "sso.test.submit"
	e.POST("/settings/sso/domains/verify", sso.VerifyDomainSubmit, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "sso.domain.verify.submit"
	e.GET("/settings/sso/test/:id", sso.TestResultPage, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "sso.test"
	e.GET("/signin/sso", sso.DiscoveryPage, page...).Name = "signin.sso"
	e.POST("/signin/sso", sso.DiscoverySubmit, page...).Name = "signin.sso.submit"
	e.GET("/sso/:slug/metadata", sso.Metadata).Name = "sso.metadata"
	e.GET("/sso/:slug/login", sso.Login, page...).Name = "sso.login"
	// The IdP posts the response from its own site: no CSRF token can come
	// with it; the signed response is the proof.
	e.POST("/sso/:slug/acs", sso.ACS, d.session).Name = "sso.acs"
	e.GET("/sso/:slug/complete", sso.Complete, page...).Name = "sso.complete"
	// Linking acts for the signed-in user, in whatever account is active.
	e.POST("/sso/:slug/link", sso.LinkSubmit, with(page, requireUser)...).Name = "sso.link.submit"
	e.POST("/sso/:slug/unlink", sso.UnlinkSubmit, with(page, requireUser)...).Name = "sso.unlink.submit"

	billing := &Billing{d}
	asBiller := with(signedIn, requireCapability(tenancy.CapManageBilling))
	e.GET("/settings/usage", billing.UsagePage, signedIn...).Name = "usage"
	e.GET("/settings/usage.csv", billing.UsageCSV, signedIn...).Name = "usage.csv"
	e.GET("/settings/billing", billing.BillingPage, asBiller...).Name = "billing"
	e.POST("/settings/billing/plan", billing.PlanSubmit, asBiller...).Name = "billing.plan.submit"
	e.POST("/settings/billing/contact", billing.ContactSubmit, asBiller...).Name = "billing.contact.submit"
	e.POST("/settings/billing/enterprise", billing.EnterpriseSubmit, asBiller...).Name = "billing.enterprise.submit"
	e.GET("/settings/billing/invoices/:id", billing.InvoicePage, asBiller...).Name = "invoice"
	e.GET("/settings/billing/invoices/:id/print", billing.InvoicePrintPage, asBiller...).Name = "invoice.print"

	settings := &Settings{d}
	e.GET("/settings/organization", settings.OrganizationPage, with(signedIn, orgOnly)...).Name = "settings.organization"
	e.POST("/settings/organization", settings.OrganizationSubmit, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "settings.organization.submit"
	e.GET("/settings/organization/leave", settings.LeavePage, with(signedIn, orgOnly)...).Name = "settings.organization.leave"
	e.POST("/settings/organization/leave", settings.LeaveSubmit, with(signedIn, orgOnly)...).Name = "settings.organization.leave.submit"
	e.POST("/settings/organization/delete", settings.DeleteSubmit, with(signedIn, orgOnly, requireCapability(tenancy.CapManageAccount))...).Name = "settings.organization.delete.submit"

	members := &Members{d}
	asAdmin := with(signedIn, orgOnly, requireCapability(tenancy.CapManageMembers))
	e.GET("/settings/members", members.MembersPage, with(signedIn, orgOnly)...).Name = "members"
	e.POST("/settings/members/invite", members.InviteSubmit, asAdmin...).Name = "members.invite.submit"
	e.POST("/settings/members/:user_id/role", members.RoleSubmit, asAdmin...).Name = "member.role.submit"
	e.GET("/settings/members/:user_id/remove", members.RemovePage, asAdmin...).Name = "member.remove"
	e.POST("/settings/members/:user_id/remove", members.RemoveSubmit, asAdmin...).Name = "member.remove.submit"
	e.POST("/settings/invitations/:id/resend", members.ResendSubmit, asAdmin...).Name = "invitation.resend.submit"
	e.POST("/settings/invitations/:id/revoke", members.RevokeSubmit, asAdmin...).Name = "invitation.revoke.submit"
	e.GET("/settings/audit-log", members.AuditLogPage, with(signedIn, orgOnly, requireCapability(tenancy.CapViewAuditLog))...).Name = "audit-log"
	// The invitation link is for visitors too; accepting needs a user.
	e.GET("/invitations/:token", members.InvitationPage, with(page, d.loadScope)...).Name = "invitation"
	e.POST("/invitations/:token", members.InvitationAcceptSubmit, signedIn...).Name = "invitation.accept.submit"

	e.GET("/settings/profile", settings.ProfilePage, signedIn...).Name = "settings.profile"
	e.POST("/settings/profile", settings.ProfileSubmit, signedIn...).Name = "settings.profile.submit"
	return e
}
