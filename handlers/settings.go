package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/models/throttle"
	"switchboard/views"
	"switchboard/views/paths"
)

// Settings handles Settings › Organization and Settings › Profile.
type Settings struct{ *deps }

// orgPageState carries a refused form's values back to the organization page.
type orgPageState struct {
	formName     string
	errs         tenancy.FieldErrors
	confirmName  string
	deleteErrors tenancy.FieldErrors
	require2FA   bool // the checkbox as submitted
}

func (h *Settings) organizationPage(c echo.Context, status int, st orgPageState) error {
	scope := ScopeFrom(c)
	canLeave, err := models.CanLeave(c.Request().Context(), h.db, scope)
	if err != nil {
		return err
	}
	managed, err := models.ManagedBySCIM(c.Request().Context(), h.db, scope)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Organization", "organization")
	if err != nil {
		return err
	}
	acct := scope.Account()
	if st.errs == nil {
		st.formName = acct.Name
		st.require2FA = acct.Require2FA
	}
	var without int64
	if scope.Can(tenancy.CapManageAccount) {
		if without, err = models.MembersWithoutSecondFactor(c.Request().Context(), h.db, scope); err != nil {
			return err
		}
	}
	return render(c, status, views.OrganizationSettingsPage(views.OrganizationSettingsPageProps{
		Shell:        shell,
		Name:         acct.Name,
		FormName:     st.formName,
		Slug:         acct.SlugOrEmpty(),
		Plan:         acct.Plan.Label(),
		CreatedOn:    dateOnly(acct.CreatedAt),
		CanRename:    scope.Can(tenancy.CapManageAccount),
		Errors:       st.errs,
		CanLeave:     canLeave && !managed,
		SCIMManaged:  managed,
		CanDelete:    scope.Can(tenancy.CapManageAccount),
		ConfirmName:  st.confirmName,
		DeleteErrors: st.deleteErrors,
		Require2FA:   st.require2FA,
		Require2FAOn: acct.Require2FA,
		WithoutTwoFA: without,
	}))
}

// OrganizationPage shows the organization's name, slug, plan and creation date.
func (h *Settings) OrganizationPage(c echo.Context) error {
	return h.organizationPage(c, http.StatusOK, orgPageState{})
}

// OrganizationSubmit renames the organization (administrators).
func (h *Settings) OrganizationSubmit(c echo.Context) error {
	var f organizationForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx, scope := c.Request().Context(), ScopeFrom(c)
	acct, err := models.UpdateOrganization(ctx, h.db, scope, f.Name, f.Require2FA != "", actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.organizationPage(c, http.StatusUnprocessableEntity, orgPageState{formName: f.Name, errs: fe, require2FA: f.Require2FA != ""})
	}
	if err != nil {
		return err
	}
	msg := "Saved. The organization is called " + acct.Name + "; two-factor authentication is optional for its members."
	if f.Require2FA != "" {
		msg = "Saved. The organization is called " + acct.Name + "; its members need two-factor authentication to enter it."
	}
	return h.flashRedirect(c, flashSuccess, msg, paths.OrganizationSettings())
}

// LeavePage asks to confirm leaving the organization.
func (h *Settings) LeavePage(c echo.Context) error {
	scope := ScopeFrom(c)
	shell, err := h.shell(c, "Leave "+scope.Account().Name, "organization")
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmPage(views.ConfirmPageProps{
		Shell: shell,
		Title: "Leave " + scope.Account().Name + "?",
		Consequence: "You lose access to its indexes, videos and integrations at once, and your API keys for it stop working. " +
			"Your private indexes pass to an administrator. To come back, you need a new invitation.",
		Action:     paths.LeaveOrganization(),
		Button:     "Leave organization",
		CancelHref: paths.OrganizationSettings(),
	}))
}

// LeaveSubmit takes the user out of the organization, into their personal account.
func (h *Settings) LeaveSubmit(c echo.Context) error {
	scope := ScopeFrom(c)
	err := models.LeaveOrganization(c.Request().Context(), h.db, scope, actor(c))
	if status, _, ok := refusal(err); ok {
		// The page says why the last administrator cannot leave.
		return h.organizationPage(c, status, orgPageState{})
	}
	if err != nil {
		return err
	}
	return h.toPersonal(c, "You left "+scope.Account().Name+"; you're in your personal account.")
}

