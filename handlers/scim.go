package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/ratelimit"
	"switchboard/models/scim"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
	"switchboard/views/paths"
)

// SCIM serves SCIM 2.0 provisioning (RFC 7643/7644) under /scim/v2: an
// organization's identity provider, with a bearer token made on Settings ›
// Single sign-on, adds, updates and removes its members. The token's
// organization is the request's scope; nothing of another is visible.
type SCIM struct {
	*deps
	limiter ratelimit.RateLimiter
	usage   *usage.UsageRecorder
}

// SCIM's media type and message schemas.
const (
	scimMediaType   = "application/scim+json"
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimGroupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
	scimPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// isSCIM reports whether the request is for the SCIM endpoint, which
// answers in SCIM's JSON.
func isSCIM(c echo.Context) bool {
	p := c.Request().URL.Path
	return p == paths.SCIMBase() || strings.HasPrefix(p, paths.SCIMBase()+"/")
}

// scimError is a SCIM failure as RFC 7644 §3.12 reports it.
type scimError struct {
	Status   int
	SCIMType string
	Detail   string
}

func (e *scimError) Error() string { return e.SCIMType + ": " + e.Detail }

func scimInvalid(scimType, detail string) error {
	return &scimError{http.StatusBadRequest, scimType, detail}
}

// writeSCIMError answers a SCIM request that failed, in the error schema.
func (d *deps) writeSCIMError(c echo.Context, err error) {
	var se *scimError
	var iv scim.InvalidValue
	var he *echo.HTTPError
	switch {
	case errors.As(err, &se):
	case errors.Is(err, echo.ErrStatusRequestEntityTooLarge):
		se = &scimError{http.StatusRequestEntityTooLarge, "", "The request body is too large."}
	case errors.Is(err, scim.ErrInvalidFilter):
		se = &scimError{http.StatusBadRequest, "invalidFilter",
			`The filter is not supported. Filter Users by userName eq "…", externalId eq "…" or emails[type eq "work"].value eq "…", and Groups by displayName eq "…" or externalId eq "…".`}
	case errors.As(err, &iv):
		se = &scimError{http.StatusBadRequest, "invalidValue", iv.Detail}
	case errors.Is(err, scim.ErrUserNameTaken), errors.Is(err, scim.ErrAlreadyProvisioned), errors.Is(err, scim.ErrEmailTaken), errors.Is(err, scim.ErrGroupNameTaken):
		se = &scimError{http.StatusConflict, "uniqueness", upperFirst(err.Error()) + "."}
	case errors.Is(err, scim.ErrUnprovedDomain), errors.Is(err, scim.ErrEmailNotOwned):
		se = &scimError{http.StatusBadRequest, "invalidValue", upperFirst(err.Error()) + "."}
	case errors.Is(err, models.ErrLastAdmin):
		se = &scimError{http.StatusBadRequest, "mutability", "This would leave the organization without an administrator: make someone else an administrator first."}
	case errors.Is(err, tenancy.ErrNotFound):
		se = &scimError{http.StatusNotFound, "", "Resource not found."}
	case errors.Is(err, tenancy.ErrNotMember), errors.Is(err, scim.ErrTokenInvalid):
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="SCIM"`)
		se = &scimError{http.StatusUnauthorized, "", "The bearer token is missing, invalid or revoked. Create one in Settings › Single sign-on › Provisioning."}
	case errors.As(err, &he) && he.Code == http.StatusNotFound:
		se = &scimError{http.StatusNotFound, "", "No endpoint " + c.Request().Method + " " + c.Request().URL.Path + "."}
	case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
		se = &scimError{http.StatusMethodNotAllowed, "", "This endpoint does not accept " + c.Request().Method + "."}
	case tenancy.Outage(c.Request().Context(), d.db, err):
		se = &scimError{http.StatusServiceUnavailable, "", "The service is temporarily unavailable. Try again in a moment."}
		c.Response().Header().Set("Retry-After", retryAfterOutage)
	default:
		se = &scimError{http.StatusInternalServerError, "", "Something went wrong; it was logged."}
	}
	if se.Status >= 500 {
		LoggerFrom(c).Error("scim request failed", "status", se.Status, "err", err)
	} else {
		LoggerFrom(c).Warn("scim request refused", "status", se.Status, "scim_type", se.SCIMType, "err", err)
	}
	body := struct {
		Schemas  []string `json:"schemas"`
		Status   string   `json:"status"`
		SCIMType string   `json:"scimType,omitempty"`
		Detail   string   `json:"detail"`
	}{[]string{scimErrorSchema}, strconv.Itoa(se.Status), se.SCIMType, se.Detail}
	_ = scimJSON(c, se.Status, body)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func scimJSON(c echo.Context, status int, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(status, scimMediaType, b)
}

const ctxSCIMScope = "switchboard.scimscope"

func scimScopeFrom(c echo.Context) tenancy.SCIMScope {
	s, _ := c.Get(ctxSCIMScope).(tenancy.SCIMScope)
	return s
}

// authenticate turns the bearer token into the request's scope: its
// organization, as its identity provider. Every request looks the token
// up, so a revoked one fails on its very next request.
func (h *SCIM) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		scheme, token, _ := strings.Cut(c.Request().Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return scim.ErrTokenInvalid
		}
		s, err := scim.ScopeForToken(c.Request().Context(), h.db, strings.TrimSpace(token))
		if err != nil {
			return err
		}
		c.Set(ctxSCIMScope, s)
		c.Set(ctxScope, s.Scope)
		return next(c)
	}
}

// limit draws each request from the organization's API budgets, which its
// members' keys share, and counts it in usage as its own category.
func (h *SCIM) limit() echo.MiddlewareFunc {
	return h.rateLimit(budget{
		limiter: h.limiter,
		tooMany: func(limit, retryAfter int64) error {
			return &scimError{http.StatusTooManyRequests, "", "The organization's rate limit of " + strconv.FormatInt(limit, 10) +
				" requests is reached. Try again in " + strconv.FormatInt(retryAfter, 10) + " seconds."}
		},
		record: func(c echo.Context, at time.Time) { h.usage.RecordSCIMRequest(scimScopeFrom(c).AccountID(), at) },
	})
}

// maxSCIMBody bounds a request body: a group's members are the largest.
const maxSCIMBody = 256 << 10

// readBody decodes a JSON object body with its attribute names
// lower-cased: SCIM's are case-insensitive (RFC 7643 §2.1).
func readBody(c echo.Context) (attrs, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxSCIMBody+1))
	if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) || len(body) > maxSCIMBody {
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	if err != nil {
		return nil, scimInvalid("invalidSyntax", "The request body could not be read.")
	}
	// No text the database keeps may hold a NUL.
	if bytes.Contains(body, []byte(`\u0000`)) {
		return nil, scimInvalid("invalidValue", "Values must not contain NUL characters.")
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, scimInvalid("invalidSyntax", "The request body is not a JSON object.")
	}
	return lowerKeys(m), nil
}

// attrs are a JSON object's members by lower-cased name.
type attrs map[string]json.RawMessage

func lowerKeys(m map[string]json.RawMessage) attrs {
	out := attrs{}
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func (a attrs) has(name string) bool {
	v, ok := a[name]
	return ok && string(v) != "null"
}

// str reads a string attribute; absent or null is "".
func (a attrs) str(name string) (string, error) {
	if !a.has(name) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(a[name], &s); err != nil {
		return "", scimInvalid("invalidValue", name+" must be a string.")
	}
	return s, nil
}

// object reads an object attribute; absent or null is empty.
func (a attrs) object(name string) (attrs, error) {
	if !a.has(name) {
		return attrs{}, nil
	}
	return asObject(name, a[name])
}

func asObject(name string, raw json.RawMessage) (attrs, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, scimInvalid("invalidValue", name+" must be an object.")
	}
	return lowerKeys(m), nil
}

// boolean reads a boolean as SCIM clients send one: true/false, or the
// strings "True"/"False" Entra sends.
func boolean(name string, raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, scimInvalid("invalidValue", name+" must be true or false.")
}

// workEmail picks the address of an emails attribute: the primary one,
// else the work one, else the first.
func workEmail(raw json.RawMessage) (string, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", scimInvalid("invalidValue", "emails must be a list of objects.")
	}
	best, rank := "", -1
	for _, e := range list {
		a := lowerKeys(e)
		v, err := a.str("value")
		if err != nil {
			return "", err
		}
		r := 0
		if t, _ := a.str("type"); strings.EqualFold(t, "work") {
			r = 1
		}
		if a.has("primary") {
			if p, err := boolean("primary", a["primary"]); err == nil && p {
				r = 2
			}
		}
		if v != "" && r > rank {
			best, rank = v, r
		}
	}
	return best, nil
}

// userInput reads a User resource from a POST or PUT body.
func userInput(a attrs) (scim.UserInput, error) {
	var in scim.UserInput
	var err error
	if in.UserName, err = a.str("username"); err != nil {
		return in, err
	}
	if in.ExternalID, err = a.str("externalid"); err != nil {
		return in, err
	}
	if in.DisplayName, err = a.str("displayname"); err != nil {
		return in, err
	}
	name, err := a.object("name")
	if err != nil {
		return in, err
	}
	if in.GivenName, err = name.str("givenname"); err != nil {
		return in, err
	}
	if in.FamilyName, err = name.str("familyname"); err != nil {
		return in, err
	}
	if a.has("emails") {
		if in.Email, err = workEmail(a["emails"]); err != nil {
			return in, err
		}
	}
	in.Active = true
	if a.has("active") {
		if in.Active, err = boolean("active", a["active"]); err != nil {
			return in, err
		}
	}
	return in, nil
}

// User JSON ---------------------------------------------------------------

type scimMeta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
}

type scimName struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

type scimEmail struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

type scimRef struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref"`
}

type scimUserJSON struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        scimName    `json:"name"`
	DisplayName string      `json:"displayName"`
	Emails      []scimEmail `json:"emails"`
	Active      bool        `json:"active"`
	Groups      []scimRef   `json:"groups"`
	Meta        scimMeta    `json:"meta"`
}

func scimTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (h *SCIM) userJSON(r scim.Resource) scimUserJSON {
	u := scimUserJSON{Schemas: []string{scimUserSchema}, ID: r.PublicID, ExternalID: r.ExternalID, UserName: r.UserName,
		Name:        scimName{Formatted: r.DisplayName, GivenName: r.GivenName, FamilyName: r.FamilyName},
		DisplayName: r.DisplayName, Emails: []scimEmail{{Value: r.Email, Type: "work", Primary: true}}, Active: r.Active,
		Groups: []scimRef{},
		Meta:   scimMeta{ResourceType: "User", Created: scimTime(r.CreatedAt), LastModified: scimTime(r.UpdatedAt), Location: h.cfg.link(paths.SCIMUser(r.PublicID))}}
	for _, g := range r.Groups {
		u.Groups = append(u.Groups, scimRef{Value: g.ID, Display: g.DisplayName, Ref: h.cfg.link(paths.SCIMGroup(g.ID))})
	}
	return u
}

type scimList struct {
	Schemas      []string `json:"schemas"`
	TotalResults int64    `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

// scimListParams reads startIndex and count (RFC 7644 §3.4.2.4):
// startIndex below 1 is 1; count defaults to 100, below 0 is 0, and at
// most scim.MaxCount. Whole numbers past int64 count as its bounds.
func scimListParams(c echo.Context) (start, count int, err error) {
	start, count = 1, 100
	q := c.QueryParams()
	if v := q.Get("startIndex"); v != "" {
		n, ok := wholeNumber(v)
		if !ok {
			return 0, 0, scimInvalid("invalidValue", "startIndex must be a whole number.")
		}
		start = int(max(1, min(n, int64(tenancy.MaxPage*scim.MaxCount))))
	}
	if v := q.Get("count"); v != "" {
		n, ok := wholeNumber(v)
		if !ok {
			return 0, 0, scimInvalid("invalidValue", "count must be a whole number.")
		}
		count = int(max(0, min(n, scim.MaxCount)))
	}
	for _, vs := range q {
		for _, v := range vs {
			if !isText(v) || strings.ContainsRune(v, 0) {
				return 0, 0, scimInvalid("invalidValue", "Query parameters must be text.")
			}
		}
	}
	return start, count, nil
}

// wholeNumber parses a decimal integer; one too large for int64 is its
// bound, with its sign.
func wholeNumber(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return n, true // ParseInt answers the bound on overflow
	}
	return n, err == nil
}

// Users ---------------------------------------------------------------------

// ListUsers answers GET /Users, with filter, startIndex and count.
func (h *SCIM) ListUsers(c echo.Context) error {
	start, count, err := scimListParams(c)
	if err != nil {
		return err
	}
	var f scim.Filter
	if raw := c.QueryParam("filter"); raw != "" {
		if f, err = scim.ParseUserFilter(raw); err != nil {
			return err
		}
	}
	rs, total, err := scim.ListUsers(c.Request().Context(), h.db, ScopeFrom(c), f, start, count)
	if err != nil {
		return err
	}
	list := scimList{Schemas: []string{scimListSchema}, TotalResults: total, StartIndex: start, ItemsPerPage: len(rs), Resources: []any{}}
	for _, r := range rs {
		list.Resources = append(list.Resources, h.userJSON(r))
	}
	return scimJSON(c, http.StatusOK, list)
}

// GetUser answers GET /Users/:id.
func (h *SCIM) GetUser(c echo.Context) error {
	r, err := scim.GetUser(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.userJSON(r))
}

// CreateUser answers POST /Users: 201 with the user, 409 uniqueness when
// the userName is provisioned already.
func (h *SCIM) CreateUser(c echo.Context) error {
	a, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := userInput(a)
	if err != nil {
		return err
	}
	r, err := scim.CreateUser(c.Request().Context(), h.db, ScopeFrom(c), in)
	if err != nil {
		return err
	}
	LoggerFrom(c).Info("scim user provisioned", "scim_user", r.PublicID)
	c.Response().Header().Set("Location", h.cfg.link(paths.SCIMUser(r.PublicID)))
	return scimJSON(c, http.StatusCreated, h.userJSON(r))
}

// ReplaceUser answers PUT /Users/:id.
func (h *SCIM) ReplaceUser(c echo.Context) error {
	a, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := userInput(a)
	if err != nil {
		return err
	}
	r, err := scim.ReplaceUser(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), in)
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.userJSON(r))
}

// DeleteUser answers DELETE /Users/:id: 204; the membership ends as a
// manual removal ends it.
func (h *SCIM) DeleteUser(c echo.Context) error {
	if err := scim.DeleteUser(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id")); err != nil {
		return err
	}
	LoggerFrom(c).Info("scim user deprovisioned", "scim_user", c.Param("id"))
	return c.NoContent(http.StatusNoContent)
}

// patchOp is one operation of a PATCH (RFC 7644 §3.5.2).
type patchOp struct {
	op, path string
	value    json.RawMessage
}

// patchOps reads a PATCH body's operations; op names are case-insensitive
// (Entra sends "Replace").
func patchOps(a attrs) ([]patchOp, error) {
	if !a.has("operations") {
		return nil, scimInvalid("invalidSyntax", "A PATCH needs Operations.")
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(a["operations"], &list); err != nil || len(list) == 0 {
		return nil, scimInvalid("invalidSyntax", "Operations must be a non-empty list of objects.")
	}
	if len(list) > 100 {
		return nil, scimInvalid("invalidSyntax", "A PATCH may have at most 100 operations.")
	}
	ops := make([]patchOp, 0, len(list))
	for _, o := range list {
		oa := lowerKeys(o)
		op, err := oa.str("op")
		if err != nil {
			return nil, err
		}
		path, err := oa.str("path")
		if err != nil {
			return nil, err
		}
		op = strings.ToLower(op)
		if op != "add" && op != "replace" && op != "remove" {
			return nil, scimInvalid("invalidSyntax", `op must be "add", "replace" or "remove".`)
		}
		if op != "remove" && !oa.has("value") {
			article := "A"
			if op == "add" {
				article = "An"
			}
			return nil, scimInvalid("invalidValue", article+` "`+op+`" operation needs a value.`)
		}
		ops = append(ops, patchOp{op: op, path: strings.TrimSpace(path), value: oa["value"]})
	}
	return ops, nil
}

// userAttr names a User attribute a PATCH path or a path-less value key
// targets, with the core schema's URI prefix dropped, lower-cased:
// "active", "username", "name.givenname", `emails[type eq "work"].value`…
func userAttr(path string) string {
	p := strings.ToLower(strings.TrimSpace(path))
	p = strings.TrimPrefix(p, strings.ToLower(scimUserSchema)+":")
	return strings.Join(strings.Fields(p), " ")
}

// PatchUser answers PATCH /Users/:id: Okta's path-less replace of
// {"active":false}, Entra's "Replace" of "active" with "False", names,
// userName, externalId and the work email (`emails[type eq "work"].value`).
// Attributes Switchboard does not keep (title, addresses, the enterprise
// extension…) are accepted and ignored, so that an IdP's usual mappings
// do not fail.
func (h *SCIM) PatchUser(c echo.Context) error {
	a, err := readBody(c)
	if err != nil {
		return err
	}
	ops, err := patchOps(a)
	if err != nil {
		return err
	}
	var ch scim.Changes
	for _, op := range ops {
		if op.path == "" {
			if op.op == "remove" {
				return scimInvalid("noTarget", "A remove operation needs a path.")
			}
			obj, err := asObject("value", op.value)
			if err != nil {
				return err
			}
			for k, v := range obj {
				if err := setUserAttr(&ch, "replace", userAttr(k), v); err != nil {
					return err
				}
			}
			continue
		}
		if err := setUserAttr(&ch, op.op, userAttr(op.path), op.value); err != nil {
			return err
		}
	}
	r, err := scim.UpdateUser(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), ch)
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.userJSON(r))
}

// setUserAttr applies one operation on one attribute to ch.
func setUserAttr(ch *scim.Changes, op, attr string, v json.RawMessage) error {
	str := func(field string, dst **string) error {
		if op == "remove" {
			if field == "userName" || field == "email" {
				return scimInvalid("mutability", field+" is required and cannot be removed.")
			}
			empty := ""
			*dst = &empty
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return scimInvalid("invalidValue", field+" must be a string.")
		}
		*dst = &s
		return nil
	}
	switch attr {
	case "active":
		if op == "remove" {
			return scimInvalid("mutability", "active cannot be removed; set it to false.")
		}
		b, err := boolean("active", v)
		if err != nil {
			return err
		}
		ch.Active = &b
	case "username":
		return str("userName", &ch.UserName)
	case "externalid":
		return str("externalId", &ch.ExternalID)
	case "displayname":
		return str("displayName", &ch.DisplayName)
	case "name.givenname":
		return str("name.givenName", &ch.GivenName)
	case "name.familyname":
		return str("name.familyName", &ch.FamilyName)
	case "name":
		if op == "remove" {
			empty := ""
			ch.GivenName, ch.FamilyName = &empty, &empty
			return nil
		}
		obj, err := asObject("name", v)
		if err != nil {
			return err
		}
		for k, sub := range obj {
			if err := setUserAttr(ch, op, "name."+k, sub); err != nil {
				return err
			}
		}
	case `emails[type eq "work"].value`, `emails[primary eq true].value`, "emails.value":
		return str("email", &ch.Email)
	case "emails", `emails[type eq "work"]`:
		if op == "remove" {
			return scimInvalid("mutability", "The work email is required and cannot be removed.")
		}
		raw := v
		if attr != "emails" {
			raw = append(append(json.RawMessage{'['}, v...), ']')
		}
		email, err := workEmail(raw)
		if err != nil {
			return err
		}
		if email != "" {
			ch.Email = &email
		}
	case "id", "schemas", "meta", "groups", "password":
		// Read-only, or not Switchboard's to set here (groups: PATCH the
		// group; passwords: a reset).
	default:
		if !ignoredUserAttr(attr) {
			return scimInvalid("invalidPath", "The path "+attr+" is not an attribute of a User that Switchboard can change.")
		}
	}
	return nil
}

// keptElsewhere are the core User attributes (RFC 7643 §4.1) Switchboard
// does not keep: an identity provider's usual mappings send them, so a
// PATCH of them is accepted and has no effect.
var keptElsewhere = []string{"nickname", "profileurl", "title", "usertype", "preferredlanguage", "locale", "timezone",
	"phonenumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509certificates",
	"name.formatted", "name.middlename", "name.honorificprefix", "name.honorificsuffix"}

// ignoredUserAttr reports whether a PATCH of attr (as userAttr spells it)
// is accepted without effect: an attribute of an extension schema
// (enterprise, or the IdP's own), or a core one Switchboard does not keep,
// with any value filter or sub-attribute. Anything else is not a User's.
func ignoredUserAttr(attr string) bool {
	if strings.HasPrefix(attr, "urn:") {
		return true
	}
	base := attr
	if i := strings.IndexByte(base, '['); i >= 0 {
		base = base[:i]
	}
	if slices.Contains(keptElsewhere, base) {
		return true
	}
	if i := strings.IndexByte(base, '.'); i >= 0 && !strings.HasPrefix(base, "name.") {
		base = base[:i]
	}
	return slices.Contains(keptElsewhere, base)
}
