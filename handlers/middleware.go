package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// touchEvery is how stale a session's last-seen time may get before a
// request rewrites it: often enough for the idle timeout, rarely enough that
// reads stay reads.
const touchEvery = 5 * time.Minute

// RequestLog is how request lines are logged: at Level (info by default;
// debug hides them unless SWITCHBOARD_LOG_LEVEL is debug), or, with Every
// above 1, one request in Every at info. A request that failed (5xx) is
// always logged at info.
type RequestLog struct {
	Level slog.Level
	Every int64
}

// ParseRequestLog reads SWITCHBOARD_REQUEST_LOG: "info" (or empty),
// "debug", or "1/N" for one request line in N.
func ParseRequestLog(s string) (RequestLog, error) {
	switch s {
	case "", "info":
		return RequestLog{Level: slog.LevelInfo}, nil
	case "debug":
		return RequestLog{Level: slog.LevelDebug}, nil
	}
	if n, ok := strings.CutPrefix(s, "1/"); ok {
		if every, err := strconv.ParseInt(n, 10, 64); err == nil && every >= 1 {
			return RequestLog{Level: slog.LevelInfo, Every: every}, nil
		}
	}
	return RequestLog{}, fmt.Errorf("SWITCHBOARD_REQUEST_LOG must be info, debug or 1/N (one request in N), got %q", s)
}

// statusClientGone is the status a request whose client went away is
// counted and logged with (nginx's "client closed request"): nothing was
// sent, and it was no failure of the server's.
const statusClientGone = 499

// requestLogger logs each request once, with its request, user and account
// IDs, and gives handlers a logger carrying the same fields. It notes in
// the request's context when it began (tenancy.WithRequestStart).
func (d *deps) requestLogger(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		c.Set(ctxLogger, d.log.With("request_id", reqID))
		c.SetRequest(c.Request().WithContext(tenancy.WithRequestStart(c.Request().Context(), start)))
		err := next(c)
		if err != nil {
			// The error handler writes the response; let it run first so the
			// status logged is the one sent.
			c.Error(err)
		}
		status := c.Response().Status
		level, sampled := d.cfg.RequestLog.Level, false
		switch {
		case status >= 500 && status != statusClientGone:
			level = slog.LevelInfo
		case d.cfg.RequestLog.Every > 1:
			if d.requests.Add(1)%d.cfg.RequestLog.Every != 0 {
				return nil
			}
			sampled = true
		}
		ctx := c.Request().Context()
		if !d.log.Enabled(ctx, level) {
			return nil
		}
		attrs := []any{
			"method", c.Request().Method,
			"route", c.Path(),
			"path", c.Request().URL.Path,
			"status", status,
			"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
			"request_id", reqID,
		}
		if u, ok := UserFrom(c); ok {
			attrs = append(attrs, "user_id", u.PublicID)
		}
		if s := ScopeFrom(c); !s.IsZero() {
			attrs = append(attrs, "account_id", s.Account().PublicID)
		}
		if sampled {
			attrs = append(attrs, "sampled_one_in", d.cfg.RequestLog.Every)
		}
		d.log.Log(context.WithoutCancel(ctx), level, "request", attrs...)
		return nil
	}
}

// secureHeaders sets the security headers of every response: a CSP with no
// inline script, no framing, no MIME sniffing, a strict referrer policy.
func secureHeaders(secure bool) echo.MiddlewareFunc {
	cfg := middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "strict-origin-when-cross-origin",
		ContentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
	}
	if secure {
		cfg.HSTSMaxAge = 63072000
	}
	return middleware.SecureWithConfig(cfg)
}

// The CSRF token lives in this cookie, for a day after the last page that
// used it.
const (
	csrfCookieName   = "_csrf"
	csrfCookieMaxAge = 24 * time.Hour
)

// csrf protects every state-changing request with the token forms carry as
// _csrf (echo's middleware also accepts same-origin Sec-Fetch-Site). The
// public API authenticates by header, not cookie, and is exempt.
func csrf(secure bool) echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		Skipper:        func(c echo.Context) bool { return isAPI(c) },
		TokenLookup:    "form:_csrf",
		ContextKey:     ctxCSRF,
		CookieName:     csrfCookieName,
		CookiePath:     "/",
		CookieMaxAge:   int(csrfCookieMaxAge / time.Second),
		CookieHTTPOnly: true,
		CookieSecure:   secure,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from Switchboard. Reload the page and try again.").SetInternal(err)
		},
	})
}

