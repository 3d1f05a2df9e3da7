package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/handlers/safefetch"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

type ssoForm struct {
	MetadataXML       string `form:"metadata_xml"`
	MetadataURL       string `form:"metadata_url"`
	Domains           string `form:"domains"`
	JIT               string `form:"jit"`
	DefaultRole       string `form:"default_role"`
	Enforce           string `form:"enforce"`
	AllowIDPInitiated string `form:"allow_idp_initiated"`
	// ConfirmIDPInitiated must be checked to turn IdP-initiated sign-in on.
	ConfirmIDPInitiated string `form:"confirm_idp_initiated"`
	AllowSHA1           string `form:"allow_sha1"`
	EmailAttribute      string `form:"email_attribute"`
	NameAttribute       string `form:"name_attribute"`
}

func checked(v string) bool { return v == "on" || v == "true" || v == "1" }

// onIf is how a checkbox that is on comes back from the form.
func onIf(b bool) string {
	if b {
		return "on"
	}
	return ""
}

// savedSSOForm is the form as the saved connection fills it, or with the
// defaults of a new one.
func savedSSOForm(conn sso.SSOConnection, configured bool) *ssoForm {
	f := &ssoForm{MetadataXML: conn.IDPMetadataXML, MetadataURL: conn.IDPMetadataURL, Domains: strings.Join(conn.Domains, ", "),
		JIT: onIf(conn.JIT), DefaultRole: string(conn.DefaultRole), Enforce: onIf(conn.Enforce), AllowIDPInitiated: onIf(conn.AllowIDPInitiated),
		ConfirmIDPInitiated: onIf(conn.AllowIDPInitiated), AllowSHA1: onIf(conn.AllowSHA1), EmailAttribute: conn.EmailAttribute, NameAttribute: conn.NameAttribute}
	if !configured {
		f.DefaultRole, f.JIT = string(tenancy.RoleMember), "on"
	}
	return f
}

// settingsPage renders the settings with f (nil: the saved settings) and
// errs, keyed by the fields of the settings form, or "domain" for a
// refused domain proof.
func (h *SSO) settingsPage(c echo.Context, status int, f *ssoForm, errs tenancy.FieldErrors) error {
	return h.settingsPageWith(c, status, f, errs, provisioning{})
}

// settingsPageWith is settingsPage with the Provisioning section's state.
func (h *SSO) settingsPageWith(c echo.Context, status int, f *ssoForm, errs tenancy.FieldErrors, st provisioning) error {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	conn, err := sso.GetSSOConnection(ctx, h.db, scope)
	configured := err == nil
	if err != nil && !errors.Is(err, tenancy.ErrNotFound) {
		return err
	}
	lost, err := sso.RecentDomainLosses(ctx, h.db, scope)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Single sign-on", "sso")
	if err != nil {
		return err
	}
	if f == nil {
		f = savedSSOForm(conn, configured)
	}
	p := h.settingsProps(scope.Account().SlugOrEmpty(), conn, lost, *f)
	p.Shell, p.Configured = shell, configured
	if p.SCIM, err = h.provisioningProps(c, st); err != nil {
		return err
	}
	p.Errors, p.DomainError = errs, errs["domain"]
	if p.DomainError != "" {
		p.Errors = nil // the error is on the domains, not on the settings form
	}
	return render(c, status, views.SSOSettingsPage(p))
}

