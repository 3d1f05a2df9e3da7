package handlers

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/crewjam/saml"
	"github.com/labstack/echo/v4"
	dsig "github.com/russellhaering/goxmldsig"

	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

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
	// SHA-1 signatures and digests (every signature the library verifies:
	// the response's and the assertion's, encrypted or not) are refused
	// unless the connection allows them. Weaker algorithms are unknown to
	// the signature library, so always refused.
	sp.RejectSHA1Signatures = !sa.Connection.AllowSHA1
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

// refusal is a refused sign-in: what the person is told, and the reason
// the log keeps.
type signInRefusal struct {
	status  int
	message string
	reason  string
}

func (r *signInRefusal) Error() string { return r.reason }

// refusedWith is a refusal, for the steps of a sign-in to return.
func refusedWith(status int, message, reason string) error {
	return &signInRefusal{status: status, message: message, reason: reason}
}

// refuseOr answers a refusal with refuse, and returns any other error.
func (h *SSO) refuseOr(c echo.Context, err error, req *sso.SSORequest) error {
	var r *signInRefusal
	if errors.As(err, &r) {
		return h.refuse(c, r.status, r.message, r.reason, req)
	}
	return err
}

// refuse answers a refused sign-in with a plain page, logging the reason;
// a connection test records it for the administrator instead.
func (h *SSO) refuse(c echo.Context, status int, message, reason string, req *sso.SSORequest) error {
	h.cfg.Metrics.SSO("refused")
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