// rotateCSRF gives the browser a new CSRF token, as the middleware would
// set it, in place of the one the middleware set for this response: a token
// planted or seen before sign-in does not carry over into the session.
func (d *deps) rotateCSRF(c echo.Context) {
	token := tenancy.NewToken()
	h := c.Response().Header()
	var kept []string
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, csrfCookieName+"=") {
			kept = append(kept, v)
		}
	}
	h.Del("Set-Cookie")
	for _, v := range kept {
		h.Add("Set-Cookie", v)
	}
	http.SetCookie(c.Response(), &http.Cookie{
		Name:     csrfCookieName,
		Value:    token,
		Path:     "/",
		Expires:  time.Now().Add(csrfCookieMaxAge),
		HttpOnly: true,
		Secure:   d.cfg.secure(),
		SameSite: http.SameSiteLaxMode,
	})
	c.Set(ctxCSRF, token)
}

// session loads the request's session and, with it, the signed-in user (one
// query for both).
func (d *deps) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, err := d.store.Get(c.Request(), sessionCookie)
		if err != nil {
			return err
		}
		c.Set(ctxSession, s)
		if rec, ok := s.Values[valRecord].(*models.Session); ok {
			if rec.SecondFactorPending {
				// Not signed in yet: only the second-factor step sees them.
				c.Set(ctxPendingUser, rec.User)
				return next(c)
			}
			c.Set(ctxUser, rec.User)
			c.Set(ctxLogger, LoggerFrom(c).With("user_id", rec.User.PublicID))
			if t := time.Now().UTC(); t.Sub(rec.LastSeenAt) > touchEvery {
				if err := models.TouchSession(c.Request().Context(), d.db, *rec, t); err != nil {
					return err
				}
				rec.LastSeenAt = t
			}
		}
		return next(c)
	}
}

// requireUser sends visitors to the sign-in page, remembering where they
// were going when that was a page.
func requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := UserFrom(c); ok {
			return next(c)
		}
		if _, ok := pendingUserFrom(c); ok {
			return redirect(c, paths.SignInSecondFactor())
		}
		next := ""
		if r := c.Request(); r.Method == http.MethodGet && r.URL.Path != paths.Home() {
			next = r.URL.RequestURI()
		}
		return redirect(c, paths.WithQuery(paths.SignIn(), url.Values{"next": {next}}))
	}
}

// loadScope re-checks, on every request, that the user still belongs to the
// session's active account, and puts the scope in the context. A membership
// that is gone falls back to the personal account with a notice.
func (d *deps) loadScope(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		user, ok := UserFrom(c)
		if !ok {
			return next(c)
		}
		// One statement for the scope check, the personal fallback and the
		// layout's account switcher (see shell).
		ms, err := tenancy.MembershipsOf(c.Request().Context(), d.db, user.ID)
		if err != nil {
			return err
		}
		if !admits(ms, SessionFrom(c)) {
			// Memberships kept in the scope cache may predate a change made
			// through another server whose news is on its way (the
			// organization the user just created or joined there, a policy
			// just turned off): a refusal rests on the database.
			if ms, err = tenancy.MembershipsFromDatabase(c.Request().Context(), d.db, user.ID); err != nil {
				return err
			}
		}
		c.Set(ctxMemberships, ms)
		scope, err := d.activeScope(c, ms)
		if err != nil {
			return err
		}
		if !scope.SecondFactorAdmits(ssoAccountOf(SessionFrom(c))) {
			return d.refuseWithoutSecondFactor(c, scope)
		}
		if err := d.rememberRole(c, scope); err != nil {
			return err
		}
		c.Set(ctxScope, scope)
		c.Set(ctxLogger, LoggerFrom(c).With("account_id", scope.Account().PublicID))
		return next(c)
	}
}

// activeScope is the user's scope in the session's active account. When
// they may no longer act there (the membership or the account is gone, or
// the organization admits them only through its IdP), it is their personal
// account instead, with a notice for the page saying why.
func (d *deps) activeScope(c echo.Context, ms tenancy.Memberships) (tenancy.Scope, error) {
	ctx := c.Request().Context()
	sess := SessionFrom(c)
	accountID, _ := sess.Values[valAccountID].(int64)
	scope, err := ms.Scope(accountID)
	var notice string
	switch {
	case errors.Is(err, tenancy.ErrNotMember):
		if accountID != 0 {
			name, err := models.AccountName(ctx, d.db, accountID)
			if err != nil {
				return tenancy.Scope{}, err
			}
			notice = "You are no longer a member of " + name + "; you're in your personal account."
			if name == "" {
				notice = "That organization no longer exists; you're in your personal account."
			}
		}
	case err != nil:
		return tenancy.Scope{}, err
	case !scope.AdmitsSession(ssoAccountOf(sess)):
		notice = scope.Account().Name + " requires single sign-on: sign in through its identity provider (Sign in with SSO) to enter it. You're in your personal account."
	default:
		return scope, nil
	}
	if scope, err = d.enterPersonal(c); err != nil {
		return tenancy.Scope{}, err
	}
	if notice == "" {
		return scope, sess.Save(c.Request(), c.Response())
	}
	return scope, d.setFlash(c, flashNotice, notice)
}

