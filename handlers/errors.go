package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/tenancy"
	"switchboard/views"
)

// handleError is the one place errors become responses: a foreign or missing
// ID is 404, a role that may not act 403, a database that does not answer
// 503, anything unexpected 500. It logs once and renders a styled page.
func (d *deps) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, context.Canceled) || c.Request().Context().Err() != nil {
		// The client went away (or gave up) before the answer: not an
		// outage, whatever the error says; nothing is sent.
		c.Response().Status = statusClientGone
		LoggerFrom(c).Debug("client went away", "err", err)
		return
	}
	if isAPI(c) {
		d.writeAPIError(c, err)
		return
	}
	if isSCIM(c) {
		d.writeSCIMError(c, err)
		return
	}
	status, title, message := d.classify(c, err)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterOutage)
	}
	log := LoggerFrom(c)
	if status >= 500 {
		log.Error("request failed", "status", status, "err", err)
	} else {
		log.Warn("request refused", "status", status, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	page := func(c echo.Context) error {
		props := views.ErrorPageProps{Status: status, Title: title, Message: message}
		if d.cfg.Dev && status >= 500 {
			props.Detail = err.Error()
		}
		// Keep the dashboard's frame for signed-in users, unless the
		// database is what failed.
		if !ScopeFrom(c).IsZero() && status != http.StatusServiceUnavailable {
			if shell, serr := d.shell(c, title, ""); serr == nil {
				props.Shell = &shell
			}
		}
		return render(c, status, views.ErrorPage(props))
	}
	// An unknown page never ran the page middleware; run it now so that a
	// signed-in user keeps their menu.
	if status == http.StatusNotFound && c.Request().Method == http.MethodGet && ScopeFrom(c).IsZero() {
		page = d.session(d.csrf(d.loadScope(page)))
	}
	if rerr := page(c); rerr != nil {
		log.Error("rendering the error page failed", "err", rerr)
		_ = c.String(status, message)
	}
}

func (d *deps) classify(c echo.Context, err error) (int, string, string) {
	var he *echo.HTTPError
	switch {
	case errors.Is(err, tenancy.ErrNotFound), errors.Is(err, tenancy.ErrNotMember):
		return http.StatusNotFound, "Page not found", "There is nothing here, or it belongs to an account you are not in."
	case errors.Is(err, tenancy.ErrForbidden):
		return http.StatusForbidden, "Not allowed", "Your role in this account does not allow this. Ask an administrator."
	case errors.Is(err, echo.ErrStatusRequestEntityTooLarge):
		// Whoever read the body (a form binder, a parser) may have wrapped
		// the limit's error in its own; the limit is what the user must hear.
		return http.StatusRequestEntityTooLarge, "Too large", "What you sent is larger than Switchboard accepts. Send less and try again."
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return http.StatusNotFound, "Page not found", "There is nothing here, or it belongs to an account you are not in."
		case http.StatusMethodNotAllowed:
			return http.StatusMethodNotAllowed, "Method not allowed", "This address does not accept that kind of request."
		}
		msg, ok := he.Message.(string)
		if !ok {
			msg = fmt.Sprint(he.Message)
		}
		return he.Code, http.StatusText(he.Code), msg
	}
	// An unexpected error: if the database is away, say so (503) rather
	// than blame the server.
	if tenancy.Outage(c.Request().Context(), d.db, err) {
		return unavailable()
	}
	return http.StatusInternalServerError, "Something went wrong", "The error was logged. Try again in a moment."
}

// refusal is how a form answers a domain rule that refused it: the status
// and the words the user reads. Models return sentinel errors, not UI text;
// this is the one place they become messages. ok is false for any other
// error.
func refusal(err error) (status int, message string, ok bool) {
	switch {
	case errors.Is(err, tenancy.ErrBadCredentials):
		return http.StatusUnauthorized, "The email or password is incorrect.", true
	case errors.Is(err, models.ErrLastAdmin):
		return http.StatusConflict, "An organization must keep at least one administrator: make someone else an administrator first.", true
	case errors.Is(err, models.ErrSCIMManaged):
		return http.StatusConflict, "The organization's identity provider manages this membership (SCIM): its role and removal change there, not here.", true
	case errors.Is(err, billing.ErrEnterpriseContract):
		return http.StatusConflict, "This account is on an Enterprise contract. To change its plan, contact us.", true
	case errors.Is(err, billing.ErrNeedsBillingContact):
		return http.StatusUnprocessableEntity, "Add a billing email and address below before upgrading.", true
	}
	return 0, "", false
}

// retryAfterOutage is the Retry-After of a 503 while the database does not
// answer, in seconds: replicas reconnect within a few once it is back.
const retryAfterOutage = "5"

func unavailable() (int, string, string) {
	return http.StatusServiceUnavailable, "Temporarily unavailable", "Switchboard cannot reach its database right now. It will recover by itself; try again in a moment."
}

// isAPI reports whether the request is for the platform API, which answers
// in JSON.
func isAPI(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == "/v1.3" || strings.HasPrefix(p, "/v1.3/")
}
