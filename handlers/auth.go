package handlers

import (
	"errors"
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

// Auth handles signing up, in and out, and the emailed links.
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

// badCredentials is the one message for any failed sign-in.
const badCredentials = "The email or password is incorrect."

// SignInPage shows the sign-in form; signed-in users go home.
func (h *Auth) SignInPage(c echo.Context) error {
	if _, ok := UserFrom(c); ok {
		return redirect(c, safeNext(c.QueryParam("next")))
	}
	return render(c, http.StatusOK, views.SignInPage(views.SignInPageProps{
		Shell: h.authShell(c, "Sign in"),
		Email: c.QueryParam("email"),
		Next:  localPath(c.QueryParam("next")),
	}))
}

// SignInSubmit checks the credentials, slowing down repeated failures (see
// models.ThrottleSignIn), and starts a new session in the personal account.
func (h *Auth) SignInSubmit(c echo.Context) error {
	var f signInForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	email := tenancy.NormalizeEmail(f.Email)
	props := views.SignInPageProps{Shell: h.authShell(c, "Sign in"), Email: email, Next: localPath(f.Next)}
	ctx, ip, at := c.Request().Context(), clientIP(c.Request()), h.cfg.Clock()
	wait, err := throttle.ThrottleSignIn(ctx, h.cfg.Throttle, email, ip, at)
	if err != nil {
		return err
	}
	if wait > 0 {
		props.Error = fmt.Sprintf("Too many failed attempts. Wait %s and try again, or reset your password.", humanWait(wait))
		return render(c, http.StatusTooManyRequests, views.SignInPage(props))
	}
	user, err := models.Authenticate(ctx, h.db, email, f.Password)
	if errors.Is(err, tenancy.ErrBadCredentials) {
		LoggerFrom(c).Warn("sign-in failed", "email", email)
		props.Error = badCredentials
		return render(c, http.StatusUnauthorized, views.SignInPage(props))
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
	if err := h.startSession(c, user.ID, scope.AccountID()); err != nil {
		return err
	}
	return redirect(c, safeNext(f.Next))
}

// startSession replaces whatever session the browser had with a new one
// (new ID, so a planted cookie cannot be fixed on the user), and the CSRF
// token with a new one.
func (d *deps) startSession(c echo.Context, userID, accountID int64) error {
	return d.startSessionVia(c, userID, accountID, nil)
}

// startSessionVia starts a session; ssoAccount is the organization whose
// identity provider signed the user in, if one did.
func (d *deps) startSessionVia(c echo.Context, userID, accountID int64, ssoAccount *int64) error {
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
	if ssoAccount != nil {
		s.Values[valSSOAccount] = *ssoAccount
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
	if err := h.setFlash(c, flashSuccess, msg); err != nil {
		return err
	}
	return redirect(c, safeNext(f.Next))
}

func (d *deps) sendVerification(c echo.Context, user models.User) error {
	token, err := models.IssueEmailToken(c.Request().Context(), d.db, user, models.PurposeVerify)
	if err != nil {
		return err
	}
	link := d.cfg.link(paths.VerifyEmail(token))
	err = d.mail.Send(c.Request().Context(), Message{
		To:      user.Email,
		Subject: "Verify your email address for Switchboard",
		Body: "Hello " + user.Name + ",\n\nPlease confirm that this is your email address by opening this link:\n\n" + link +
			"\n\nThe link works once and expires in 48 hours. If you did not sign up for Switchboard, ignore this email.\n",
		Link: link,
	})
	if err != nil {
		LoggerFrom(c).Error("verification email failed", "err", err)
	}
	return err
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
	if email := tenancy.NormalizeEmail(f.Email); tenancy.ValidEmail(email) {
		q.Set("email", email)
	}
	return redirect(c, paths.WithQuery(paths.SignIn(), q))
}

// VerifyEmail uses a verification link. The link may be opened in a browser
// signed in as someone else; only the link's own user hears about it in
// their dashboard.
func (h *Auth) VerifyEmail(c echo.Context) error {
	verified, err := models.VerifyEmail(c.Request().Context(), h.db, c.Param("token"))
	if errors.Is(err, tenancy.ErrTokenInvalid) {
		return render(c, http.StatusBadRequest, views.MessagePage(views.MessagePageProps{
			Shell:     h.authShell(c, "Link not valid"),
			Message:   "This verification link is invalid, has expired or was already used. Sign in and ask for a new one from the banner.",
			LinkLabel: "Go to Switchboard", LinkHref: "/",
		}))
	}
	if err != nil {
		return err
	}
	if u, ok := UserFrom(c); ok && u.ID == verified.ID {
		if err := h.setFlash(c, flashSuccess, "Your email address is verified."); err != nil {
			return err
		}
		return redirect(c, "/")
	}
	return render(c, http.StatusOK, views.MessagePage(views.MessagePageProps{
		Shell: h.authShell(c, "Email verified"), Message: "Your email address is verified.", LinkLabel: "Sign in", LinkHref: paths.SignIn(),
	}))
}

// ResendVerification sends a new verification link to the signed-in user.
func (h *Auth) ResendVerification(c echo.Context) error {
	user, _ := UserFrom(c)
	back := landingFor(c.Request().Header.Get("Referer"), ScopeFrom(c))
	if user.Verified() {
		return redirect(c, back)
	}
	wait, err := throttle.ThrottleLink(c.Request().Context(), h.cfg.Throttle, models.PurposeVerify, user.Email, h.cfg.Clock())
	if err != nil {
		return err
	}
	if wait > 0 {
		if err := h.setFlash(c, flashNotice, "We just sent a link. Wait "+humanWait(wait)+" before asking again."); err != nil {
			return err
		}
		return redirect(c, back)
	}
	msg, kind := "We sent a new verification link to "+user.Email+".", flashSuccess
	if err := h.sendVerification(c, user); err != nil {
		msg, kind = "We could not send the email just now. Try again in a moment.", flashError
	}
	if err := h.setFlash(c, kind, msg); err != nil {
		return err
	}
	return redirect(c, back)
}

type forgotForm struct {
	Email string `form:"email"`
}

// ForgotPasswordPage asks for the email to send a reset link to.
func (h *Auth) ForgotPasswordPage(c echo.Context) error {
	return render(c, http.StatusOK, views.ForgotPasswordPage(views.ForgotPasswordPageProps{Shell: h.authShell(c, "Reset your password")}))
}

// ForgotPasswordSubmit sends a reset link if the email has an account, and
// says the same thing either way.
func (h *Auth) ForgotPasswordSubmit(c echo.Context) error {
	var f forgotForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	email := tenancy.NormalizeEmail(f.Email)
	props := views.ForgotPasswordPageProps{Shell: h.authShell(c, "Reset your password"), Email: email}
	if !tenancy.ValidEmail(email) {
		props.Errors = map[string]string{"email": "Enter an email address like name@example.com."}
		return render(c, http.StatusUnprocessableEntity, views.ForgotPasswordPage(props))
	}
	props.Sent = true
	ctx := c.Request().Context()
	// Throttled or not, the page says the same: it must not tell whether
	// the address has an account.
	wait, err := throttle.ThrottleLink(ctx, h.cfg.Throttle, models.PurposeReset, email, h.cfg.Clock())
	if err != nil {
		return err
	}
	if wait > 0 {
		return render(c, http.StatusOK, views.ForgotPasswordPage(props))
	}
	user, err := models.FindUserByEmail(ctx, h.db, email)
	if errors.Is(err, tenancy.ErrNotFound) {
		return render(c, http.StatusOK, views.ForgotPasswordPage(props))
	}
	if err != nil {
		return err
	}
	token, err := models.IssueEmailToken(ctx, h.db, user, models.PurposeReset)
	if err != nil {
		return err
	}
	link := h.cfg.link(paths.ResetPassword(token))
	if err := h.mail.Send(ctx, Message{
		To:      user.Email,
		Subject: "Reset your Switchboard password",
		Body: "Hello " + user.Name + ",\n\nSomeone (we hope you) asked to reset your Switchboard password. Choose a new one here:\n\n" + link +
			"\n\nThe link works once and expires in one hour. Setting a new password signs you out everywhere.\nIf you did not ask for this, ignore this email; your password stays as it is.\n",
		Link: link,
	}); err != nil {
		LoggerFrom(c).Error("reset email failed", "err", err)
	}
	return render(c, http.StatusOK, views.ForgotPasswordPage(props))
}

type resetForm struct {
	Password string `form:"password"`
}

func (h *Auth) invalidResetLink(c echo.Context) error {
	return render(c, http.StatusBadRequest, views.MessagePage(views.MessagePageProps{
		Shell:     h.authShell(c, "Link not valid"),
		Message:   "This password reset link is invalid, has expired or was already used. Links work once, for one hour.",
		LinkLabel: "Ask for a new link", LinkHref: paths.ForgotPassword(),
	}))
}

// ResetPasswordPage shows the new-password form of a live reset link.
func (h *Auth) ResetPasswordPage(c echo.Context) error {
	user, err := models.PeekEmailToken(c.Request().Context(), h.db, c.Param("token"), models.PurposeReset)
	if errors.Is(err, tenancy.ErrTokenInvalid) || errors.Is(err, tenancy.ErrNotFound) {
		return h.invalidResetLink(c)
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ResetPasswordPage(views.ResetPasswordPageProps{
		Shell: h.authShell(c, "Choose a new password"), Token: c.Param("token"), Email: user.Email,
	}))
}

// ResetPasswordSubmit sets the new password and ends every session.
func (h *Auth) ResetPasswordSubmit(c echo.Context) error {
	var f resetForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	token := c.Param("token")
	user, err := models.ResetPassword(ctx, h.db, token, f.Password)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		peek, perr := models.PeekEmailToken(ctx, h.db, token, models.PurposeReset)
		if perr != nil {
			return h.invalidResetLink(c)
		}
		return render(c, http.StatusUnprocessableEntity, views.ResetPasswordPage(views.ResetPasswordPageProps{
			Shell: h.authShell(c, "Choose a new password"), Token: token, Email: peek.Email, Errors: fe,
		}))
	}
	if errors.Is(err, tenancy.ErrTokenInvalid) || errors.Is(err, tenancy.ErrNotFound) {
		return h.invalidResetLink(c)
	}
	if err != nil {
		return err
	}
	if err := throttle.ForgetSignInFailures(ctx, h.cfg.Throttle, user.Email, clientIP(c.Request())); err != nil {
		return err
	}
	LoggerFrom(c).Info("password reset", "user_id", user.PublicID)
	return render(c, http.StatusOK, views.MessagePage(views.MessagePageProps{
		Shell:     h.authShell(c, "Password changed"),
		Message:   "Your password was changed and every session was signed out. Sign in with your new password.",
		LinkLabel: "Sign in", LinkHref: paths.WithQuery(paths.SignIn(), url.Values{"email": {user.Email}}),
	}))
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
