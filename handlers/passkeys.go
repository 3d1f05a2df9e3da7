package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/views"
	"switchboard/views/paths"
)

// Passkeys (WebAuthn). Each ceremony takes two requests: a POST for the
// options (JSON, for navigator.credentials; static/js/passkeys.js) and a
// form POST of the browser's answer in the field credential. The challenge
// stays on the server (models.WebAuthnChallenge); the browser holds only
// the token naming it, in an HttpOnly cookie, and each challenge is
// answered at most once.

// passkeyCookie carries the token of the browser's WebAuthn ceremony.
const passkeyCookie = "switchboard_webauthn"

// passkeyForm is the answer of a ceremony.
type passkeyForm struct {
	Credential string `form:"credential"`
	Name       string `form:"name"`
	Next       string `form:"next"`
}

// passkeysOn is a 404 for every passkey route while the deployment cannot
// have passkeys.
func (d *deps) passkeysOn() error {
	if d.passkeys == nil {
		return tenancy.ErrNotFound
	}
	return nil
}

// passkeyOptions answers the options of a ceremony as JSON, and gives the
// browser the ceremony's token.
func (d *deps) passkeyOptions(c echo.Context, opts models.PasskeyOptions) error {
	c.SetCookie(&http.Cookie{
		Name: passkeyCookie, Value: opts.Token, Path: "/", MaxAge: int(models.PasskeyChallengeTTL / time.Second),
		HttpOnly: true, Secure: d.cfg.secure(), SameSite: http.SameSiteStrictMode,
	})
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSONBlob(http.StatusOK, opts.JSON)
}

// passkeyError answers an options request that cannot be served, as JSON
// for the script to show.
func passkeyError(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"error": msg})
}

// passkeyFieldErrors answers an options request refused for what its
// form holds: each message by field, for the script to show under the
// field, and all of them in a sentence.
func passkeyFieldErrors(c echo.Context, status int, fe tenancy.FieldErrors) error {
	return c.JSON(status, map[string]any{"error": fieldMessages(fe), "fields": fe})
}

// passkeyToken takes the ceremony's token from its cookie, and drops the
// cookie: whatever happens next, the ceremony is over.
func (d *deps) passkeyToken(c echo.Context) string {
	ck, err := c.Cookie(passkeyCookie)
	c.SetCookie(&http.Cookie{Name: passkeyCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: d.cfg.secure(), SameSite: http.SameSiteStrictMode})
	if err != nil {
		return ""
	}
	return ck.Value
}

// passkeyRefusal is what the user reads when a ceremony's answer is
// refused; ok is false for errors that are not a refusal.
func passkeyRefusal(err error, credential string) (string, bool) {
	switch {
	case credential == "" && (errors.Is(err, models.ErrPasskeyRefused) || errors.Is(err, models.ErrPasskeyChallenge)):
		return "Your browser sent no passkey. Passkeys need JavaScript and a browser that supports them.", true
	case errors.Is(err, models.ErrPasskeyChallenge):
		return "That passkey request expired or was already used. Try again.", true
	case errors.Is(err, models.ErrPasskeyRefused):
		return "That passkey was not accepted. Try again, or use another way to sign in.", true
	}
	return "", false
}

type passkeyOptionsForm struct {
	CurrentPassword string `form:"current_password"`
}

// PasskeyOptions starts registering a passkey, given the user's password
// (throttled like the other security changes). The password is checked
// here, before any challenge is issued, and PasskeySubmit answers only a
// challenge issued here.
func (h *Security) PasskeyOptions(c echo.Context) error {
	if err := h.passkeysOn(); err != nil {
		return err
	}
	var f passkeyOptionsForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	if msg, err := h.tooManyWrongAttempts(c, user); err != nil {
		return err
	} else if msg != "" {
		return passkeyFieldErrors(c, http.StatusTooManyRequests, tenancy.FieldErrors{"current_password": msg})
	}
	opts, err := h.passkeys.BeginPasskeyRegistration(ctx, h.db, user, f.CurrentPassword)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return passkeyFieldErrors(c, http.StatusUnprocessableEntity, fe)
	}
	if err != nil {
		return err
	}
	if err := throttle.SecondFactorPassed(ctx, h.cfg.Throttle, user.PublicID); err != nil {
		return err
	}
	// The password was proved, as at a sign-in: setting up the app next
	// need not ask for it again (passwordRecent).
	if err := h.savePasswordProved(c); err != nil {
		return err
	}
	return h.passkeyOptions(c, opts)
}

