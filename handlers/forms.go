package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// bindForm reads a submitted form into dst, whose fields carry `form:` tags.
// Validation is the models' job: they return FieldErrors keyed by the same
// names.
func bindForm(c echo.Context, dst any) error {
	if err := (&echo.DefaultBinder{}).BindBody(c, dst); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
	}
	return nil
}
