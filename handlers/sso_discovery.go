package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

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
