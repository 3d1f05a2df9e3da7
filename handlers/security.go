package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"switchboard/handlers/mail"
	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/views"
	"switchboard/views/emails"
	"switchboard/views/paths"
)

// Security handles Settings › Security and the second-factor sign-in step.
type Security struct{ *deps }

// totpIssuer names the dashboard in authenticator apps and to passkeys.
const totpIssuer = "Switchboard"

// securityState carries what a POST has to show back on the page.
type securityState struct {
	errs, disable, regenerate tenancy.FieldErrors
	recoveryCodes             []string
	// passkey: errors of adding a passkey, with the name typed.
	passkey     tenancy.FieldErrors
	passkeyName string
	// rowErrs: errors of renaming or removing the passkey passkeyRow, with
	// the name typed (rowName).
	passkeyRow int64
	rowErrs    tenancy.FieldErrors
	rowName    string
	// added names the passkey just added along with recovery codes.
	added string
}

func (h *Security) securityPage(c echo.Context, status int, st securityState) error {
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	fs, err := models.SecondFactorStatusOf(ctx, h.db, user.ID)
	if err != nil {
		return err
	}
	props := views.SecurityPageProps{
		TOTPOn: fs.TOTP, RecoveryLeft: fs.RecoveryLeft, Errors: st.errs, Disable: st.disable, Regenerate: st.regenerate,
		RecoveryCodes: st.recoveryCodes,
		PasskeysOn:    h.passkeys != nil, PasskeyErrors: st.passkey, PasskeyName: st.passkeyName,
		SecondFactorOn: fs.Enabled(), PasskeyAdded: st.added, HasPassword: user.PasswordHash != "",
		TOTPNeedsPassword: !h.passwordRecent(c),
	}
	keys, err := models.ListPasskeys(ctx, h.db, user.ID)
	if err != nil {
		return err
	}
	props.Passkeys = passkeyRows(keys)
	for i := range props.Passkeys {
		if props.Passkeys[i].ID == strconv.FormatInt(st.passkeyRow, 10) {
			props.Passkeys[i].Errors, props.Passkeys[i].NewName = st.rowErrs, st.rowName
		}
	}
	if fs.TOTPSince != nil {
		props.TOTPSince = dateOnly(*fs.TOTPSince)
	}
	if !fs.TOTP {
		enrol, err := models.PendingTOTP(ctx, h.db, h.box, user, totpIssuer)
		if err != nil {
			return err
		}
		props.Secret = enrol.Secret
		if props.QRCode, err = qrDataURL(enrol); err != nil {
			return err
		}
	}
	if props.Sessions, err = h.sessionRows(c, user.ID); err != nil {
		return err
	}
	if props.Shell, err = h.shell(c, "Security", "security"); err != nil {
		return err
	}
	return render(c, status, views.SecurityPage(props))
}

