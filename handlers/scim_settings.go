package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models/scim"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// provisioning is the state of the Provisioning section of Settings ›
// Single sign-on for one answer: a token just created (shown once), and
// the token and group forms as submitted, with their errors.
type provisioning struct {
	created    *scim.NewToken
	tokenName  string
	tokenErr   string
	adminGroup *string
	groupErr   string
}

// provisioningProps reads the organization's tokens and settings.
func (h *SSO) provisioningProps(c echo.Context, st provisioning) (views.SCIMProps, error) {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	tokens, err := scim.ListTokens(ctx, h.db, scope)
	if err != nil {
		return views.SCIMProps{}, err
	}
	settings, err := scim.GetSettings(ctx, h.db, scope)
	if err != nil {
		return views.SCIMProps{}, err
	}
	p := views.SCIMProps{BaseURL: h.cfg.link(paths.SCIMBase()), TokenName: st.tokenName, TokenError: st.tokenErr,
		AdminGroup: settings.AdminGroup, AdminGroupError: st.groupErr}
	if st.adminGroup != nil {
		p.AdminGroup = *st.adminGroup
	}
	if st.created != nil {
		p.NewToken, p.NewTokenName = st.created.Secret, st.created.Name
	}
	for _, t := range tokens {
		p.Tokens = append(p.Tokens, views.SCIMTokenRow{ID: t.PublicID, Name: t.Name, Prefix: t.Prefix, Created: dateOnly(t.CreatedAt)})
	}
	return p, nil
}

type scimTokenForm struct {
	Name string `form:"name"`
}

// SCIMTokenSubmit creates a SCIM token and shows it, once: the answer is
// the page itself, never a redirect, so the secret is stored nowhere.
func (h *SSO) SCIMTokenSubmit(c echo.Context) error {
	var f scimTokenForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	k, err := scim.CreateToken(c.Request().Context(), h.db, ScopeFrom(c), f.Name, actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.settingsPageWith(c, http.StatusUnprocessableEntity, nil, nil, provisioning{tokenName: f.Name, tokenErr: fe["name"]})
	}
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("scim token created", "token", k.PublicID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return h.settingsPageWith(c, http.StatusOK, nil, nil, provisioning{created: &k})
}

// SCIMTokenRevokeSubmit stops a SCIM token: its next request is refused.
func (h *SSO) SCIMTokenRevokeSubmit(c echo.Context) error {
	k, err := scim.RevokeToken(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("scim token revoked", "token", k.PublicID)
	return h.flashRedirect(c, flashSuccess, "Revoked the SCIM token “"+k.Name+"”. Your identity provider's requests with it are refused from now on.", paths.SSOSettings())
}

type scimSettingsForm struct {
	AdminGroup string `form:"admin_group"`
}

// SCIMSettingsSubmit chooses the group whose members are administrators.
func (h *SSO) SCIMSettingsSubmit(c echo.Context) error {
	var f scimSettingsForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	err := scim.SaveAdminGroup(c.Request().Context(), h.db, ScopeFrom(c), f.AdminGroup, actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.settingsPageWith(c, http.StatusUnprocessableEntity, nil, nil, provisioning{adminGroup: &f.AdminGroup, groupErr: fe["admin_group"]})
	}
	if err != nil {
		return err
	}
	msg := "Provisioned members in the group “" + strings.Join(strings.Fields(f.AdminGroup), " ") + "” are administrators now; the others are regular users."
	if strings.TrimSpace(f.AdminGroup) == "" {
		msg = "No group maps to administrators now; provisioned members keep their roles."
	}
	return h.flashRedirect(c, flashSuccess, msg, paths.SSOSettings())
}
