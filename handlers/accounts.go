package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// Accounts handles creating organizations and switching between accounts.
type Accounts struct{ *deps }

type switchForm struct {
	AccountID string `form:"account_id"`
	ReturnTo  string `form:"return_to"`
}

// SwitchSubmit makes another account of the user's the active one and lands
// on the same section there. An account they do not belong to is a 404 and
// changes nothing.
func (h *Accounts) SwitchSubmit(c echo.Context) error {
	var f switchForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	user, _ := UserFrom(c)
	scope, err := tenancy.LoadScope(c.Request().Context(), h.db, user.ID, f.AccountID)
	if err != nil {
		return err // ErrNotMember: 404
	}
	s := SessionFrom(c)
	if !scope.AdmitsSession(ssoAccountOf(s)) {
		// The organization admits its members only through its IdP.
		return redirect(c, paths.SSOLogin(scope.Account().SlugOrEmpty()))
	}
	setActive(s, scope.AccountID(), scope.Role())
	if err := s.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	LoggerFrom(c).Info("switched account", "to", scope.Account().PublicID)
	return redirect(c, landingFor(f.ReturnTo, scope))
}

type organizationForm struct {
	Name       string `form:"name"`
	Require2FA string `form:"require_2fa"` // a checkbox: "on" when ticked

}

// OrganizationNewPage shows the create-organization form, or says why the
// user cannot create another.
func (h *Accounts) OrganizationNewPage(c echo.Context) error {
	shell, err := h.shell(c, "Create organization", "")
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.OrganizationNewPage(views.OrganizationNewPageProps{Shell: shell, Allowed: shell.CanCreateOrg}))
}

// OrganizationNewSubmit creates the organization and makes it the active
// account.
func (h *Accounts) OrganizationNewSubmit(c echo.Context) error {
	var f organizationForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	user, _ := UserFrom(c)
	acct, err := models.CreateOrganization(c.Request().Context(), h.db, user.ID, f.Name)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		// Another request may have created their organization meanwhile:
		// the page reads the memberships afresh.
		c.Set(ctxMemberships, nil)
		shell, err := h.shell(c, "Create organization", "")
		if err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.OrganizationNewPage(views.OrganizationNewPageProps{
			Shell: shell, Name: f.Name, Errors: fe, Allowed: shell.CanCreateOrg,
		}))
	}
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("organization created", "organization", acct.PublicID)
	setActive(SessionFrom(c), acct.ID, "")
	return h.flashRedirect(c, flashSuccess, "Created "+acct.Name+". You are its administrator, and it is now your active account.", "/")
}

// Home shows the active account's overview.
type Home struct{ *deps }

// HomePage shows the active account's name, kind, plan, creation date,
// member count and the user's role.
func (h *Home) HomePage(c echo.Context) error {
	scope := ScopeFrom(c)
	members, err := models.MemberCount(c.Request().Context(), h.db, scope)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, scope.Account().Name, "home")
	if err != nil {
		return err
	}
	acct := scope.Account()
	return render(c, http.StatusOK, views.HomePage(views.HomePageProps{
		Shell:       shell,
		Name:        acct.Name,
		Kind:        acct.Kind.Label(),
		Plan:        acct.Plan.Label(),
		CreatedOn:   dateOnly(acct.CreatedAt),
		MemberCount: members,
		Role:        roleLabel(scope),
		IsPersonal:  scope.IsPersonal(),
	}))
}

// roleLabel is the user's role as pages show it; a personal account has an owner.
func roleLabel(scope tenancy.Scope) string {
	if scope.IsPersonal() {
		return "Owner"
	}
	return scope.Role().Label()
}
