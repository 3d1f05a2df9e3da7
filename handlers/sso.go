package handlers

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/labstack/echo/v4"
	dsig "github.com/russellhaering/goxmldsig"

	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

func init() {
	// Allow at most 90 seconds of clock skew between an IdP and us.
	saml.MaxClockSkew = 90 * time.Second
}

// SSO handles SAML single sign-on: Switchboard is the service provider, one
// per organization, at /sso/{slug}/….
type SSO struct {
	*deps
	// keyMu guards key and cert, read from the database on first use. A
	// failed read is not remembered: the next request tries again.
	keyMu sync.Mutex
	key   *rsa.PrivateKey
	cert  *x509.Certificate
	// allowPrivateMetadataHosts lets tests fetch metadata from loopback.
	allowPrivateMetadataHosts bool
}

func (h *SSO) spKey(ctx context.Context) (*rsa.PrivateKey, *x509.Certificate, error) {
	h.keyMu.Lock()
	defer h.keyMu.Unlock()
	if h.key == nil {
		key, cert, err := sso.LoadSPKey(ctx, h.db)
		if err != nil {
			return nil, nil, err
		}
		h.key, h.cert = key, cert
	}
	return h.key, h.cert, nil
}

// spURLs are the organization's service provider addresses.
func (h *SSO) spURLs(slug string) (entityID, acs, metadata string) {
	return h.cfg.link(paths.SSOMetadata(slug)), h.cfg.link(paths.SSOACS(slug)), h.cfg.link(paths.SSOMetadata(slug))
}

