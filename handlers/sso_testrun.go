package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models/sso"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// testOutcome is what a connection test shows.
type testOutcome struct {
	NameID     string              `json:"name_id,omitempty"`
	Attributes map[string][]string `json:"attributes,omitempty"`
	// FriendlyNames are the attributes' FriendlyNames, by Name.
	FriendlyNames map[string][]string `json:"friendly_names,omitempty"`
	Email         string              `json:"email,omitempty"`
	Name          string              `json:"name,omitempty"`
	Refusal       string              `json:"refusal,omitempty"`
}

// finishTest records what a test sign-in brought back and shows it to the
// administrator who ran it, changing no setting and no session.
func (h *SSO) finishTest(c echo.Context, sa sso.SSOAccount, req sso.SSORequest, id sso.SSOIdentity, signInRefusal string) error {
	out := testOutcome{NameID: id.NameID, Attributes: id.Attributes, Refusal: signInRefusal}
	for friendly, names := range id.FriendlyNames {
		for _, n := range names {
			if out.FriendlyNames == nil {
				out.FriendlyNames = map[string][]string{}
			}
			out.FriendlyNames[n] = append(out.FriendlyNames[n], friendly)
		}
	}
	if signInRefusal == "" {
		email, name, err := sa.Connection.MapIdentity(id)
		switch {
		case err != nil:
			out.Refusal = err.Error()
		case !sa.Connection.OwnsEmail(email):
			out.Email, out.Name, out.Refusal = email, name, email+" is outside the organization's domains ("+strings.Join(sa.Connection.Domains, ", ")+")"
		default:
			out.Email, out.Name = email, name
		}
	}
	b, _ := json.Marshal(out)
	if err := sso.ConsumeSSORequest(c.Request().Context(), h.db, sa, req.ID, string(b)); err != nil {
		return h.refuse(c, http.StatusForbidden, "This test response was already used.", "test request consumed concurrently", nil)
	}
	return c.Redirect(http.StatusSeeOther, paths.SSOTestResult(req.ID))
}

// TestSubmit runs a real sign-in through the IdP whose outcome is only
// shown, never acted on.
func (h *SSO) TestSubmit(c echo.Context) error {
	scope := ScopeFrom(c)
	sa, err := sso.FindSSOBySlug(c.Request().Context(), h.db, scope.Account().SlugOrEmpty())
	if errors.Is(err, tenancy.ErrNotFound) {
		// A page from before the connection was removed: nothing to test.
		return h.settingsPage(c, http.StatusUnprocessableEntity, nil, tenancy.FieldErrors{"metadata_xml": "Save the identity provider's metadata first."})
	}
	if err != nil {
		return err
	}
	uid := scope.UserID()
	return h.startSSO(c, sa, sso.SSOTest, &uid)
}

// TestResultPage shows what a test sign-in brought back.
func (h *SSO) TestResultPage(c echo.Context) error {
	req, err := sso.SSOTestResult(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	var out testOutcome
	if req.Result == "" {
		out.Refusal = "No answer from the identity provider yet: finish signing in there, or start the test again."
	} else if err := json.Unmarshal([]byte(req.Result), &out); err != nil {
		return err
	}
	shell, err := h.shell(c, "Connection test", "sso")
	if err != nil {
		return err
	}
	p := views.SSOTestPageProps{Shell: shell, NameID: out.NameID, Email: out.Email, Name: out.Name, Refusal: out.Refusal}
	keys := make([]string, 0, len(out.Attributes))
	for k := range out.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		label := k
		if friendly := out.FriendlyNames[k]; len(friendly) > 0 {
			sort.Strings(friendly)
			label += " (" + strings.Join(friendly, ", ") + ")"
		}
		p.Attributes = append(p.Attributes, views.SSOAttribute{Name: label, Values: strings.Join(out.Attributes[k], ", ")})
	}
	return render(c, http.StatusOK, views.SSOTestPage(p))
}

// Why a metadata fetch failed, for the message shown; the details go to
