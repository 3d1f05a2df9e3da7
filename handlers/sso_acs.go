package handlers

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/labstack/echo/v4"

	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// maxSAMLResponse bounds the SAMLResponse the ACS reads.
const maxSAMLResponse = 256 << 10

// maxClockSkew is how far an IdP's clock may be from ours. crewjam/saml
// allows saml.MaxClockSkew (180 seconds), a package variable that would
// change for every service provider in the process; instead, the ACS
// checks the assertion the library accepted against this tighter bound.
const maxClockSkew = 90 * time.Second

// bearerMethod names the bearer subject confirmation, the one the web
// browser SSO profile uses.
const bearerMethod = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

// ACS receives the IdP's response (HTTP-POST, cross-site by design: this
// route has no CSRF check and reads no session). Anything wrong refuses the
// response with a logged reason and creates no session.
func (h *SSO) ACS(c echo.Context) error {
	sa, err := h.orgFromSlug(c)
	if err != nil {
		return err
	}
	request, assertion, err := h.acceptResponse(c, sa)
	if err != nil {
		return h.refuseOr(c, err, request)
	}
	identity := identityOf(assertion)
	switch {
	case request != nil && request.Purpose == sso.SSOTest:
		return h.finishTest(c, sa, *request, identity, "")
	case request != nil && request.Purpose == sso.SSOLinking:
		return h.finishLink(c, sa, *request, identity)
	}
	userID, err := h.signInIdentity(c, sa, identity)
	if err != nil {
		return h.refuseOr(c, err, nil)
	}
	if request == nil {
		// IdP-initiated (which an administrator turned on): no browser to check.
		return h.signIn(c, sa, userID)
	}
	// SP-initiated: the browser that started the sign-in finishes it, so a
	// response cannot be planted in someone else's browser.
	if err := sso.FinishSSOLogin(c.Request().Context(), h.db, sa, request.ID, userID); err != nil {
		return h.refuse(c, http.StatusForbidden, "This sign-in response was already used. Start again.", "request consumed concurrently", nil)
	}
	return c.Redirect(http.StatusSeeOther, paths.WithQuery(paths.SSOComplete(sa.Account.SlugOrEmpty()), url.Values{"request": {request.ID}}))
}

// acceptResponse reads the posted response, finds the request it answers
// (nil for an unsolicited one) and returns its verified assertion. A
// request is returned with a refused response when one was found, so that
// a connection test can record the refusal.
func (h *SSO) acceptResponse(c echo.Context, sa sso.SSOAccount) (*sso.SSORequest, *saml.Assertion, error) {
	if sa.Connection.IDPMetadataXML == "" {
		return nil, nil, refusedWith(http.StatusNotFound, "Single sign-on is not set up for this organization.", "no connection")
	}
	encoded, err := readSAMLResponse(c)
	if err != nil {
		return nil, nil, err
	}
	request, err := h.requestAnswered(c, sa, encoded)
	if err != nil {
		return nil, nil, err
	}
	sp, err := h.serviceProvider(c.Request().Context(), sa)
	if err != nil {
		return request, nil, err
	}
	var possible []string
	if request != nil {
		possible = []string{request.ID}
	}
	assertion, err := sp.ParseResponse(c.Request(), possible)
	if err == nil {
		err = checkClockSkew(assertion, time.Now())
	}
	if err != nil {
		return request, nil, refusedWith(http.StatusForbidden, "The identity provider's response was refused.", samlReason(err))
	}
	return request, assertion, nil
}

// sha1Refused is the library's words when a signature or digest uses
// SHA-1 and the service provider refuses it.
const sha1Refused = "SHA-1 based signature algorithms are not accepted"

// readSAMLResponse reads the SAMLResponse of the HTTP-POST binding, and
// leaves the request's form holding the posted fields only: no artifact
// resolution from the query.
func readSAMLResponse(c echo.Context) (string, error) {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxSAMLResponse+4096)
	if err := r.ParseForm(); err != nil {
		return "", refusedWith(http.StatusBadRequest, "The sign-in response could not be read.", "unreadable form: "+err.Error())
	}
	encoded := r.PostForm.Get("SAMLResponse")
	if encoded == "" || len(encoded) > maxSAMLResponse || r.PostForm.Get("SAMLart") != "" {
		return "", refusedWith(http.StatusBadRequest, "The sign-in response is missing or too large.", "no usable SAMLResponse")
	}
	r.Form = r.PostForm
	return encoded, nil
}

// requestAnswered is the open request a response claims to answer, or nil
// for an unsolicited response where the organization accepts those.
func (h *SSO) requestAnswered(c echo.Context, sa sso.SSOAccount, encoded string) (*sso.SSORequest, error) {
	id := inResponseTo(encoded)
	if id == "" {
		if !sa.Connection.AllowIDPInitiated {
			return nil, refusedWith(http.StatusForbidden, "Sign-ins started at the identity provider are turned off for this organization. Start from Switchboard's sign-in page.",
				"unsolicited response while IdP-initiated sign-in is off")
		}
		return nil, nil
	}
	open, err := sso.OpenSSORequest(c.Request().Context(), h.db, sa, id)
	if errors.Is(err, tenancy.ErrNotFound) {
		return nil, refusedWith(http.StatusForbidden, "This sign-in response does not answer a sign-in we started, or was already used. Start again.",
			"InResponseTo "+id+" was never issued by this organization's SP, expired or was already consumed")
	}
	if err != nil {
		return nil, err
	}
	return &open, nil
}