// qrDataURL renders the enrolment's otpauth:// URL as a PNG QR code, inline
// (no request leaves the page with the secret in it).
func qrDataURL(e models.TOTPEnrolment) (string, error) {
	key, err := e.Key()
	if err != nil {
		return "", err
	}
	img, err := key.Image(360, 360)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

// SecurityPage shows the user's second factors and sessions.
func (h *Security) SecurityPage(c echo.Context) error {
	return h.securityPage(c, http.StatusOK, securityState{})
}

type codeForm struct {
	Code string `form:"code"`
	Next string `form:"next"`
}

// TOTPSubmit confirms the authenticator app with a code from it, and shows
// the recovery codes once.
func (h *Security) TOTPSubmit(c echo.Context) error {
	var f totpForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	if wait, err := throttle.ThrottleSecondFactor(ctx, h.cfg.Throttle, user.PublicID, h.cfg.Clock()); err != nil {
		return err
	} else if wait > 0 {
		return h.securityPage(c, http.StatusTooManyRequests, securityState{errs: tenancy.FieldErrors{"code": "Too many wrong codes. Wait " + humanWait(wait) + " and try again."}})
	}
	// A session that has not proved the password lately (a cookie alone,
	// perhaps stolen) must, before it may tie an app of its own to the
	// account: the attempt was counted above, as a code's is.
	if !h.passwordRecent(c) {
		if err := models.ConfirmPassword(user, f.CurrentPassword, "set up the app"); err != nil {
			fe, _ := tenancy.AsFieldErrors(err)
			status := http.StatusUnauthorized // a wrong password, like one at sign-in
			if f.CurrentPassword == "" || user.PasswordHash == "" {
				status = http.StatusUnprocessableEntity
			}
			return h.securityPage(c, status, securityState{errs: fe})
		}
		if err := h.savePasswordProved(c); err != nil {
			return err
		}
	}
	codes, err := models.EnableTOTP(ctx, h.db, h.box, user.ID, f.Code, h.cfg.Clock())
	switch {
	case errors.Is(err, models.ErrCodeInvalid):
		// 401 like a wrong password at sign-in: the attempt was counted.
		return h.securityPage(c, http.StatusUnauthorized, securityState{errs: tenancy.FieldErrors{"code": "That code is not right. Check the time on your phone, and enter the code the app shows now."}})
	case errors.Is(err, models.ErrNoSecondFactor):
		return h.flashRedirect(c, flashNotice, "Two-factor authentication is already on.", paths.Security())
	case err != nil:
		return err
	}
	if err := throttle.SecondFactorPassed(ctx, h.cfg.Throttle, user.PublicID); err != nil {
		return err
	}
	if err := h.provedSecondFactor(c, models.AuthPasswordTOTP); err != nil {
		return err
	}
	LoggerFrom(c).Info("two-factor authentication turned on")
	h.notify(c, user, "two-factor authentication turned on", "Signing in now asks for a code from your authenticator app."+gaveRecoveryCodes)
	return h.securityPage(c, http.StatusOK, securityState{recoveryCodes: codes})
}

// totpForm turns the authenticator app on: a code from it, and the
// password when the session has not proved it lately (passwordRecent).
type totpForm struct {
	Code            string `form:"code"`
	CurrentPassword string `form:"current_password"`
}

// passwordProofLasts is how long after a session proved the password it
// may tie a new authenticator app to the account without proving it again.
const passwordProofLasts = 15 * time.Minute

// passwordRecent reports whether the session proved the user's password
// within passwordProofLasts (a session signed in by passkey or SSO alone
// never has).
func (d *deps) passwordRecent(c echo.Context) bool {
	at, _ := SessionFrom(c).Values[valPasswordAt].(string)
	sec, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return false
	}
	age := d.cfg.Clock().Sub(time.Unix(sec, 0))
	return age >= 0 && age < passwordProofLasts
}

// notePasswordProved marks the session as having proved the password at
// now; the caller saves the session.
func notePasswordProved(s *sessions.Session, now time.Time) {
	s.Values[valPasswordAt] = strconv.FormatInt(now.Unix(), 10)
}

// savePasswordProved marks the request's session as having proved the
// password now, and saves it: the password was checked outside a sign-in
// (setting up the app, adding a passkey).
func (d *deps) savePasswordProved(c echo.Context) error {
	s := SessionFrom(c)
	notePasswordProved(s, d.cfg.Clock())
	return s.Save(c.Request(), c.Response())
}

// gaveRecoveryCodes ends the notice of a first second factor.
var gaveRecoveryCodes = fmt.Sprintf(" We gave you %d recovery codes.", models.RecoveryCodeCount)

// provedSecondFactor counts the factor this session has just set up (and
// so used) as its second factor: a session signed in by password alone is
// now signed in by password and method; one signed in otherwise keeps its
// method.
func (h *Security) provedSecondFactor(c echo.Context, method models.AuthMethod) error {
	sess := SessionFrom(c)
	if m, _ := sess.Values[valMethod].(string); m != "" && models.AuthMethod(m) != models.AuthPassword {
		return nil
	}
	sess.Values[valMethod] = string(method)
	return sess.Save(c.Request(), c.Response())
}

// tooManyWrongAttempts counts an attempt at the user's password (or code)
// before it is checked, wherever a signed-in user confirms a change with
// it (the Security page, the profile's password), against the budget the
// sign-in's second step draws from, so guesses on any of them add up: a
// session alone (a stolen cookie) gets no more tries at the password than
// the sign-in gives. When the budget is spent it counts nothing and
// returns what to tell the user. throttle.SecondFactorPassed forgets the
// failures once one is right.
func (d *deps) tooManyWrongAttempts(c echo.Context, user models.User) (msg string, err error) {
	wait, err := throttle.ThrottleSecondFactor(c.Request().Context(), d.cfg.Throttle, user.PublicID, d.cfg.Clock())
	if err != nil || wait <= 0 {
		return "", err
	}
	return "Too many wrong attempts. Wait " + humanWait(wait) + " and try again.", nil
}

