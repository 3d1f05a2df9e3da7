package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// API serves the platform API under /v1.3, wire-compatible with the public
// TwelveLabs API for indexes. A key's account and owner become the request's
// scope, through the same models code the dashboard uses.
type API struct {
	*deps
	limiter ratelimit.RateLimiter
	usage   *usage.UsageRecorder
}

const ctxKeyScope = "switchboard.keyscope"

func keyScopeFrom(c echo.Context) tenancy.KeyScope {
	k, _ := c.Get(ctxKeyScope).(tenancy.KeyScope)
	return k
}

// authenticate turns the x-api-key header into the request's scope. Every
// request looks the key up: a revoked key fails on the very next request.
func (a *API) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		k, err := models.ScopeForAPIKey(c.Request().Context(), a.db, c.Request().Header.Get("x-api-key"))
		if errors.Is(err, models.ErrAPIKeyInvalid) {
			return &apiError{http.StatusUnauthorized, "api_key_invalid", "API Key is either invalid or expired. Please check your API key or generate a new one from the dashboard and try again."}
		}
		if errors.Is(err, models.ErrSecondFactorRequired) {
			return &apiError{http.StatusForbidden, "two_factor_required", "The organization requires two-factor authentication of its members. Set up a second factor in the dashboard (Settings › Security), then use this key again."}
		}
		if err != nil {
			return err
		}
		c.Set(ctxKeyScope, k)
		c.Set(ctxScope, k.Scope)
		return next(c)
	}
}

// limit draws each request from its account's budgets, with the
// X-Ratelimit headers on every answer, and bills it to category.
func (a *API) limit(category string) echo.MiddlewareFunc {
	return a.rateLimit(budget{
		limiter: a.limiter,
		headers: true,
		tooMany: func(limit, retryAfter int64) error {
			return &apiError{http.StatusTooManyRequests, "too_many_requests",
				fmt.Sprintf("The rate limit of %d requests has been reached for this account. Try again in %d seconds.", limit, retryAfter)}
		},
		record: func(c echo.Context, at time.Time) { a.usage.RecordRequest(keyScopeFrom(c), category, at) },
	})
}

// Usage categories of API requests.
const (
	catIndexRead  = "indexes.read"
	catIndexWrite = "indexes.write"
	catVideoRead  = "videos.read"
)

// maxBody bounds request bodies: an index is a few hundred bytes.
const maxBody = 64 << 10

// readJSON decodes a JSON object body into fields, refusing oversized,
// malformed and non-object bodies, and keys not in allowed.
func readJSON(c echo.Context, allowed ...string) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBody+1))
	if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "parameter_invalid", "The request body could not be read."}
	}
	if len(body) > maxBody {
		return nil, errBodyTooLarge
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &apiError{http.StatusBadRequest, "parameter_not_provided", "The request body is empty; send a JSON object."}
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, &apiError{http.StatusBadRequest, "parameter_invalid", "The request body is not a JSON object: " + jsonProblem(err)}
	}
	if dec.More() {
		return nil, &apiError{http.StatusBadRequest, "parameter_invalid", "The request body has data after its JSON object."}
	}
	var unknown []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, unknownParams(unknown)
	}
	return fields, nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return "null."
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d).", se.Error(), se.Offset)
	case errors.As(err, &te):
		return "found " + te.Value + "."
	}
	return err.Error() + "."
}

// field decodes one JSON field into dst, naming the field when its type is
// wrong.
func field(fields map[string]json.RawMessage, name string, dst any, want string) (bool, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, invalid(name, "must be "+want)
	}
	return true, nil
}

func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type pageInfo struct {
	LimitPerPage int   `json:"limit_per_page"`
	Page         int   `json:"page"`
	TotalPage    int   `json:"total_page"`
	TotalResults int64 `json:"total_results"`
}

func newPageInfo(page, limit int, total int64) pageInfo {
	pages := int((total + int64(limit) - 1) / int64(limit))
	return pageInfo{LimitPerPage: limit, Page: page, TotalPage: pages, TotalResults: total}
}

// listParams reads the paging and sorting parameters every list shares and
// refuses unknown ones.
type listParams struct {
	page, limit int
	sortBy      string
	ascending   bool
}

func readListParams(c echo.Context, extra ...string) (listParams, error) {
	q := c.QueryParams()
	known := append([]string{"page", "page_limit", "sort_by", "sort_option"}, extra...)
	var unknown []string
	for k := range q {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return listParams{}, unknownParams(unknown)
	}
	p := listParams{page: 1, limit: 10, sortBy: "created_at"}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > tenancy.MaxPage {
			return p, invalid("page", fmt.Sprintf("must be a whole number from 1 to %d", tenancy.MaxPage))
		}
		p.page = n
	}
	if v := q.Get("page_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			return p, invalid("page_limit", "must be a whole number from 1 to 50")
		}
		p.limit = n
	}
	switch v := q.Get("sort_by"); v {
	case "", "created_at":
	case "updated_at":
		p.sortBy = v
	default:
		return p, invalid("sort_by", "must be created_at or updated_at")
	}
	switch v := q.Get("sort_option"); v {
	case "", "desc":
	case "asc":
		p.ascending = true
	default:
		return p, invalid("sort_option", "must be asc or desc")
	}
	return p, nil
}

// readDay reads a created_at or updated_at filter: the list keeps what
// happened on the given date at or after the given time. A date alone is
// its whole UTC day (from midnight); a date and time keeps the rest of its
// UTC day from that instant.
func readDay(c echo.Context, name string) (*time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			u := t.UTC()
			return &u, nil
		}
	}
	return nil, invalid(name, "must be a date or a date and time in RFC 3339, like 2024-08-16T16:53:59Z")
}
