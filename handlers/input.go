package handlers

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"switchboard/models/tenancy"
)

// maxParamLen bounds a path parameter. IDs, tokens and slugs are far
// shorter; a longer value can only be a probe, and would otherwise reach a
// query as is.
const maxParamLen = 200

// checkInput is the one place where every request's path parameters are
// checked, and the platform API's query parameters with them. It runs after
// routing (it is registered with e.Use), so it knows the route's parameters,
// and before any route middleware, so a refused request reads no session and
// writes nothing. A path parameter that is not a plain identifier is a page
// that does not exist (404) on the dashboard and a parameter_invalid in the
// API; a query parameter of the API that is not text is a parameter_invalid.
// The dashboard's own query strings and forms are checked by textOnly.
//
// It also marks every API response as not to be stored: they carry account
// data and rate-limit state.
func checkInput(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		api := isAPI(c)
		if api {
			c.Response().Header().Set("Cache-Control", "no-store")
		}
		values := c.ParamValues()
		for i, name := range c.ParamNames() {
			if i < len(values) && !plainParam(values[i]) {
				if api {
					return invalid(name, "it is not an identifier")
				}
				return tenancy.ErrNotFound
			}
		}
		if !api {
			return next(c)
		}
		for name, vs := range c.QueryParams() {
			if !isText(name) {
				return &apiError{http.StatusBadRequest, "parameter_invalid", "A query parameter's name is not text."}
			}
			for _, v := range vs {
				if !isText(v) {
					return invalid(name, "it is not text")
				}
			}
		}
		return next(c)
	}
}

// isText reports whether s is something a person could have typed: valid
// UTF-8 without NUL bytes, which PostgreSQL refuses with an error rather
// than stores.
func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// plainParam reports whether s may be a path parameter: text of at most
// maxParamLen bytes with no control characters (C0, DEL, C1), no invisible
// formatting characters (among them the bidirectional controls U+061C,
// U+200E, U+200F, U+202A–U+202E and U+2066–U+2069, and the zero-width
// U+200B–U+200D, U+2060 and U+FEFF) and no line or paragraph separators.
// Nothing Switchboard names in a URL contains them; they only serve to make
// one address look like another.
func plainParam(s string) bool {
	if len(s) > maxParamLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}