type disableForm struct {
	CurrentPassword string `form:"current_password"`
	Code            string `form:"code"`
}

// TOTPDisableSubmit turns the authenticator app off, given the password and
// a current code.
func (h *Security) TOTPDisableSubmit(c echo.Context) error {
	var f disableForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	if fs, err := models.SecondFactorStatusOf(ctx, h.db, user.ID); err != nil || !fs.TOTP {
		if err != nil {
			return err
		}
		return h.flashRedirect(c, flashNotice, "The authenticator app is already off.", paths.Security())
	}
	if msg, err := h.tooManyWrongAttempts(c, user); err != nil {
		return err
	} else if msg != "" {
		return h.securityPage(c, http.StatusTooManyRequests, securityState{disable: tenancy.FieldErrors{"code": msg}})
	}
	err := models.DisableTOTP(ctx, h.db, h.box, user.ID, f.CurrentPassword, f.Code, h.cfg.Clock())
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.securityPage(c, http.StatusUnauthorized, securityState{disable: fe})
	}
	if err != nil {
		return err
	}
	if err := throttle.SecondFactorPassed(ctx, h.cfg.Throttle, user.PublicID); err != nil {
		return err
	}
	LoggerFrom(c).Info("two-factor authentication turned off")
	if st, err := models.SecondFactorStatusOf(ctx, h.db, user.ID); err != nil {
		return err
	} else if st.Passkeys > 0 {
		h.notify(c, user, "authenticator app removed", "Signing in no longer asks for a code from your app; your passkeys and recovery codes still work.")
		return h.flashRedirect(c, flashSuccess, "The authenticator app is off. Your passkeys still sign you in.", paths.Security())
	}
	h.notify(c, user, "two-factor authentication turned off", "Signing in now takes only your password. Your recovery codes no longer work.")
	return h.flashRedirect(c, flashSuccess, "Two-factor authentication is off.", paths.Security())
}

type regenerateForm struct {
	CurrentPassword string `form:"current_password"`
}

// RecoveryCodesSubmit replaces the recovery codes, given the password.
func (h *Security) RecoveryCodesSubmit(c echo.Context) error {
	var f regenerateForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	if fs, err := models.SecondFactorStatusOf(ctx, h.db, user.ID); err != nil || !fs.Enabled() {
		if err != nil {
			return err
		}
		return h.flashRedirect(c, flashNotice, "Turn on two-factor authentication first.", paths.Security())
	}
	if msg, err := h.tooManyWrongAttempts(c, user); err != nil {
		return err
	} else if msg != "" {
		return h.securityPage(c, http.StatusTooManyRequests, securityState{regenerate: tenancy.FieldErrors{"current_password": msg}})
	}
	if !models.PasswordMatches(user, f.CurrentPassword) {
		return h.securityPage(c, http.StatusUnauthorized, securityState{regenerate: tenancy.FieldErrors{"current_password": "That is not your current password."}})
	}
	codes, err := models.RegenerateRecoveryCodes(ctx, h.db, user.ID)
	if errors.Is(err, models.ErrNoSecondFactor) {
		return h.flashRedirect(c, flashNotice, "Turn on two-factor authentication first.", paths.Security())
	}
	if err != nil {
		return err
	}
	if err := throttle.SecondFactorPassed(ctx, h.cfg.Throttle, user.PublicID); err != nil {
		return err
	}
	h.notify(c, user, "new recovery codes", "Your old recovery codes no longer work.")
	return h.securityPage(c, http.StatusOK, securityState{recoveryCodes: codes})
}

// notify emails the user about a security change and records it in the
// audit log of each of their organizations. A failed email or record is
// logged: the change is made either way.
func (d *deps) notify(c echo.Context, user models.User, change, detail string) {
	act := actor(c)
	if act.UserID == 0 {
		// The second step of a sign-in: the user is known, not yet signed in.
		act = tenancy.Actor{UserID: user.ID, Name: user.Name, IP: clientIP(c.Request())}
	}
	if err := models.RecordSecurityChange(c.Request().Context(), d.db, user, act, change); err != nil {
		LoggerFrom(c).Error("security change not recorded in the audit logs", "err", err, "change", change)
	}
	e := emails.SecurityChange{BaseURL: d.cfg.BaseURL, Name: user.Name, Change: change, Detail: detail, IP: clientIP(c.Request()), At: d.cfg.Clock()}
	subject, body, err := emails.RenderSecurityChange(e)
	if err == nil {
		err = d.mail.Send(c.Request().Context(), mail.Message{To: user.Email, Subject: subject, Body: body, Link: e.Link()})
	}
	if err != nil {
		LoggerFrom(c).Error("security notice email failed", "err", err, "change", change)
	}
}