// PasskeySubmit verifies and stores the new passkey.
func (h *Security) PasskeySubmit(c echo.Context) error {
	if err := h.passkeysOn(); err != nil {
		return err
	}
	var f passkeyForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	user, _ := UserFrom(c)
	p, codes, err := h.passkeys.FinishPasskeyRegistration(c.Request().Context(), h.db, user, h.passkeyToken(c), []byte(f.Credential), f.Name)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.securityPage(c, http.StatusUnprocessableEntity, securityState{passkey: fe, passkeyName: f.Name})
	}
	if msg, ok := passkeyRefusal(err, f.Credential); ok {
		LoggerFrom(c).Warn("passkey registration refused", "err", err)
		return h.securityPage(c, http.StatusUnprocessableEntity, securityState{passkey: tenancy.FieldErrors{"name": msg}, passkeyName: f.Name})
	}
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("passkey added", "passkey", p.ID)
	if err := h.provedSecondFactor(c, models.AuthPasswordPasskey); err != nil {
		return err
	}
	detail := "The passkey “" + p.Name + "” can now sign in to your account, alone or after your password."
	if len(codes) > 0 {
		// The first second factor: its recovery codes, shown this once.
		h.notify(c, user, "passkey added", detail+gaveRecoveryCodes)
		return h.securityPage(c, http.StatusOK, securityState{recoveryCodes: codes, added: p.Name})
	}
	h.notify(c, user, "passkey added", detail)
	return h.flashRedirect(c, flashSuccess, "Added the passkey “"+p.Name+"”.", paths.Security())
}

// idParam is the :id of a route (a passkey's, a session's); anything but
// a positive number is a 404.
func idParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, tenancy.ErrNotFound
	}
	return id, nil
}

type passkeyRenameForm struct {
	Name string `form:"name"`
}

// PasskeyRenameSubmit renames one of the user's passkeys; another user's is
// a 404.
func (h *Security) PasskeyRenameSubmit(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var f passkeyRenameForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	user, _ := UserFrom(c)
	p, err := models.RenamePasskey(c.Request().Context(), h.db, user.ID, id, f.Name)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.securityPage(c, http.StatusUnprocessableEntity, securityState{passkeyRow: id, rowErrs: fe, rowName: f.Name})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Renamed the passkey to “"+p.Name+"”.", paths.Security())
}

type passkeyRemoveForm struct {
	CurrentPassword string `form:"current_password"`
}

// PasskeyRemoveSubmit removes one of the user's passkeys, given their
// password (throttled like the other security changes); another user's is
// a 404.
func (h *Security) PasskeyRemoveSubmit(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var f passkeyRemoveForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	if msg, err := h.tooManyWrongAttempts(c, user); err != nil {
		return err
	} else if msg != "" {
		return h.securityPage(c, http.StatusTooManyRequests, securityState{passkeyRow: id, rowErrs: tenancy.FieldErrors{"current_password": msg}})
	}
	p, err := models.RemovePasskey(ctx, h.db, user.ID, id, f.CurrentPassword)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.securityPage(c, http.StatusUnauthorized, securityState{passkeyRow: id, rowErrs: fe})
	}
	if err != nil {
		return err
	}
	if err := throttle.SecondFactorPassed(ctx, h.cfg.Throttle, user.PublicID); err != nil {
		return err
	}
	LoggerFrom(c).Info("passkey removed", "passkey", p.ID)
	h.notify(c, user, "passkey removed", "The passkey “"+p.Name+"” no longer signs in to your account.")
	return h.flashRedirect(c, flashSuccess, "Removed the passkey “"+p.Name+"”.", paths.Security())
}

// passkeyRows are the user's passkeys for the page.
func passkeyRows(list []models.Passkey) []views.PasskeyRow {
	rows := make([]views.PasskeyRow, 0, len(list))
	for _, p := range list {
		id := strconv.FormatInt(p.ID, 10)
		r := views.PasskeyRow{ID: id, Name: p.Name, Added: dateOnly(p.CreatedAt), LastUsed: "never used",
			Rename: paths.SecurityPasskeyRename(id), Remove: paths.SecurityPasskeyRemove(id)}
		if p.LastUsedAt != nil {
			r.LastUsed = "last used " + dateTime(*p.LastUsedAt)
		}
		rows = append(rows, r)
	}
	return rows
}