// admits reports whether the memberships let the session act in its
// active account: as activeScope and loadScope decide, without a word.
func admits(ms tenancy.Memberships, sess *sessions.Session) bool {
	accountID, _ := sess.Values[valAccountID].(int64)
	scope, err := ms.Scope(accountID)
	return err == nil && scope.AdmitsSession(ssoAccountOf(sess)) && scope.SecondFactorAdmits(ssoAccountOf(sess))
}

// refuseWithoutSecondFactor keeps a member without a second factor out of
// an organization that requires one: the session moves to their personal
// account and the page that explains the policy.
func (d *deps) refuseWithoutSecondFactor(c echo.Context, org tenancy.Scope) error {
	LoggerFrom(c).Info("organization requires a second factor; member has none", "account_id", org.Account().PublicID)
	if _, err := d.enterPersonal(c); err != nil {
		return err
	}
	if err := SessionFrom(c).Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirect(c, paths.WithQuery(paths.SecondFactorRequired(), url.Values{"account": {org.Account().PublicID}}))
}

// enterPersonal makes the user's personal account the session's active one;
// the caller saves the session.
func (d *deps) enterPersonal(c echo.Context) (tenancy.Scope, error) {
	var scope tenancy.Scope
	var err error
	if ms, ok := c.Get(ctxMemberships).(tenancy.Memberships); ok {
		scope, err = ms.Personal()
	} else {
		user, _ := UserFrom(c)
		scope, err = tenancy.PersonalScope(c.Request().Context(), d.db, user.ID)
	}
	if err != nil {
		return tenancy.Scope{}, err
	}
	setActive(SessionFrom(c), scope.AccountID(), scope.Role())
	return scope, nil
}

// setActive makes an account the session's active one, with the user's role
// there ("" when the next request's loadScope is to learn it). Saving the
// session then gives it a new token: see dbStore.Save.
func setActive(s *sessions.Session, accountID int64, role tenancy.Role) {
	s.Values[valAccountID] = accountID
	s.Values[valRole] = string(role)
}

// rememberRole keeps the user's role in the active account in the session.
// A role that changed (an administrator promoted or demoted them) gives the
// session a new token, as switching accounts does.
func (d *deps) rememberRole(c echo.Context, scope tenancy.Scope) error {
	s := SessionFrom(c)
	before, _ := s.Values[valRole].(string)
	if before == string(scope.Role()) {
		return nil
	}
	if before != "" {
		LoggerFrom(c).Info("role changed; session token replaced", "from", before, "to", string(scope.Role()))
	}
	s.Values[valRole] = string(scope.Role())
	return s.Save(c.Request(), c.Response())
}

// guardAccount refuses a state-changing form rendered in another account
// than the active one (another tab switched accounts in between): 409,
// nothing written. Forms say where they were rendered in _account.
func (d *deps) guardAccount(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		scope := ScopeFrom(c)
		sent := c.FormValue("_account")
		if sent == scope.Account().PublicID {
			return next(c)
		}
		user, _ := UserFrom(c)
		props := views.StaleAccountPageProps{ReturnTo: landingFor(c.Request().URL.Path, scope)}
		if formScope, err := tenancy.LoadScope(c.Request().Context(), d.db, user.ID, sent); err == nil {
			props.FormAccount = formScope.Account().Name
			props.FormPublicID = formScope.Account().PublicID
			props.ReturnTo = landingFor(c.Request().URL.Path, formScope)
		}
		shell, err := d.shell(c, "Nothing was saved", "")
		if err != nil {
			return err
		}
		props.Shell = shell
		LoggerFrom(c).Warn("form from another account refused", "form_account", sent)
		return render(c, http.StatusConflict, views.StaleAccountPage(props))
	}
}

// requireCapability answers 403 to members whose role lacks c.
func requireCapability(capability tenancy.Capability) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !ScopeFrom(c).Can(capability) {
				return tenancy.ErrForbidden
			}
			return next(c)
		}
	}
}

// orgOnly answers 404 for pages that a personal account does not have.
func orgOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !ScopeFrom(c).IsOrganization() {
			return tenancy.ErrNotFound
		}
		return next(c)
	}
}

// textOnly refuses forms and query strings that are not text (invalid UTF-8
// or NUL bytes): no field of the dashboard takes them, and PostgreSQL would
// refuse them with an error rather than a message.
func textOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values, err := c.FormParams() // the query string, and the body of a form
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
		}
		for _, vs := range values {
			for _, v := range vs {
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
					return echo.NewHTTPError(http.StatusBadRequest, "The form contains characters that are not text.")
				}
			}
		}
		return next(c)
	}
}