// serviceProvider builds the organization's service provider.
func (h *SSO) serviceProvider(ctx context.Context, sa sso.SSOAccount) (*saml.ServiceProvider, error) {
	key, cert, err := h.spKey(ctx)
	if err != nil {
		return nil, err
	}
	entityID, acs, metadata := h.spURLs(sa.Account.SlugOrEmpty())
	acsURL, _ := url.Parse(acs)
	metadataURL, _ := url.Parse(metadata)
	sp := &saml.ServiceProvider{
		EntityID:                         entityID,
		Key:                              key,
		Certificate:                      cert,
		AcsURL:                           *acsURL,
		MetadataURL:                      *metadataURL,
		AllowIDPInitiated:                sa.Connection.AllowIDPInitiated,
		SignatureMethod:                  dsig.RSASHA256SignatureMethod,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat,
		ReplayCache:                      sso.ReplayCache{DB: h.db},
		MetadataValidDuration:            7 * 24 * time.Hour,
	}
	if sa.Connection.IDPMetadataXML != "" {
		if sp.IDPMetadata, err = sa.Connection.IDPMetadata(); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// orgFromSlug finds the organization of an /sso/{slug}/… address.
func (h *SSO) orgFromSlug(c echo.Context) (sso.SSOAccount, error) {
	sa, err := sso.FindSSOBySlug(c.Request().Context(), h.db, c.Param("slug"))
	if errors.Is(err, tenancy.ErrNotFound) && sa.Account.ID != 0 {
		// The organization exists but has no connection: only its metadata
		// can be served (to set the IdP up first).
		return sa, nil
	}
	return sa, err
}

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

// maxSAMLResponse bounds the SAMLResponse the ACS reads.
const maxSAMLResponse = 256 << 10

// inResponseTo reads, without trusting it, which request a response claims
// to answer, to know which request ID to accept. The signature check that
// follows decides whether the response is genuine.
func inResponseTo(encoded string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return ""
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return ""
	}
	return doc.Root().SelectAttrValue("InResponseTo", "")
}

// ACS receives the IdP's response (HTTP-POST, cross-site by design: this
// route has no CSRF check and reads no session). Anything wrong refuses the
// response with a logged reason and creates no session.
func (h *SSO) ACS(c echo.Context) error {
	ctx := c.Request().Context()
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	if sa.Connection.IDPMetadataXML == "" {
		return h.refuse(c, http.StatusNotFound, "Single sign-on is not set up for this organization.", "no connection", nil)
	}
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxSAMLResponse+4096)
	if err := r.ParseForm(); err != nil {
		return h.refuse(c, http.StatusBadRequest, "The sign-in response could not be read.", "unreadable form: "+err.Error(), nil)
	}
	encoded := r.PostForm.Get("SAMLResponse")
	if encoded == "" || len(encoded) > maxSAMLResponse || r.PostForm.Get("SAMLart") != "" {
		return h.refuse(c, http.StatusBadRequest, "The sign-in response is missing or too large.", "no usable SAMLResponse", nil)
	}
	// Only the HTTP-POST binding: no artifact resolution from the query.
	r.Form = r.PostForm
	var possible []string
	var request *sso.SSORequest
	if id := inResponseTo(encoded); id != "" {
		open, err := sso.OpenSSORequest(ctx, h.db, sa, id)
		if errors.Is(err, tenancy.ErrNotFound) {
			return h.refuse(c, http.StatusForbidden, "This sign-in response does not answer a sign-in we started, or was already used. Start again.",
				"InResponseTo "+id+" was never issued by this organization's SP, expired or was already consumed", nil)
		}
		if err != nil {
			return err
		}
		request, possible = &open, []string{id}
	} else if !sa.Connection.AllowIDPInitiated {
		return h.refuse(c, http.StatusForbidden, "Sign-ins started at the identity provider are turned off for this organization. Start from Switchboard's sign-in page.",
			"unsolicited response while IdP-initiated sign-in is off", nil)
	}
	sp, err := h.serviceProvider(ctx, sa)
	if err != nil {
		return err
	}
	assertion, err := sp.ParseResponse(r, possible)
	if err != nil {
		reason := err.Error()
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			reason = ire.PrivateErr.Error()
		}
		return h.refuse(c, http.StatusForbidden, "The identity provider's response was refused.", reason, request)
	}
	identity := identityOf(assertion)
	if request != nil && request.Purpose == sso.SSOTest {
		return h.finishTest(c, sa, *request, identity, "")
	}
	if request != nil && request.Purpose == sso.SSOLinking {
		return h.finishLink(c, sa, *request, identity)
	}
	email, name, err := sa.Connection.MapIdentity(identity)
	if err != nil {
		return h.refuse(c, http.StatusForbidden, "The identity provider did not say who you are in a way Switchboard understands.", err.Error(), nil)
	}
	scope, err := sso.SSOSignIn(ctx, h.db, sa, sso.SSOSignInInput{Subject: identity.Subject(), Email: email, Name: name, IP: clientIP(r)})
	switch {
	case errors.Is(err, sso.ErrSSODomain):
		return h.refuse(c, http.StatusForbidden, email+" is not an address of "+sa.Account.Name+".", "email outside the organization's domains: "+email, nil)
	case errors.Is(err, sso.ErrSSONotMember):
		return h.refuse(c, http.StatusForbidden, email+" is not a member of "+sa.Account.Name+". Ask an administrator for an invitation.", "not a member and JIT off: "+email, nil)
	case errors.Is(err, sso.ErrSSOUnprovedDomain):
		return h.refuse(c, http.StatusForbidden, sa.Account.Name+" has not proved that it owns the domain of "+email+
			", so its identity provider cannot sign you in by that address. If you are a member, sign in with your password and link your identity in Settings › Profile.",
			"unproved domain and no linked identity: "+email, nil)
	case err != nil:
		return err
	}
	if request != nil {
		// SP-initiated: the browser that started the sign-in finishes it,
		// so a response cannot be planted in someone else's browser.
		if err := sso.FinishSSOLogin(ctx, h.db, sa, request.ID, scope.UserID()); err != nil {
			return h.refuse(c, http.StatusForbidden, "This sign-in response was already used. Start again.", "request consumed concurrently", nil)
		}
		return c.Redirect(http.StatusSeeOther, paths.WithQuery(paths.SSOComplete(sa.Account.SlugOrEmpty()), url.Values{"request": {request.ID}}))
	}
	// IdP-initiated (which an administrator turned on): no browser to check.
	return h.signIn(c, sa, scope.UserID())
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