// sessionRows lists the user's sessions for the page, this one first.
func (h *Security) sessionRows(c echo.Context, userID int64) ([]views.SessionRow, error) {
	list, err := models.ListUserSessions(c.Request().Context(), h.db, userID, h.cfg.Sessions)
	if err != nil {
		return nil, err
	}
	var current int64
	if rec := sessionRecord(c); rec != nil {
		current = rec.ID
	}
	rows := make([]views.SessionRow, 0, len(list))
	for _, s := range list {
		r := views.SessionRow{
			Device: describeUserAgent(s.UserAgent), Address: s.IP, Method: s.AuthMethod.Label(),
			Created: dateTime(s.CreatedAt), LastSeen: dateTime(s.LastSeenAt), ThisDevice: s.ID == current,
		}
		if r.Address == "" {
			r.Address = "unknown address"
		}
		if !r.ThisDevice {
			r.Revoke = paths.SecuritySessionRevoke(strconv.FormatInt(s.ID, 10))
			rows = append(rows, r)
		} else {
			rows = append([]views.SessionRow{r}, rows...)
		}
	}
	return rows, nil
}

// RevokeSessionSubmit ends one of the user's other sessions; another
// user's session is a 404.
func (h *Security) RevokeSessionSubmit(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	user, _ := UserFrom(c)
	if rec := sessionRecord(c); rec != nil && rec.ID == id {
		return h.flashRedirect(c, flashNotice, "To end this session, sign out.", paths.Security())
	}
	if err := models.RevokeUserSession(c.Request().Context(), h.db, user.ID, id); err != nil {
		return err
	}
	LoggerFrom(c).Info("session revoked", "session", id)
	return h.flashRedirect(c, flashSuccess, "Ended the session. That browser is signed out on its next request.", paths.Security())
}

// RevokeOthersSubmit ends every session of the user but this one.
func (h *Security) RevokeOthersSubmit(c echo.Context) error {
	user, _ := UserFrom(c)
	var keep int64
	if rec := sessionRecord(c); rec != nil {
		keep = rec.ID
	}
	n, err := models.RevokeOtherSessions(c.Request().Context(), h.db, user.ID, keep)
	if err != nil {
		return err
	}
	if n > 0 {
		h.notify(c, user, "other sessions signed out", fmt.Sprintf("%d other sessions were ended.", n))
	}
	return h.flashRedirect(c, flashSuccess, fmt.Sprintf("Signed out %d other sessions.", n), paths.Security())
}

// RequiredPage explains an organization's two-factor policy to a member
// who has no second factor, and links to the enrolment.
func (h *Security) RequiredPage(c echo.Context) error {
	user, _ := UserFrom(c)
	props := views.SecondFactorRequiredPageProps{}
	if org, err := tenancy.LoadScope(c.Request().Context(), h.db, user.ID, c.QueryParam("account")); err == nil {
		props.Organization = org.Account().Name
	}
	shell, err := h.shell(c, "Two-factor authentication required", "security")
	if err != nil {
		return err
	}
	props.Shell = shell
	return render(c, http.StatusOK, views.SecondFactorRequiredPage(props))
}

// SecondFactorPage is the sign-in step after a right password, for users
// with a second factor.
func (h *Auth) SecondFactorPage(c echo.Context) error {
	if _, ok := UserFrom(c); ok {
		return redirect(c, safeNext(c.QueryParam("next")))
	}
	user, ok := h.pendingSignIn(c)
	if !ok {
		return redirect(c, paths.SignIn())
	}
	return h.secondFactorPage(c, http.StatusOK, user, c.QueryParam("next"), "")
}

// secondFactorPage renders the step with what the user can answer it
// with: a code (app or recovery code) and, when they have one, a passkey.
func (h *Auth) secondFactorPage(c echo.Context, status int, user models.User, next, msg string) error {
	fs, err := models.SecondFactorStatusOf(c.Request().Context(), h.db, user.ID)
	if err != nil {
		return err
	}
	return render(c, status, views.SecondFactorPage(views.SecondFactorPageProps{
		Shell: h.authShell(c, "Two-factor authentication"), Next: localPath(next), Error: msg,
		Code: fs.TOTP || fs.RecoveryLeft > 0, TOTP: fs.TOTP, Passkey: fs.Passkeys > 0 && h.passkeys != nil,
	}))
}

