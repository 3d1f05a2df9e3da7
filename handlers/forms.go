package handlers

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"switchboard/models/tenancy"

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

// fieldMessages joins the messages of field errors, in the order of their
// fields, for a page that shows them in one place rather than under a field.
func fieldMessages(fe tenancy.FieldErrors) string {
	msgs := make([]string, 0, len(fe))
	for _, k := range slices.Sorted(maps.Keys(fe)) {
		msgs = append(msgs, fe[k])
	}
	return strings.Join(msgs, " ")
}