// identityOf collects the NameID and attributes of an accepted assertion,
// attributes under both their Name and FriendlyName.
func identityOf(a *saml.Assertion) sso.SSOIdentity {
	id := sso.SSOIdentity{Attributes: map[string][]string{}}
	if a.Subject != nil && a.Subject.NameID != nil {
		id.NameID, id.NameIDFormat = a.Subject.NameID.Value, a.Subject.NameID.Format
	}
	for _, st := range a.AttributeStatements {
		for _, attr := range st.Attributes {
			for _, v := range attr.Values {
				id.Attributes[attr.Name] = append(id.Attributes[attr.Name], v.Value)
				if attr.FriendlyName != "" && attr.FriendlyName != attr.Name {
					id.Attributes[attr.FriendlyName] = append(id.Attributes[attr.FriendlyName], v.Value)
				}
			}
		}
	}
	return id
}

// testOutcome is what a connection test shows.
type testOutcome struct {
	NameID     string              `json:"name_id,omitempty"`
	Attributes map[string][]string `json:"attributes,omitempty"`
	Email      string              `json:"email,omitempty"`
	Name       string              `json:"name,omitempty"`
	Refusal    string              `json:"refusal,omitempty"`
}

// finishTest records what a test sign-in brought back and shows it to the
// administrator who ran it, changing no setting and no session.
func (h *SSO) finishTest(c echo.Context, sa sso.SSOAccount, req sso.SSORequest, id sso.SSOIdentity, refusal string) error {
	out := testOutcome{NameID: id.NameID, Attributes: id.Attributes, Refusal: refusal}
	if refusal == "" {
		email, name, err := sa.Connection.MapIdentity(id)
		switch {
		case err != nil:
			out.Refusal = err.Error()
		case !sa.Connection.OwnsEmail(email):
			out.Email, out.Name, out.Refusal = email, name, email+" is outside the organization's domains ("+strings.Join(sa.Connection.Domains, ", ")+")"
		default:
			out.Email, out.Name = email, name
		}
	}
	b, _ := json.Marshal(out)
	if err := sso.ConsumeSSORequest(c.Request().Context(), h.db, sa, req.ID, string(b)); err != nil {
		return h.refuse(c, http.StatusForbidden, "This test response was already used.", "test request consumed concurrently", nil)
	}
	return c.Redirect(http.StatusSeeOther, paths.SSOTestResult(req.ID))
}

// refuse answers a refused sign-in with a plain page, logging the reason;
// a connection test records it for the administrator instead.
func (h *SSO) refuse(c echo.Context, status int, message, reason string, req *sso.SSORequest) error {
	LoggerFrom(c).Warn("SSO sign-in refused", "slug", c.Param("slug"), "reason", reason)
	if req != nil && req.Purpose == sso.SSOTest {
		sa, err := h.orgFromSlug(c)
		if err == nil {
			return h.finishTest(c, sa, *req, sso.SSOIdentity{}, reason)
		}
	}
	return render(c, status, views.MessagePage(views.MessagePageProps{
		Shell:     views.AuthShell{Title: "Single sign-on failed"},
		Message:   message + " Nothing was changed, and you are not signed in.",
		LinkLabel: "Back to sign in", LinkHref: paths.SignIn(),
	}))
}

// Discovery --------------------------------------------------------------

type discoveryForm struct {
	Email string `form:"email"`
}

// DiscoveryPage asks for a work email (or the organization's slug).
func (h *SSO) DiscoveryPage(c echo.Context) error {
	return render(c, http.StatusOK, views.SSODiscoveryPage(views.SSODiscoveryPageProps{
		Shell: views.AuthShell{Title: "Sign in with SSO", CSRF: csrfToken(c)}, Email: c.QueryParam("email"),
	}))
}