// settingsProps are the settings page's service provider details, domains
// and form.
func (h *SSO) settingsProps(slug string, conn sso.SSOConnection, lost []sso.DomainNotice, f ssoForm) views.SSOSettingsPageProps {
	entityID, acs, metadata := h.spURLs(slug)
	p := views.SSOSettingsPageProps{
		EntityID: entityID, ACSURL: acs, MetadataURL: metadata, LoginURL: h.cfg.link(paths.SSOLogin(slug)), IDPEntityID: conn.IDPEntityID,
		MetadataXML: f.MetadataXML, MetadataURLInput: f.MetadataURL, Domains: f.Domains, JIT: checked(f.JIT), DefaultRoles: roleOptions(tenancy.Role(f.DefaultRole)),
		Enforce: checked(f.Enforce), AllowIDPInitiated: checked(f.AllowIDPInitiated), ConfirmIDPInitiated: checked(f.ConfirmIDPInitiated),
		AllowSHA1: checked(f.AllowSHA1), SHA1Allowed: conn.AllowSHA1, EmailAttribute: f.EmailAttribute, NameAttribute: f.NameAttribute,
	}
	for _, d := range conn.DomainRecords {
		name, value := d.VerificationRecord()
		p.DomainRows = append(p.DomainRows, views.SSODomainRow{Domain: d.Domain, Verified: d.VerifiedAt != nil, RecordName: name, RecordValue: value})
	}
	for _, l := range lost {
		p.LostDomains = append(p.LostDomains, views.SSOLostDomain{Domain: l.Domain, On: dateOnly(l.At)})
	}
	return p
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
		fetched, failure := h.fetchMetadata(c, f.MetadataURL)
		if failure != "" {
			return h.settingsPage(c, http.StatusUnprocessableEntity, &f, tenancy.FieldErrors{"metadata_url": failure})
		}
		metadata = fetched
	}
	_, err := sso.SaveSSOConnection(c.Request().Context(), h.db, ScopeFrom(c), sso.SSOSettingsInput{
		MetadataXML: metadata, MetadataURL: f.MetadataURL, Domains: f.Domains, JIT: checked(f.JIT), DefaultRole: f.DefaultRole,
		Enforce: checked(f.Enforce), AllowIDPInitiated: checked(f.AllowIDPInitiated), ConfirmIDPInitiated: checked(f.ConfirmIDPInitiated),
		AllowSHA1: checked(f.AllowSHA1), EmailAttribute: f.EmailAttribute, NameAttribute: f.NameAttribute,
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

// VerifyDomainSubmit checks a domain's DNS TXT record. A domain that is
// not proved re-renders the page with the reason, on the domains.
func (h *SSO) VerifyDomainSubmit(c echo.Context) error {
	var f verifyDomainForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	domain := strings.TrimSpace(f.Domain)
	err := sso.VerifySSODomain(c.Request().Context(), h.db, ScopeFrom(c), domain, h.cfg.LookupTXT, actor(c))
	if msg := domainProofMessage(err, domain); msg != "" {
		return h.settingsPage(c, http.StatusUnprocessableEntity, nil, tenancy.FieldErrors{"domain": msg})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, domain+" is proved: your identity provider can now create accounts and sign people in by their address there.", paths.SSOSettings())
}

// domainProofMessage says why a domain was not proved; "" for any other
// outcome.
func domainProofMessage(err error, domain string) string {
	switch {
	case errors.Is(err, sso.ErrDomainNotProved):
		return "Could not verify " + domain + ": its DNS has no TXT record with the value shown below. DNS changes can take a while to appear; try again later."
	case errors.Is(err, sso.ErrDomainProvedElsewhere):
		return "Could not verify " + domain + ": another organization has already proved it owns it."
	}
	return ""
}

// fetchMetadata reads an IdP's metadata from the URL an administrator
// gave (see safefetch for what is refused). A failure is the message the
// form shows: it never repeats what the server's resolver or network said,
// which can name internal hosts and addresses; the log keeps that.
func (h *SSO) fetchMetadata(c echo.Context, raw string) (metadata, failure string) {
	f := safefetch.Fetcher{MaxBytes: sso.MaxMetadataSize, AllowPrivate: h.allowPrivateMetadataHosts}
	body, err := f.Get(c.Request().Context(), raw)
	if err != nil {
		shown := raw
		if u, perr := url.Parse(raw); perr == nil {
			shown = u.Redacted()
		}
		LoggerFrom(c).Warn("metadata fetch failed", "metadata_url", shown, "err", err)
		return "", metadataFetchMessage(err)
	}
	return string(body), ""
}

// metadataFetchMessage says why a metadata fetch failed.
func metadataFetchMessage(err error) string {
	var status *safefetch.StatusError
	switch {
	case errors.Is(err, safefetch.ErrInvalidURL):
		return "Enter the metadata's full https:// URL."
	case errors.Is(err, safefetch.ErrNotHTTPS):
		return "The metadata URL must start with https://."
	case errors.As(err, &status):
		return fmt.Sprintf("The metadata URL answered %d %s.", status.Code, http.StatusText(status.Code))
	case errors.Is(err, safefetch.ErrTooLarge):
		return "The metadata is larger than 1 MiB."
	case errors.Is(err, safefetch.ErrIncomplete):
		return "The metadata could not be read in full; try again."
	case errors.Is(err, safefetch.ErrReservedAddress):
		return "The metadata URL points to a private or reserved network address."
	case errors.Is(err, safefetch.ErrTooManyRedirects):
		return "The metadata URL redirected too many times."
	case errors.Is(err, safefetch.ErrRedirectNotHTTPS):
		return "The metadata URL redirected to an address that is not https://."
	case errors.Is(err, safefetch.ErrCertificate):
		return "The metadata host's certificate could not be verified."
	case errors.Is(err, safefetch.ErrTimeout):
		return "The metadata host did not answer in time."
	}
	return "The metadata host could not be reached."
}