// SecondFactorPasskeyOptions starts the second step with a passkey.
func (h *Auth) SecondFactorPasskeyOptions(c echo.Context) error {
	if err := h.passkeysOn(); err != nil {
		return err
	}
	user, ok := h.pendingSignIn(c)
	if !ok {
		return passkeyError(c, http.StatusUnauthorized, "This sign-in expired. Sign in again.")
	}
	opts, err := h.passkeys.BeginPasskeySignIn(c.Request().Context(), h.db, user)
	if errors.Is(err, models.ErrNoPasskey) {
		return passkeyError(c, http.StatusUnprocessableEntity, "You have no passkey. Enter a code instead.")
	}
	if err != nil {
		return err
	}
	return h.passkeyOptions(c, opts)
}

// SecondFactorPasskeySubmit checks the passkey (throttled as codes are)
// and, when it is right, starts the real session with a new token.
func (h *Auth) SecondFactorPasskeySubmit(c echo.Context) error {
	if err := h.passkeysOn(); err != nil {
		return err
	}
	var f passkeyForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	token := h.passkeyToken(c)
	user, ok := h.pendingSignIn(c)
	if !ok {
		return h.flashlessSignIn(c)
	}
	if answered, err := h.secondStepThrottled(c, user, f.Next); answered || err != nil {
		return err
	}
	_, err := h.passkeys.FinishPasskeySignIn(c.Request().Context(), h.db, user, token, []byte(f.Credential))
	if msg, ok := passkeyRefusal(err, f.Credential); ok {
		LoggerFrom(c).Warn("passkey refused as a second factor", "user_id", user.PublicID, "err", err)
		h.cfg.Metrics.SignIn("refused")
		return h.secondFactorPage(c, http.StatusUnauthorized, user, f.Next, msg)
	}
	if err != nil {
		return err
	}
	if err := h.passSecondStep(c, user, models.AuthPasswordPasskey); err != nil {
		return err
	}
	return redirect(c, safeNext(f.Next))
}

// PasskeySignInOptions starts a sign-in with a passkey alone, throttled
// per address (each start leaves a challenge on the server).
func (h *Auth) PasskeySignInOptions(c echo.Context) error {
	if err := h.passkeysOn(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	wait, err := throttle.ThrottlePasskeySignIn(ctx, h.cfg.Throttle, clientIP(c.Request()), h.cfg.Clock())
	if err != nil {
		return err
	}
	if wait > 0 {
		h.cfg.Metrics.SignIn("throttled")
		return passkeyError(c, http.StatusTooManyRequests, fmt.Sprintf("Too many sign-ins from here. Wait %s and try again.", humanWait(wait)))
	}
	opts, err := h.passkeys.BeginPasswordlessSignIn(ctx, h.db)
	if err != nil {
		return err
	}
	return h.passkeyOptions(c, opts)
}

// PasskeySignInSubmit signs in the passkey's user: a passkey with user
// verification is both factors, so no second step follows.
func (h *Auth) PasskeySignInSubmit(c echo.Context) error {
	if err := h.passkeysOn(); err != nil {
		return err
	}
	var f passkeyForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _, err := h.passkeys.FinishPasswordlessSignIn(ctx, h.db, h.passkeyToken(c), []byte(f.Credential))
	if msg, ok := passkeyRefusal(err, f.Credential); ok {
		LoggerFrom(c).Warn("passkey sign-in refused", "err", err)
		h.cfg.Metrics.SignIn("refused")
		return h.signInPage(c, http.StatusUnauthorized, views.SignInPageProps{Next: localPath(f.Next), Error: msg})
	}
	if err != nil {
		return err
	}
	scope, err := tenancy.PersonalScope(ctx, h.db, user.ID)
	if err != nil {
		return err
	}
	if err := h.startSessionWith(c, user.ID, scope.AccountID(), sessionStart{method: models.AuthPasskey}); err != nil {
		return err
	}
	LoggerFrom(c).Info("signed in with a passkey", "user_id", user.PublicID)
	h.cfg.Metrics.SignIn("success")
	return redirect(c, safeNext(f.Next))
}