// DiscoverySubmit finds the organization by email domain or slug and starts
// its sign-in.
func (h *SSO) DiscoverySubmit(c echo.Context) error {
	var f discoveryForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	in := strings.TrimSpace(f.Email)
	var sa sso.SSOAccount
	var err error
	if strings.Contains(in, "@") {
		sa, err = sso.FindSSOByEmail(ctx, h.db, in)
	} else {
		sa, err = sso.FindSSOBySlug(ctx, h.db, strings.ToLower(in))
	}
	if errors.Is(err, tenancy.ErrNotFound) || (err == nil && sa.Connection.IDPMetadataXML == "") {
		return render(c, http.StatusUnprocessableEntity, views.SSODiscoveryPage(views.SSODiscoveryPageProps{
			Shell: views.AuthShell{Title: "Sign in with SSO", CSRF: csrfToken(c)}, Email: in,
			Error: "No organization signs in with single sign-on for “" + in + "”. Check the address, or sign in with your password.",
		}))
	}
	if err != nil {
		return err
	}
	return redirect(c, paths.SSOLogin(sa.Account.SlugOrEmpty()))
}

// Settings ---------------------------------------------------------------

type ssoForm struct {
	MetadataXML       string `form:"metadata_xml"`
	MetadataURL       string `form:"metadata_url"`
	Domains           string `form:"domains"`
	JIT               string `form:"jit"`
	DefaultRole       string `form:"default_role"`
	Enforce           string `form:"enforce"`
	AllowIDPInitiated string `form:"allow_idp_initiated"`
	EmailAttribute    string `form:"email_attribute"`
	NameAttribute     string `form:"name_attribute"`
}

func checked(v string) bool { return v == "on" || v == "true" || v == "1" }

func (h *SSO) settingsPage(c echo.Context, status int, f *ssoForm, errs tenancy.FieldErrors) error {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	conn, err := sso.GetSSOConnection(ctx, h.db, scope)
	configured := err == nil
	if err != nil && !errors.Is(err, tenancy.ErrNotFound) {
		return err
	}
	shell, err := h.shell(c, "Single sign-on", "sso")
	if err != nil {
		return err
	}
	slug := scope.Account().SlugOrEmpty()
	entityID, acs, metadata := h.spURLs(slug)
	var domains []views.SSODomainRow
	for _, d := range conn.DomainRecords {
		name, value := d.VerificationRecord()
		domains = append(domains, views.SSODomainRow{Domain: d.Domain, Verified: d.VerifiedAt != nil, RecordName: name, RecordValue: value})
	}
	lost, err := sso.RecentDomainLosses(ctx, h.db, scope)
	if err != nil {
		return err
	}
	p := views.SSOSettingsPageProps{
		Shell: shell, DomainRows: domains, EntityID: entityID, ACSURL: acs, MetadataURL: metadata, LoginURL: h.cfg.link(paths.SSOLogin(slug)),
		Configured: configured, IDPEntityID: conn.IDPEntityID, Errors: errs,
	}
	if f == nil {
		f = &ssoForm{MetadataXML: conn.IDPMetadataXML, MetadataURL: conn.IDPMetadataURL, Domains: strings.Join(conn.Domains, ", "),
			DefaultRole: string(conn.DefaultRole), EmailAttribute: conn.EmailAttribute, NameAttribute: conn.NameAttribute}
		if !configured {
			f.DefaultRole, f.JIT = string(tenancy.RoleMember), "on"
		}
		for _, b := range []struct {
			v   bool
			dst *string
		}{{conn.JIT, &f.JIT}, {conn.Enforce, &f.Enforce}, {conn.AllowIDPInitiated, &f.AllowIDPInitiated}} {
			if b.v {
				*b.dst = "on"
			}
		}
	}
	for _, l := range lost {
		p.LostDomains = append(p.LostDomains, views.SSOLostDomain{Domain: l.Domain, On: dateOnly(l.At)})
	}
	p.MetadataXML, p.MetadataURLInput, p.Domains, p.JIT, p.DefaultRole = f.MetadataXML, f.MetadataURL, f.Domains, checked(f.JIT), f.DefaultRole
	p.Enforce, p.AllowIDPInitiated, p.EmailAttribute, p.NameAttribute = checked(f.Enforce), checked(f.AllowIDPInitiated), f.EmailAttribute, f.NameAttribute
	return render(c, status, views.SSOSettingsPage(p))
}