// pendingSignIn is the user whose second factor this session still owes,
// while the step is open (SecondFactorWindow after the password).
func (h *Auth) pendingSignIn(c echo.Context) (models.User, bool) {
	user, ok := pendingUserFrom(c)
	rec := sessionRecord(c)
	if !ok || rec == nil || tenancy.Now().Sub(rec.CreatedAt) > models.SecondFactorWindow {
		return models.User{}, false
	}
	return user, true
}

// SecondFactorSubmit checks the code (throttled per user, like passwords)
// and, when it is right, starts the real session with a new token.
func (h *Auth) SecondFactorSubmit(c echo.Context) error {
	var f codeForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	user, ok := h.pendingSignIn(c)
	if !ok {
		return h.flashlessSignIn(c)
	}
	ctx, at := c.Request().Context(), h.cfg.Clock()
	if answered, err := h.secondStepThrottled(c, user, f.Next); answered || err != nil {
		return err
	}
	used, err := models.VerifySecondFactor(ctx, h.db, h.box, user.ID, f.Code, at)
	if errors.Is(err, models.ErrCodeInvalid) {
		LoggerFrom(c).Warn("second factor refused", "user_id", user.PublicID)
		h.cfg.Metrics.SignIn("refused")
		return h.secondFactorPage(c, http.StatusUnauthorized, user, f.Next, "That code is not valid. Codes from the app work once; recovery codes work once.")
	}
	if err != nil {
		return err
	}
	if err := h.passSecondStep(c, user, models.AuthPasswordTOTP); err != nil {
		return err
	}
	if used == models.FactorRecovery {
		left, err := models.SecondFactorStatusOf(ctx, h.db, user.ID)
		if err != nil {
			return err
		}
		h.notify(c, user, "a recovery code was used to sign in", fmt.Sprintf("You have %d unused recovery codes left.", left.RecoveryLeft))
		return h.flashRedirect(c, flashNotice, fmt.Sprintf("You signed in with a recovery code; %d are left. Generate new ones in Settings › Security when you run low.", left.RecoveryLeft), safeNext(f.Next))
	}
	return redirect(c, safeNext(f.Next))
}

// secondStepThrottled answers the second step with 429 while the user's
// failed second factors are throttled (like passwords, whatever the factor
// tried); answered is true when it did.
func (h *Auth) secondStepThrottled(c echo.Context, user models.User, next string) (answered bool, err error) {
	wait, err := throttle.ThrottleSecondFactor(c.Request().Context(), h.cfg.Throttle, user.PublicID, h.cfg.Clock())
	if err != nil || wait <= 0 {
		return false, err
	}
	h.cfg.Metrics.SignIn("throttled")
	return true, h.secondFactorPage(c, http.StatusTooManyRequests, user, next, fmt.Sprintf("Too many failed attempts. Wait %s and try again.", humanWait(wait)))
}

// passSecondStep clears the user's failed second factors and starts the
// real session, signed in by method, with a new token.
func (h *Auth) passSecondStep(c echo.Context, user models.User, method models.AuthMethod) error {
	if err := throttle.SecondFactorPassed(c.Request().Context(), h.cfg.Throttle, user.PublicID); err != nil {
		return err
	}
	accountID, _ := SessionFrom(c).Values[valAccountID].(int64)
	if err := h.startSessionWith(c, user.ID, accountID, sessionStart{method: method}); err != nil {
		return err
	}
	h.cfg.Metrics.SignIn("success")
	return nil
}

// flashlessSignIn sends a step that expired (or never began) back to the
// password.
func (h *Auth) flashlessSignIn(c echo.Context) error {
	if rec := sessionRecord(c); rec != nil {
		if err := models.DeleteSession(c.Request().Context(), h.db, rec.ID); err != nil {
			return err
		}
	}
	return redirect(c, paths.SignIn())
}

// describeUserAgent names a browser and system from a User-Agent header,
// roughly, as "Firefox on Linux".
func describeUserAgent(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chromium/", "Chromium"},
		{"HeadlessChrome/", "Chrome (headless)"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}
