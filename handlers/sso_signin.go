package handlers

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/crewjam/saml"
	"github.com/labstack/echo/v4"

	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// Metadata serves the organization's service provider metadata, to paste
// into (or fetch from) the identity provider.
func (h *SSO) Metadata(c echo.Context) error {
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	sp, err := h.serviceProvider(c.Request().Context(), sa)
	if err != nil {
		return err
	}
	buf, err := xml.MarshalIndent(sp.Metadata(), "", "  ")
	if err != nil {
		return err
	}
	if c.QueryParam("download") != "" {
		c.Response().Header().Set("Content-Disposition", `attachment; filename="switchboard-`+sa.Account.SlugOrEmpty()+`-sp-metadata.xml"`)
	}
	return c.Blob(http.StatusOK, "application/samlmetadata+xml", append([]byte(xml.Header), buf...))
}

// startSSO sends the browser to the IdP with an AuthnRequest it remembers.
func (h *SSO) startSSO(c echo.Context, sa sso.SSOAccount, purpose string, userID *int64) error {
	if sa.Connection.IDPMetadataXML == "" {
		return h.refuse(c, http.StatusNotFound, "Single sign-on is not set up for this organization.", "no connection", nil)
	}
	ctx := c.Request().Context()
	sp, err := h.serviceProvider(ctx, sa)
	if err != nil {
		return err
	}
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return err
	}
	if err := sso.RecordSSORequest(ctx, h.db, sa, req.ID, purpose, userID); err != nil {
		return err
	}
	if purpose == sso.SSOLogin || purpose == sso.SSOLinking {
		// Only this browser may finish the sign-in: it carries the nonce.
		nonce := tenancy.NewToken()
		if err := sso.BindSSOLogin(ctx, h.db, sa, req.ID, tenancy.HashToken(nonce)); err != nil {
			return err
		}
		http.SetCookie(c.Response(), h.nonceCookie(sa, req.ID, nonce, int(sso.SSORequestTTL/time.Second)))
	}
	u, err := req.Redirect("", sp)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u.String())
}

// Login starts an SP-initiated sign-in to the organization.
func (h *SSO) Login(c echo.Context) error {
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	return h.startSSO(c, sa, sso.SSOLogin, nil)
}

// ssoCookie, followed by a request's ID, names the cookie that carries the
// nonce of a sign-in this browser started.
const ssoCookie = "switchboard_sso_"

// nonceCookie carries the nonce of one sign-in, to the page that finishes it
// only. A cookie per sign-in lets sign-ins started in two tabs both finish:
// with one cookie, the second would overwrite the first one's nonce.
// maxAge -1 deletes it.
func (h *SSO) nonceCookie(sa sso.SSOAccount, requestID, nonce string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: ssoCookie + requestID, Value: nonce, Path: paths.SSOComplete(sa.Account.SlugOrEmpty()),
		MaxAge: maxAge, HttpOnly: true, Secure: h.cfg.secure(), SameSite: http.SameSiteLaxMode}
}

// Complete finishes an SP-initiated sign-in in the browser that started it
// (its cookie carries the nonce), and starts the session.
func (h *SSO) Complete(c echo.Context) error {
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	requestID := c.QueryParam("request")
	var hash string
	if ck, err := c.Cookie(ssoCookie + requestID); err == nil && ck.Value != "" {
		hash = tenancy.HashToken(ck.Value)
	}
	userID, err := sso.TakeSSOLogin(c.Request().Context(), h.db, sa, requestID, hash)
	if errors.Is(err, sso.ErrSSOOtherBrowser) {
		return h.refuse(c, http.StatusForbidden, "This sign-in was started in another browser, or already finished. Start again from the sign-in page.",
			"sign-in finished without the starting browser's nonce (login CSRF?) or twice", nil)
	}
	if err != nil {
		return err
	}
	http.SetCookie(c.Response(), h.nonceCookie(sa, requestID, "", -1))
	return h.signIn(c, sa, userID)
}

