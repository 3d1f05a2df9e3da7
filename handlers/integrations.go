package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// Integrations handles S3 integrations.
type Integrations struct{ *deps }

type integrationForm struct {
	Name    string `form:"name"`
	Bucket  string `form:"bucket"`
	Region  string `form:"region"`
	RoleARN string `form:"role_arn"`
	Prefix  string `form:"prefix"`
}

func (f integrationForm) props(action, button string, g views.Guard, errs tenancy.FieldErrors) views.IntegrationFormProps {
	return views.IntegrationFormProps{Action: action, Button: button, Name: f.Name, Bucket: f.Bucket, Region: f.Region,
		RoleARN: f.RoleARN, Prefix: f.Prefix, Regions: models.AWSRegions, Errors: errs, Guard: g}
}

// IntegrationsPage lists the account's S3 integrations.
func (h *Integrations) IntegrationsPage(c echo.Context) error {
	page := pageOf(c)
	list, err := models.ListIntegrations(c.Request().Context(), h.db, ScopeFrom(c), page)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Integrations", "integrations")
	if err != nil {
		return err
	}
	p := views.IntegrationsPageProps{Shell: shell, Pagination: pagination(page, list.Total, list.Capped, paths.Integrations(), nil)}
	for _, r := range list.Rows {
		p.Rows = append(p.Rows, views.IntegrationListRow{ID: r.PublicID, Name: r.Name, Bucket: r.Bucket, Region: r.Region,
			CreatedBy: creatorName(r.CreatedByName), CreatedOn: dateOnly(r.CreatedAt)})
	}
	return render(c, http.StatusOK, views.IntegrationsPage(p))
}

func (h *Integrations) newPage(c echo.Context, status int, f integrationForm, errs tenancy.FieldErrors) error {
	shell, err := h.shell(c, "New S3 integration", "integrations")
	if err != nil {
		return err
	}
	return render(c, status, views.IntegrationNewPage(views.IntegrationNewPageProps{
		Shell: shell, Form: f.props(paths.NewIntegration(), "Create integration", shell.Guard(), errs),
	}))
}

// IntegrationNewPage shows the create form.
func (h *Integrations) IntegrationNewPage(c echo.Context) error {
	return h.newPage(c, http.StatusOK, integrationForm{Region: "us-east-1"}, nil)
}

// IntegrationNewSubmit creates an integration and shows its setup steps.
func (h *Integrations) IntegrationNewSubmit(c echo.Context) error {
	var f integrationForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	it, err := models.CreateIntegration(c.Request().Context(), h.db, ScopeFrom(c), models.IntegrationInput(f))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.newPage(c, http.StatusUnprocessableEntity, f, fe)
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Created the integration "+it.Name+". Finish the setup in AWS with the steps below.", paths.Integration(it.PublicID))
}

func (h *Integrations) page(c echo.Context, status int, form *integrationForm, errs tenancy.FieldErrors) error {
	row, err := models.GetIntegration(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	shell, err := h.shell(c, row.Name, "integrations")
	if err != nil {
		return err
	}
	f := integrationForm{Name: row.Name, Bucket: row.Bucket, Region: row.Region, RoleARN: row.RoleARN, Prefix: row.Prefix}
	if form != nil {
		f = *form
	}
	return render(c, status, views.IntegrationPage(views.IntegrationPageProps{
		Shell: shell, ID: row.PublicID, Name: row.Name, Bucket: row.Bucket, Region: row.Region, RoleARN: row.RoleARN,
		Prefix: row.Prefix, ExternalID: row.ExternalID, CreatedBy: creatorName(row.CreatedByName), CreatedOn: dateOnly(row.CreatedAt),
		TrustPolicy: row.TrustPolicy(), PermissionsPolicy: row.PermissionsPolicy(),
		Form: f.props(paths.Integration(row.PublicID), "Save", shell.Guard(), errs),
	}))
}

// IntegrationPage shows an integration's setup steps and settings.
func (h *Integrations) IntegrationPage(c echo.Context) error {
	return h.page(c, http.StatusOK, nil, nil)
}

// IntegrationSubmit changes an integration's settings.
func (h *Integrations) IntegrationSubmit(c echo.Context) error {
	var f integrationForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	it, err := models.UpdateIntegration(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), models.IntegrationInput(f))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.page(c, http.StatusUnprocessableEntity, &f, fe)
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Saved the integration "+it.Name+".", paths.Integration(it.PublicID))
}

// IntegrationDeletePage asks to confirm deleting an integration.
func (h *Integrations) IntegrationDeletePage(c echo.Context) error {
	row, err := models.GetIntegration(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Delete "+row.Name, "integrations")
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmPage(views.ConfirmPageProps{
		Shell:       shell,
		Title:       "Delete the integration " + row.Name + "?",
		Consequence: "The platform will stop reading the bucket " + row.Bucket + " for everyone in this account. The bucket, its videos and the IAM role stay as they are in AWS.",
		Action:      paths.DeleteIntegration(row.PublicID),
		Button:      "Delete integration",
		CancelHref:  paths.Integration(row.PublicID),
	}))
}

// IntegrationDeleteSubmit deletes an integration.
func (h *Integrations) IntegrationDeleteSubmit(c echo.Context) error {
	it, err := models.DeleteIntegration(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Deleted the integration "+it.Name+".", paths.Integrations())
}
