package handlers

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/views"
	"switchboard/views/paths"
)

// Auth handles signing up, in and out, and the emailed links
// (auth_email.go).
type Auth struct{ *deps }

type signInForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

type signUpForm struct {
	Name     string `form:"name"`
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

// SignInPage shows the sign-in form; signed-in users go home.
func (h *Auth) SignInPage(c echo.Context) error {
	if _, ok := UserFrom(c); ok {
		return redirect(c, safeNext(c.QueryParam("next")))
	}
	return h.signInPage(c, http.StatusOK, views.SignInPageProps{Email: c.QueryParam("email"), Next: localPath(c.QueryParam("next"))})
}

// signInPage renders the sign-in form, with the passkey button when the
// deployment can have passkeys.
func (h *Auth) signInPage(c echo.Context, status int, p views.SignInPageProps) error {
	p.Shell, p.Passkey = h.authShell(c, "Sign in"), h.passkeys != nil
	return render(c, status, views.SignInPage(p))
}

// SignInSubmit checks the credentials, slowing down repeated failures (see
// throttle.ThrottleSignIn), and starts a new session in the personal account.
func (h *Auth) SignInSubmit(c echo.Context) error {
	var f signInForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	email := tenancy.NormalizeEmail(f.Email)
	props := views.SignInPageProps{Email: email, Next: localPath(f.Next)}
	ctx, ip, at := c.Request().Context(), clientIP(c.Request()), h.cfg.Clock()
	wait, err := throttle.ThrottleSignIn(ctx, h.cfg.Throttle, email, ip, at)
	if err != nil {
		return err
	}
	if wait > 0 {
		h.cfg.Metrics.SignIn("throttled")
		props.Error = fmt.Sprintf("Too many failed attempts. Wait %s and try again, or reset your password.", humanWait(wait))
		return h.signInPage(c, http.StatusTooManyRequests, props)
	}
	user, err := models.Authenticate(ctx, h.db, email, f.Password)
	if status, msg, ok := refusal(err); ok {
		// One message for any failed sign-in: it never says which was wrong.
		LoggerFrom(c).Warn("sign-in failed", "email", email)
		h.cfg.Metrics.SignIn("refused")
		props.Error = msg
		return h.signInPage(c, status, props)
	}
	if err != nil {
		return err
	}
	if err := throttle.SignedIn(ctx, h.cfg.Throttle, email, ip, at); err != nil {
		return err
	}
	scope, err := tenancy.PersonalScope(c.Request().Context(), h.db, user.ID)
	if err != nil {
		return err
	}
	twoFactor, err := models.HasSecondFactor(ctx, h.db, user.ID)
	if err != nil {
		return err
	}
	if twoFactor {
		// Half signed in: the session reaches only the second-factor step.
		if err := h.startSessionWith(c, user.ID, scope.AccountID(), sessionStart{method: models.AuthPasswordTOTP, pending: true}); err != nil {
			return err
		}
		return redirect(c, paths.WithQuery(paths.SignInSecondFactor(), url.Values{"next": {localPath(f.Next)}}))
	}
	if err := h.startSession(c, user.ID, scope.AccountID()); err != nil {
		return err
	}
	h.cfg.Metrics.SignIn("success")
	return redirect(c, safeNext(f.Next))
}

// startSession replaces whatever session the browser had with a new one
// (new ID, so a planted cookie cannot be fixed on the user), and the CSRF
// token with a new one.
func (d *deps) startSession(c echo.Context, userID, accountID int64) error {
	return d.startSessionWith(c, userID, accountID, sessionStart{method: models.AuthPassword})
}

// startSessionVia starts a session; ssoAccount is the organization whose
// identity provider signed the user in, if one did.
func (d *deps) startSessionVia(c echo.Context, userID, accountID int64, ssoAccount *int64) error {
	return d.startSessionWith(c, userID, accountID, sessionStart{method: models.AuthSSO, ssoAccount: ssoAccount})
}

// sessionStart is how a new session signed in.
type sessionStart struct {
	method     models.AuthMethod
	ssoAccount *int64 // the organization whose IdP signed the user in
	pending    bool   // the second factor is still owed
}

func (d *deps) startSessionWith(c echo.Context, userID, accountID int64, how sessionStart) error {
	s := SessionFrom(c)
	if rec := sessionRecord(c); rec != nil {
		if err := models.DeleteSession(c.Request().Context(), d.db, rec.ID); err != nil {
			return err
		}
	}
	for k := range s.Values {
		delete(s.Values, k)
	}
	s.ID = ""
	s.Values[valUserID] = userID
	s.Values[valAccountID] = accountID
	if how.ssoAccount != nil {
		s.Values[valSSOAccount] = *how.ssoAccount
	}
	s.Values[valMethod] = string(how.method)
	s.Values[valPending] = how.pending
	if how.method.ProvesPassword() {
		notePasswordProved(s, d.cfg.Clock())
	}
	if err := s.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	d.rotateCSRF(c)
	return nil
}

// SignUpPage shows the sign-up form.
func (h *Auth) SignUpPage(c echo.Context) error {
	if _, ok := UserFrom(c); ok {
		return redirect(c, safeNext(c.QueryParam("next")))
	}
	return render(c, http.StatusOK, views.SignUpPage(views.SignUpPageProps{
		Shell: h.authShell(c, "Create your account"),
		Email: c.QueryParam("email"),
		Next:  localPath(c.QueryParam("next")),
	}))
}

// SignUpSubmit creates the user and their personal account, sends the
// verification link and signs them in.
func (h *Auth) SignUpSubmit(c echo.Context) error {
	var f signUpForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, acct, err := models.SignUp(ctx, h.db, models.SignUpInput{Name: f.Name, Email: f.Email, Password: f.Password})
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return render(c, http.StatusUnprocessableEntity, views.SignUpPage(views.SignUpPageProps{
			Shell: h.authShell(c, "Create your account"), Name: f.Name, Email: f.Email, Next: localPath(f.Next), Errors: fe,
		}))
	}
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("user signed up", "user_id", user.PublicID)
	if err := h.startSession(c, user.ID, acct.ID); err != nil {
		return err
	}
	msg := "Welcome to Switchboard. We sent a link to " + user.Email + " to verify your address."
	if err := h.sendVerification(c, user); err != nil {
		msg = "Welcome to Switchboard. We could not send the verification email just now; use the banner to try again."
	}
	return h.flashRedirect(c, flashSuccess, msg, safeNext(f.Next))
}

type signOutForm struct {
	Next  string `form:"next"`
	Email string `form:"email"`
}

// SignOutSubmit ends the session. A form may ask to sign in again as
// someone else and continue where it was (an invitation for another email).
func (h *Auth) SignOutSubmit(c echo.Context) error {
	var f signOutForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	s := SessionFrom(c)
	s.Options.MaxAge = -1
	if err := s.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	q := url.Values{"next": {localPath(f.Next)}}
	if email, ok := tenancy.ParseEmail(f.Email); ok {
		q.Set("email", email)
	}
	return redirect(c, paths.WithQuery(paths.SignIn(), q))
}

// localPath keeps only same-site paths ("/x"), so that ?next= cannot send
// anyone to another site.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return p
}

// safeNext is where to go after signing in or up.
func safeNext(p string) string {
	if p = localPath(p); p != "" {
		return p
	}
	return "/"
}

// humanWait says a duration the way people read it ("12 seconds", "3 minutes").
func humanWait(d time.Duration) string {
	if d < time.Minute {
		s := int(math.Ceil(d.Seconds()))
		if s == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", s)
	}
	m := int(math.Ceil(d.Minutes()))
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