type deleteOrgForm struct {
	ConfirmName string `form:"confirm_name"`
}

// DeleteSubmit deletes the organization once its name is typed.
func (h *Settings) DeleteSubmit(c echo.Context) error {
	var f deleteOrgForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	scope := ScopeFrom(c)
	err := models.DeleteOrganization(c.Request().Context(), h.db, scope, f.ConfirmName, actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.organizationPage(c, http.StatusUnprocessableEntity, orgPageState{confirmName: f.ConfirmName, deleteErrors: fe})
	}
	if err != nil {
		return err
	}
	LoggerFrom(c).Warn("organization deleted", "organization", scope.Account().PublicID, "name", scope.Account().Name)
	return h.toPersonal(c, "Deleted "+scope.Account().Name+" and everything in it; you're in your personal account.")
}

// toPersonal makes the personal account active and shows a message there.
func (h *Settings) toPersonal(c echo.Context, msg string) error {
	if _, err := h.enterPersonal(c); err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, msg, "/")
}

type profileForm struct {
	Name            string `form:"name"`
	CurrentPassword string `form:"current_password"`
	NewPassword     string `form:"new_password"`
}

func (h *Settings) profilePage(c echo.Context, status int, name string, nameErrs, passwordErrs tenancy.FieldErrors) error {
	user, _ := UserFrom(c)
	shell, err := h.shell(c, "Profile", "profile")
	if err != nil {
		return err
	}
	if nameErrs == nil {
		name = user.Name
	}
	choices, err := sso.ListSSOLinkChoices(c.Request().Context(), h.db, user.ID)
	if err != nil {
		return err
	}
	var links []views.SSOLinkRow
	for _, ch := range choices {
		slug := ch.Account.SlugOrEmpty()
		row := views.SSOLinkRow{Name: ch.Account.Name, LinkAction: paths.SSOLink(slug)}
		if ch.LinkedAt != nil {
			row.Unlink, row.LinkedOn = paths.SSOUnlink(slug), dateOnly(*ch.LinkedAt)
		}
		links = append(links, row)
	}
	return render(c, status, views.ProfileSettingsPage(views.ProfileSettingsPageProps{
		SSOLinks:       links,
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
// password, which signs out the user's other sessions; wrong current
// passwords are throttled with the Security page's.
func (h *Settings) ProfileSubmit(c echo.Context) error {
	var f profileForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	// The password form is told from the name form by its fields being
	// sent, empty or not: an empty password form is refused as one.
	if form := c.Request().PostForm; form.Has("new_password") || form.Has("current_password") {
		if msg, err := h.tooManyWrongAttempts(c, user); err != nil {
			return err
		} else if msg != "" {
			return h.profilePage(c, http.StatusTooManyRequests, "", nil, tenancy.FieldErrors{"current_password": msg})
		}
		var keep int64
		if rec := sessionRecord(c); rec != nil {
			keep = rec.ID
		}
		err := models.ChangePassword(ctx, h.db, user.ID, f.CurrentPassword, f.NewPassword, keep)
		fe, refused := tenancy.AsFieldErrors(err)
		if err != nil && !refused {
			return err
		}
		if _, wrong := fe["current_password"]; !wrong {
			// The current password was right, whatever became of the new one.
			if err := throttle.SecondFactorPassed(ctx, h.cfg.Throttle, user.PublicID); err != nil {
				return err
			}
		}
		if refused {
			return h.profilePage(c, http.StatusUnprocessableEntity, "", nil, fe)
		}
		return h.flashRedirect(c, flashSuccess, "Your password was changed. Your other sessions were signed out.", paths.Profile())
	}
	err := models.RenameUser(ctx, h.db, user.ID, f.Name)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.profilePage(c, http.StatusUnprocessableEntity, f.Name, fe, nil)
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Your name was saved.", paths.Profile())
}
