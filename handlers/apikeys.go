package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// APIKeys handles Settings › API Keys: each member's own keys in the
// active account.
type APIKeys struct{ *deps }

type keyForm struct {
	Name string `form:"name"`
}

func (h *APIKeys) page(c echo.Context, status int, created *models.NewAPIKey, f keyForm, errs tenancy.FieldErrors) error {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	keys, err := models.ListAPIKeys(ctx, h.db, scope)
	if err != nil {
		return err
	}
	minute, day, err := h.cfg.RateLimiter.Used(ctx, scope.AccountID(), time.Now())
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "API Keys", "api-keys")
	if err != nil {
		return err
	}
	limits := ratelimit.LimitsOf(scope.Account())
	p := views.APIKeysPageProps{
		Shell: shell, BaseURL: strings.TrimRight(h.cfg.BaseURL, "/"), KeyLife: plural(int64(h.cfg.APIKeyTTL/(24*time.Hour)), "day", "days"), Name: f.Name, Errors: errs,
		Limits: views.RateLimitsProps{
			Plan: scope.Account().Plan.Label(), PerMinute: thousands(limits.PerMinute), PerDay: thousands(limits.PerDay),
			UsedMinute: thousands(minute), UsedToday: thousands(day), Shared: scope.IsOrganization(),
			DayFraction: percent(day, limits.PerDay),
		},
	}
	if created != nil {
		p.NewKey, p.NewKeyName = created.Secret, created.Name
	}
	for _, k := range keys {
		row := views.APIKeyRow{ID: k.PublicID, Name: k.Name, Prefix: k.Prefix, Created: dateOnly(k.CreatedAt),
			Expires: dateOnly(k.ExpiresAt), LastUsed: "Never", Status: keyStatusLabel(k.Status())}
		if k.LastUsedAt != nil {
			row.LastUsed = dateOnly(*k.LastUsedAt)
		}
		p.Keys = append(p.Keys, row)
	}
	// A page with a secret on it must not be kept by the browser or proxies.
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.APIKeysPage(p))
}

func keyStatusLabel(s models.APIKeyStatus) string {
	switch s {
	case models.KeyActive:
		return "Active"
	case models.KeyExpired:
		return "Expired"
	}
	return "Revoked"
}

func percent(n, of int64) int {
	if of <= 0 {
		return 100
	}
	return int(min(100, n*100/of))
}

// KeysPage lists the user's keys in the active account and the account's
// rate limits.
func (h *APIKeys) KeysPage(c echo.Context) error {
	return h.page(c, http.StatusOK, nil, keyForm{}, nil)
}

// CreateSubmit creates a key and shows its secret, once. The answer is the
// page itself rather than a redirect, so the secret is never stored to be
// shown later.
func (h *APIKeys) CreateSubmit(c echo.Context) error {
	var f keyForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	if !sessionMayCreateKeys(c) {
		return h.page(c, http.StatusForbidden, nil, f, tenancy.FieldErrors{"name": keysNeedSecondFactor})
	}
	k, err := models.CreateAPIKey(c.Request().Context(), h.db, ScopeFrom(c), f.Name, h.cfg.APIKeyTTL)
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.page(c, http.StatusUnprocessableEntity, nil, f, fe)
	}
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("api key created", "key", k.PublicID)
	return h.page(c, http.StatusOK, &k, keyForm{}, nil)
}

// RegenerateSubmit gives a key a new secret and shows it, once.
func (h *APIKeys) RegenerateSubmit(c echo.Context) error {
	if !sessionMayCreateKeys(c) {
		return h.page(c, http.StatusForbidden, nil, keyForm{}, tenancy.FieldErrors{"name": keysNeedSecondFactor})
	}
	k, err := models.RegenerateAPIKey(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), h.cfg.APIKeyTTL)
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("api key regenerated", "key", k.PublicID)
	return h.page(c, http.StatusOK, &k, keyForm{}, nil)
}

// RevokeSubmit stops a key.
func (h *APIKeys) RevokeSubmit(c echo.Context) error {
	k, err := models.RevokeAPIKey(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("api key revoked", "key", k.PublicID)
	return h.flashRedirect(c, flashSuccess, "Revoked the key “"+k.Name+"”. Requests with it are refused from now on.", paths.APIKeys())
}

const keysNeedSecondFactor = "This organization requires two-factor authentication: sign out and sign in again with your second factor to create or regenerate keys."

// sessionMayCreateKeys: an organization that requires a second factor lets
// only sessions that passed one (or came through its IdP) make new secrets.
func sessionMayCreateKeys(c echo.Context) bool {
	scope := ScopeFrom(c)
	if !scope.KeysNeedSecondFactorSession() {
		return true
	}
	s := SessionFrom(c)
	if ssoAccountOf(s) == scope.AccountID() {
		return true
	}
	method, _ := s.Values[valMethod].(string)
	switch models.AuthMethod(method) {
	case models.AuthPasswordTOTP, models.AuthPasswordPasskey, models.AuthPasskey:
		return true
	}
	return false
}
