package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models/tenancy"
)

// apiError is an API failure as the public API reports it.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func invalid(param, why string) error {
	return &apiError{http.StatusBadRequest, "parameter_invalid", "The " + param + " parameter is invalid: " + why + "."}
}

func notProvided(param string) error {
	return &apiError{http.StatusBadRequest, "parameter_not_provided", "The " + param + " parameter is required but was not provided."}
}

func unknownParams(params []string) error {
	sort.Strings(params)
	if len(params) == 1 {
		return &apiError{http.StatusBadRequest, "parameter_unknown", "The " + params[0] + " parameter is unknown."}
	}
	return &apiError{http.StatusBadRequest, "parameter_unknown", "The following parameters are unknown: " + strings.Join(params, ", ") + "."}
}

// errBodyTooLarge answers a body over maxBody, however far over: those over
// the router's global limit are refused before they reach readJSON, and
// get the same answer.
var errBodyTooLarge = &apiError{http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("The request body is larger than %d KiB.", maxBody>>10)}

func notExists(id, collection string) error {
	return &apiError{http.StatusNotFound, "resource_not_exists", "Resource with id " + id + " does not exist in " + collection + "."}
}

// writeAPIError answers an API request that failed, in the public API's
// error body.
func (d *deps) writeAPIError(c echo.Context, err error) {
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, echo.ErrStatusRequestEntityTooLarge):
		ae = errBodyTooLarge
	case errors.Is(err, tenancy.ErrNotFound):
		ae = &apiError{http.StatusNotFound, "resource_not_exists", "The resource does not exist."}
	case errors.As(err, &he) && he.Code == http.StatusNotFound:
		ae = &apiError{http.StatusNotFound, "endpoint_not_exists", "No endpoint " + c.Request().Method + " " + c.Request().URL.Path + "."}
	case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
		ae = &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "This endpoint does not accept " + c.Request().Method + "."}
	case tenancy.Outage(c.Request().Context(), d.db, err):
		ae = &apiError{http.StatusServiceUnavailable, "service_unavailable", "The service is temporarily unavailable. Try again in a moment."}
		c.Response().Header().Set("Retry-After", retryAfterOutage)
	default:
		ae = &apiError{http.StatusInternalServerError, "internal_error", "Something went wrong; it was logged."}
	}
	if ae.Status >= 500 {
		LoggerFrom(c).Error("api request failed", "status", ae.Status, "err", err)
	} else {
		LoggerFrom(c).Warn("api request refused", "status", ae.Status, "code", ae.Code)
	}
	_ = c.JSON(ae.Status, ae)
}
