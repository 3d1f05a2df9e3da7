package handlers

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// Context keys; values are read only through the typed getters below.
const (
	ctxSession = "switchboard.session"
	ctxUser    = "switchboard.user"
	ctxScope   = "switchboard.scope"
	// ctxMemberships are the user's memberships as loadScope read them.
	ctxMemberships = "switchboard.memberships"
	ctxLogger      = "switchboard.logger"
	ctxCSRF        = "csrf"
	// ctxPendingUser is the user of a session that still owes its second
	// factor; such a request has no ctxUser.
	ctxPendingUser = "switchboard.pending_user"
)

// SessionFrom is the request's session (never nil after the session middleware).
func SessionFrom(c echo.Context) *sessions.Session {
	s, _ := c.Get(ctxSession).(*sessions.Session)
	return s
}

// UserFrom is the signed-in user; ok is false for visitors.
func UserFrom(c echo.Context) (models.User, bool) {
	u, ok := c.Get(ctxUser).(models.User)
	return u, ok
}

// pendingUserFrom is the user whose password was right and whose second
// factor is still owed.
func pendingUserFrom(c echo.Context) (models.User, bool) {
	u, ok := c.Get(ctxPendingUser).(models.User)
	return u, ok
}

// ScopeFrom is the active account's scope; the zero Scope (which every
// model function refuses) when none was loaded.
func ScopeFrom(c echo.Context) tenancy.Scope {
	s, _ := c.Get(ctxScope).(tenancy.Scope)
	return s
}

// LoggerFrom is the request's logger, carrying request, user and account IDs.
func LoggerFrom(c echo.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// csrfToken is the token forms embed as _csrf.
func csrfToken(c echo.Context) string {
	t, _ := c.Get(ctxCSRF).(string)
	return t
}

// sessionRecord is the stored session behind the request, if signed in.
func sessionRecord(c echo.Context) *models.Session {
	if s := SessionFrom(c); s != nil {
		rec, _ := s.Values[valRecord].(*models.Session)
		return rec
	}
	return nil
}

// clientIP is the peer address of the request. Proxies' headers are not
// trusted: behind a proxy, configure it to connect from the client's address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// actor is the signed-in user as audit events record them.
func actor(c echo.Context) tenancy.Actor {
	u, _ := UserFrom(c)
	return tenancy.Actor{UserID: u.ID, Name: u.Name, IP: clientIP(c.Request())}
}
