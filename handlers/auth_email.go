package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"switchboard/handlers/mail"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/views"
	"switchboard/views/emails"
	"switchboard/views/paths"
)

// sendVerification emails the user a new link to verify their address.
func (d *deps) sendVerification(c echo.Context, user models.User) error {
	ctx := c.Request().Context()
	token, err := models.IssueEmailToken(ctx, d.db, user, models.PurposeVerify)
	if err != nil {
		return err
	}
	e := emails.Verification{BaseURL: d.cfg.BaseURL, Token: token, Name: user.Name}
	subject, body, err := emails.RenderVerification(e)
	if err == nil {
		err = d.mail.Send(ctx, mail.Message{To: user.Email, Subject: subject, Body: body, Link: e.Link()})
	}
	if err != nil {
		LoggerFrom(c).Error("verification email failed", "err", err)
	}
	return err
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
		return h.flashRedirect(c, flashSuccess, "Your email address is verified.", "/")
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
		return h.flashRedirect(c, flashNotice, "We just sent a link. Wait "+humanWait(wait)+" before asking again.", back)
	}
	if err := h.sendVerification(c, user); err != nil {
		return h.flashRedirect(c, flashError, "We could not send the email just now. Try again in a moment.", back)
	}
	return h.flashRedirect(c, flashSuccess, "We sent a new verification link to "+user.Email+".", back)
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
	email, ok := tenancy.ParseEmail(f.Email)
	props := views.ForgotPasswordPageProps{Shell: h.authShell(c, "Reset your password"), Email: email}
	if !ok {
		props.Email = f.Email
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
	if err := h.sendPasswordReset(c, user); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ForgotPasswordPage(props))
}

// sendPasswordReset emails the user a link to choose a new password. A
// mail server's failure is logged, not returned: the page says the same
// whatever happened.
func (d *deps) sendPasswordReset(c echo.Context, user models.User) error {
	ctx := c.Request().Context()
	token, err := models.IssueEmailToken(ctx, d.db, user, models.PurposeReset)
	if err != nil {
		return err
	}
	e := emails.PasswordReset{BaseURL: d.cfg.BaseURL, Token: token, Name: user.Name}
	subject, body, err := emails.RenderPasswordReset(e)
	if err != nil {
		return err
	}
	if err := d.mail.Send(ctx, mail.Message{To: user.Email, Subject: subject, Body: body, Link: e.Link()}); err != nil {
		LoggerFrom(c).Error("reset email failed", "err", err)
	}
	return nil
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