// signIn starts a session in the organization, marked as signed in through
// its IdP.
func (h *SSO) signIn(c echo.Context, sa sso.SSOAccount, userID int64) error {
	ssoAccount := sa.Account.ID
	if err := h.startSessionVia(c, userID, sa.Account.ID, &ssoAccount); err != nil {
		return err
	}
	h.cfg.Metrics.SSO("success")
	LoggerFrom(c).Info("signed in through SSO", "organization", sa.Account.PublicID)
	return c.Redirect(http.StatusSeeOther, "/")
}

// finishLink ties the identity a linking sign-in brought back to the user
// who started it, then finishes like a sign-in: in the starting browser.
func (h *SSO) finishLink(c echo.Context, sa sso.SSOAccount, req sso.SSORequest, id sso.SSOIdentity) error {
	if req.UserID == nil {
		return h.refuse(c, http.StatusForbidden, "This sign-in response cannot link an identity.", "link request without a user", nil)
	}
	ctx := c.Request().Context()
	scope, err := sso.LinkSSOIdentity(ctx, h.db, sa, *req.UserID, id.Subject(), clientIP(c.Request()))
	switch {
	case errors.Is(err, sso.ErrSSOIdentityTaken):
		return h.refuse(c, http.StatusConflict, "This identity at "+sa.Account.Name+"'s identity provider is already linked to another Switchboard user.", "subject linked to another user", nil)
	case errors.Is(err, sso.ErrSSONotMember):
		return h.refuse(c, http.StatusForbidden, "You are not a member of "+sa.Account.Name+" any more.", "linking user is not a member", nil)
	case errors.Is(err, sso.ErrSSOLinkUnverified):
		return h.refuse(c, http.StatusForbidden, "Verify your email address before linking an identity: open the link we emailed you.", "linking user's address not verified", nil)
	case errors.Is(err, sso.ErrSSONoSubject):
		return h.refuse(c, http.StatusForbidden, sa.Account.Name+"'s identity provider sends a different name for you at every sign-in, so it cannot be linked. Ask an administrator to send a persistent NameID or your email as the NameID.",
			"no lasting NameID to link", nil)
	case err != nil:
		return err
	}
	if err := sso.FinishSSOLogin(ctx, h.db, sa, req.ID, scope.UserID()); err != nil {
		return h.refuse(c, http.StatusForbidden, "This sign-in response was already used. Start again.", "request consumed concurrently", nil)
	}
	LoggerFrom(c).Info("SSO identity linked", "organization", sa.Account.PublicID)
	return c.Redirect(http.StatusSeeOther, paths.WithQuery(paths.SSOComplete(sa.Account.SlugOrEmpty()), url.Values{"request": {req.ID}}))
}

// LinkSubmit starts a sign-in at the organization's IdP that links the
// identity it brings back to the signed-in user.
func (h *SSO) LinkSubmit(c echo.Context) error {
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	user, _ := UserFrom(c)
	// Only members link; anyone else learns nothing of the organization.
	if _, err := tenancy.ScopeForSession(c.Request().Context(), h.db, user.ID, sa.Account.ID); err != nil {
		return err
	}
	if !user.Verified() {
		return h.flashRedirect(c, flashError, "Verify your email address before linking an identity: open the link we emailed you.", paths.Profile())
	}
	uid := user.ID
	return h.startSSO(c, sa, sso.SSOLinking, &uid)
}

// UnlinkSubmit forgets the identity the user linked at the organization's
// IdP.
func (h *SSO) UnlinkSubmit(c echo.Context) error {
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	user, _ := UserFrom(c)
	scope, err := tenancy.ScopeForSession(c.Request().Context(), h.db, user.ID, sa.Account.ID)
	if err != nil {
		return err
	}
	if err := sso.UnlinkSSOIdentity(c.Request().Context(), h.db, scope, actor(c)); err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Your identity at "+sa.Account.Name+"'s identity provider is no longer linked.", paths.Profile())
}
