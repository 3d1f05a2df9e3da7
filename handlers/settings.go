package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/views"
)

// Settings handles Settings › Organization and Settings › Profile.
type Settings struct{ *deps }

func (h *Settings) organizationPage(c echo.Context, status int, formName string, errs models.FieldErrors) error {
	scope := ScopeFrom(c)
	shell, err := h.shell(c, "Organization", "organization")
	if err != nil {
		return err
	}
	acct := scope.Account()
	if formName == "" && errs == nil {
		formName = acct.Name
	}
	return render(c, status, views.OrganizationSettingsPage(views.OrganizationSettingsPageProps{
		Shell:     shell,
		Name:      acct.Name,
		FormName:  formName,
		Slug:      acct.SlugOrEmpty(),
		Plan:      acct.Plan.Label(),
		CreatedOn: dateOnly(acct.CreatedAt),
		CanRename: scope.Can(models.CapManageAccount),
		Errors:    errs,
	}))
}

// OrganizationPage shows the organization's name, slug, plan and creation date.
func (h *Settings) OrganizationPage(c echo.Context) error {
	return h.organizationPage(c, http.StatusOK, "", nil)
}

// OrganizationSubmit renames the organization (administrators).
func (h *Settings) OrganizationSubmit(c echo.Context) error {
	var f organizationForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	acct, err := models.RenameOrganization(c.Request().Context(), h.db, ScopeFrom(c), f.Name, actor(c))
	if fe, ok := models.AsFieldErrors(err); ok {
		return h.organizationPage(c, http.StatusUnprocessableEntity, f.Name, fe)
	}
	if err != nil {
		return err
	}
	if err := h.setFlash(c, flashSuccess, "The organization is now called "+acct.Name+"."); err != nil {
		return err
	}
	return redirect(c, "/settings/organization")
}

type profileForm struct {
	Name            string `form:"name"`
	CurrentPassword string `form:"current_password"`
	NewPassword     string `form:"new_password"`
}

func (h *Settings) profilePage(c echo.Context, status int, name string, nameErrs, passwordErrs models.FieldErrors) error {
	user, _ := UserFrom(c)
	shell, err := h.shell(c, "Profile", "profile")
	if err != nil {
		return err
	}
	if nameErrs == nil {
		name = user.Name
	}
	return render(c, status, views.ProfileSettingsPage(views.ProfileSettingsPageProps{
		Shell:          shell,
		Name:           name,
		Email:          user.Email,
		Verified:       user.Verified(),
		NameErrors:     nameErrs,
		PasswordErrors: passwordErrs,
		HasPassword:    user.PasswordHash != "",
	}))
}

// ProfilePage shows the user's name, email and password forms.
func (h *Settings) ProfilePage(c echo.Context) error {
	return h.profilePage(c, http.StatusOK, "", nil, nil)
}

// ProfileSubmit changes the name, or (when a password field is sent) the
// password, which signs out the user's other sessions.
func (h *Settings) ProfileSubmit(c echo.Context) error {
	var f profileForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	if f.NewPassword != "" || f.CurrentPassword != "" {
		var keep int64
		if rec := sessionRecord(c); rec != nil {
			keep = rec.ID
		}
		err := models.ChangePassword(ctx, h.db, user.ID, f.CurrentPassword, f.NewPassword, keep)
		if fe, ok := models.AsFieldErrors(err); ok {
			return h.profilePage(c, http.StatusUnprocessableEntity, "", nil, fe)
		}
		if err != nil {
			return err
		}
		if err := h.setFlash(c, flashSuccess, "Your password was changed. Your other sessions were signed out."); err != nil {
			return err
		}
		return redirect(c, "/settings/profile")
	}
	err := models.RenameUser(ctx, h.db, user.ID, f.Name)
	if fe, ok := models.AsFieldErrors(err); ok {
		return h.profilePage(c, http.StatusUnprocessableEntity, f.Name, fe, nil)
	}
	if err != nil {
		return err
	}
	if err := h.setFlash(c, flashSuccess, "Your name was saved."); err != nil {
		return err
	}
	return redirect(c, "/settings/profile")
}