// signInIdentity is the user an accepted identity signs in as, joining
// the organization when its rules allow.
func (h *SSO) signInIdentity(c echo.Context, sa sso.SSOAccount, identity sso.SSOIdentity) (int64, error) {
	email, name, err := sa.Connection.MapIdentity(identity)
	if err != nil {
		return 0, refusedWith(http.StatusForbidden, "The identity provider did not say who you are in a way Switchboard understands.", err.Error())
	}
	scope, err := sso.SSOSignIn(c.Request().Context(), h.db, sa, sso.SSOSignInInput{Subject: identity.Subject(), Email: email, Name: name, IP: clientIP(c.Request())})
	org := sa.Account.Name
	switch {
	case errors.Is(err, sso.ErrSSODomain):
		return 0, refusedWith(http.StatusForbidden, email+" is not an address of "+org+".", "email outside the organization's domains: "+email)
	case errors.Is(err, sso.ErrSSONotMember):
		return 0, refusedWith(http.StatusForbidden, email+" is not a member of "+org+". Ask an administrator for an invitation.", "not a member and JIT off: "+email)
	case errors.Is(err, sso.ErrSSOUnprovedDomain):
		return 0, refusedWith(http.StatusForbidden, org+" has not proved that it owns the domain of "+email+
			", so its identity provider cannot sign you in by that address. If you are a member, sign in with your password and link your identity in Settings › Profile.",
			"unproved domain and no linked identity: "+email)
	case err != nil:
		return 0, err
	}
	return scope.UserID(), nil
}

// samlReason is why the library refused a response, for the log: its
// private detail when it has one.
func samlReason(err error) string {
	reason := err.Error()
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		reason = ire.PrivateErr.Error()
	}
	if errors.Is(err, saml.ErrUnsupported) && strings.Contains(reason, sha1Refused) {
		// The reason a connection test shows: say what to change.
		return "the identity provider signed the response with SHA-1 (" + reason + "). Switchboard refuses SHA-1 signatures and digests: " +
			"set the identity provider to sign with RSA-SHA256 and SHA-256 digests, or, for a legacy identity provider that cannot, " +
			"allow SHA-1 in this connection's settings"
	}
	return reason
}

// checkClockSkew refuses an assertion whose times are more than
// maxClockSkew away from now: issued in the future, not yet valid, or
// expired (its conditions, or a bearer subject confirmation).
func checkClockSkew(a *saml.Assertion, now time.Time) error {
	latest, earliest := now.Add(maxClockSkew), now.Add(-maxClockSkew)
	expired := func(notOnOrAfter time.Time) bool { return !notOnOrAfter.IsZero() && !notOnOrAfter.After(earliest) }
	if a.IssueInstant.After(latest) {
		return fmt.Errorf("assertion IssueInstant %s is in the future", a.IssueInstant)
	}
	if cond := a.Conditions; cond != nil {
		if cond.NotBefore.After(latest) {
			return errors.New("assertion Conditions is not yet valid")
		}
		if expired(cond.NotOnOrAfter) {
			return errors.New("assertion Conditions is expired")
		}
	}
	if a.Subject == nil {
		return nil
	}
	for _, sc := range a.Subject.SubjectConfirmations {
		if d := sc.SubjectConfirmationData; sc.Method == bearerMethod && d != nil {
			if d.NotBefore.After(latest) {
				return errors.New("assertion SubjectConfirmationData is not yet valid")
			}
			if expired(d.NotOnOrAfter) {
				return errors.New("assertion SubjectConfirmationData is expired")
			}
		}
	}
	return nil
}

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

// identityOf collects the NameID and attributes of an accepted assertion:
// attributes by their Name, and their FriendlyNames apart, which only
// stand in for a Name no attribute has (see sso.SSOIdentity).
func identityOf(a *saml.Assertion) sso.SSOIdentity {
	id := sso.SSOIdentity{Attributes: map[string][]string{}, FriendlyNames: map[string][]string{}}
	if a.Subject != nil && a.Subject.NameID != nil {
		id.NameID, id.NameIDFormat = a.Subject.NameID.Value, a.Subject.NameID.Format
	}
	for _, st := range a.AttributeStatements {
		for _, attr := range st.Attributes {
			values := id.Attributes[attr.Name]
			for _, v := range attr.Values {
				values = append(values, v.Value)
			}
			id.Attributes[attr.Name] = values
			if fn := attr.FriendlyName; fn != "" && fn != attr.Name && !slices.Contains(id.FriendlyNames[fn], attr.Name) {
				id.FriendlyNames[fn] = append(id.FriendlyNames[fn], attr.Name)
			}
		}
	}
	return id
}