// SettingsPage shows the service provider's details and the connection.
func (h *SSO) SettingsPage(c echo.Context) error { return h.settingsPage(c, http.StatusOK, nil, nil) }

// SettingsSubmit saves the connection; metadata given by URL is fetched.
func (h *SSO) SettingsSubmit(c echo.Context) error {
	var f ssoForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	f.MetadataURL = strings.TrimSpace(f.MetadataURL)
	metadata := f.MetadataXML
	if strings.TrimSpace(metadata) == "" && f.MetadataURL != "" {
		fetched, err := h.fetchMetadata(c, f.MetadataURL)
		if err != nil {
			return h.settingsPage(c, http.StatusUnprocessableEntity, &f, tenancy.FieldErrors{"metadata_url": err.Error()})
		}
		metadata = fetched
	}
	_, err := sso.SaveSSOConnection(c.Request().Context(), h.db, ScopeFrom(c), sso.SSOSettingsInput{
		MetadataXML: metadata, MetadataURL: f.MetadataURL, Domains: f.Domains, JIT: checked(f.JIT), DefaultRole: f.DefaultRole,
		Enforce: checked(f.Enforce), AllowIDPInitiated: checked(f.AllowIDPInitiated), EmailAttribute: f.EmailAttribute, NameAttribute: f.NameAttribute,
	}, actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		if msg, ok := fe["metadata_xml"]; ok && f.MetadataXML == "" && f.MetadataURL != "" {
			fe["metadata_url"] = msg // the fetched document was the problem
			delete(fe, "metadata_xml")
		}
		return h.settingsPage(c, http.StatusUnprocessableEntity, &f, fe)
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Saved the single sign-on settings. Use “Test the connection” to try them.", paths.SSOSettings())
}

type verifyDomainForm struct {
	Domain string `form:"domain"`
}

// VerifyDomainSubmit checks a domain's DNS TXT record.
func (h *SSO) VerifyDomainSubmit(c echo.Context) error {
	var f verifyDomainForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	err := sso.VerifySSODomain(c.Request().Context(), h.db, ScopeFrom(c), f.Domain, h.cfg.LookupTXT, actor(c))
	switch {
	case errors.Is(err, sso.ErrDomainNotProved):
		return h.flashRedirect(c, flashError, "Could not verify "+f.Domain+": "+err.Error()+". DNS changes can take a while to appear; try again later.", paths.SSOSettings())
	case errors.Is(err, sso.ErrDomainProvedElsewhere):
		return h.flashRedirect(c, flashError, "Could not verify "+f.Domain+": another organization has already proved it owns it.", paths.SSOSettings())
	case err != nil:
		return err
	}
	return h.flashRedirect(c, flashSuccess, f.Domain+" is proved: your identity provider can now create accounts and sign people in by their address there.", paths.SSOSettings())
}

// TestSubmit runs a real sign-in through the IdP whose outcome is only
// shown, never acted on.
func (h *SSO) TestSubmit(c echo.Context) error {
	scope := ScopeFrom(c)
	sa, err := sso.FindSSOBySlug(c.Request().Context(), h.db, scope.Account().SlugOrEmpty())
	if errors.Is(err, tenancy.ErrNotFound) {
		return h.flashRedirect(c, flashError, "Save the identity provider's metadata first.", paths.SSOSettings())
	}
	if err != nil {
		return err
	}
	uid := scope.UserID()
	return h.startSSO(c, sa, sso.SSOTest, &uid)
}

// TestResultPage shows what a test sign-in brought back.
func (h *SSO) TestResultPage(c echo.Context) error {
	req, err := sso.SSOTestResult(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	var out testOutcome
	if req.Result == "" {
		out.Refusal = "No answer from the identity provider yet: finish signing in there, or start the test again."
	} else if err := json.Unmarshal([]byte(req.Result), &out); err != nil {
		return err
	}
	shell, err := h.shell(c, "Connection test", "sso")
	if err != nil {
		return err
	}
	p := views.SSOTestPageProps{Shell: shell, NameID: out.NameID, Email: out.Email, Name: out.Name, Refusal: out.Refusal}
	keys := make([]string, 0, len(out.Attributes))
	for k := range out.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.Attributes = append(p.Attributes, views.SSOAttribute{Name: k, Values: strings.Join(out.Attributes[k], ", ")})
	}
	return render(c, http.StatusOK, views.SSOTestPage(p))
}

// Why a metadata fetch failed, for the message shown; the details go to
// the log only, so that the page never tells what the server's resolver or
// network said about an address.
var (
	errReservedAddress  = errors.New("address on a private or reserved network")
	errTooManyRedirects = errors.New("too many redirects")
	errRedirectNotHTTPS = errors.New("redirected away from https")
)

// fetchMetadata reads an IdP's metadata over https: at most 1 MiB, within
// 10 seconds, and never from (or redirected to) a private or reserved
// address, so an administrator cannot make the server probe its own
// network.
func (h *SSO) fetchMetadata(c echo.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", errors.New("Enter the metadata's full https:// URL.")
	}
	if u.Scheme != "https" && !(h.allowPrivateMetadataHosts && u.Scheme == "http") {
		return "", errors.New("The metadata URL must start with https://.")
	}
	// The check runs on the address about to be dialled, after name
	// resolution, so a name that resolves to a private address is caught.
	guard := func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %q", errReservedAddress, address)
		}
		if !h.allowPrivateMetadataHosts && reservedAddress(ap.Addr()) {
			return fmt.Errorf("%w: %s", errReservedAddress, ap.Addr())
		}
		return nil
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, Control: guard}).DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			Proxy:               nil,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errTooManyRedirects
			}
			if req.URL.Scheme != "https" && !h.allowPrivateMetadataHosts {
				return errRedirectNotHTTPS
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(c.Request().Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return "", errors.New("Enter the metadata's full https:// URL.")
	}
	log := LoggerFrom(c).With("metadata_url", u.Redacted())
	res, err := client.Do(req)
	if err != nil {
		log.Warn("metadata fetch failed", "err", err)
		return "", metadataFetchError(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("The metadata URL answered %d %s.", res.StatusCode, http.StatusText(res.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, sso.MaxMetadataSize+1))
	if err != nil {
		log.Warn("metadata read failed", "err", err)
		return "", errors.New("The metadata could not be read in full; try again.")
	}
	if len(body) > sso.MaxMetadataSize {
		return "", errors.New("The metadata is larger than 1 MiB.")
	}
	return string(bytes.TrimSpace(body)), nil
}

// metadataFetchError says why a metadata fetch failed without repeating
// the resolver's or the network's words, which can name internal hosts and
// addresses.
func metadataFetchError(err error) error {
	var cert *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.Is(err, errReservedAddress):
		return errors.New("The metadata URL points to a private or reserved network address.")
	case errors.Is(err, errTooManyRedirects):
		return errors.New("The metadata URL redirected too many times.")
	case errors.Is(err, errRedirectNotHTTPS):
		return errors.New("The metadata URL redirected to an address that is not https://.")
	case errors.As(err, &cert):
		return errors.New("The metadata host's certificate could not be verified.")
	case errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("The metadata host did not answer in time.")
	}
	return errors.New("The metadata host could not be reached.")
}
