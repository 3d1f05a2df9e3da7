package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	case errors.Is(err, tenancy.ErrUnavailable) || tenancy.Ping(c.Request().Context(), d.db) != nil:
		ae = &apiError{http.StatusServiceUnavailable, "service_unavailable", "The service is temporarily unavailable. Try again in a moment."}
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
		if err != nil {
			return err
		}
		c.Set(ctxKeyScope, k)
		c.Set(ctxScope, k.Scope)
		return next(c)
	}
}

// limit takes the request from the account's budgets (shared by every key
// of every member), sets the X-Ratelimit headers, and refuses with 429 when
// a budget is spent; a refused request does nothing. Requests that pass are
// recorded as usage, in batches.
func (a *API) limit(category string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k := keyScopeFrom(c)
			at := time.Now()
			d, err := a.limiter.Take(c.Request().Context(), k.AccountID(), ratelimit.LimitsOf(k.Account()), at)
			if err != nil {
				return err
			}
			h := c.Response().Header()
			h.Set("X-Ratelimit-Limit", strconv.FormatInt(d.Limit, 10))
			h.Set("X-Ratelimit-Remaining", strconv.FormatInt(d.Remaining(), 10))
			h.Set("X-Ratelimit-Used", strconv.FormatInt(d.Used, 10))
			h.Set("X-Ratelimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
			if !d.Allowed {
				retry := int64(d.Reset.Sub(at).Seconds()) + 1
				h.Set("Retry-After", strconv.FormatInt(retry, 10))
				return &apiError{http.StatusTooManyRequests, "too_many_requests",
					fmt.Sprintf("The rate limit of %d requests has been reached for this account. Try again in %d seconds.", d.Limit, retry)}
			}
			a.usage.RecordRequest(k, category, at)
			return next(c)
		}
	}
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

// API model names and the dashboard's models they are.
var apiModels = map[string]string{"marengo3.0": models.ModelMarengo, "pegasus1.2": models.ModelPegasus}

func apiModelName(model string) string {
	for k, v := range apiModels {
		if v == model {
			return k
		}
	}
	return model
}

type apiModel struct {
	ModelName    string   `json:"model_name"`
	ModelOptions []string `json:"model_options"`
}

type apiIndex struct {
	ID            string     `json:"_id"`
	IndexName     string     `json:"index_name"`
	Models        []apiModel `json:"models"`
	VideoCount    int64      `json:"video_count"`
	TotalDuration int64      `json:"total_duration"`
	CreatedAt     string     `json:"created_at"`
	UpdatedAt     string     `json:"updated_at"`
	// ExpiresAt is always null: indexes here do not expire.
	ExpiresAt *string  `json:"expires_at"`
	Addons    []string `json:"addons"`
}

func apiTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func toAPIIndex(idx models.Index) apiIndex {
	out := apiIndex{ID: idx.PublicID, IndexName: idx.Name, VideoCount: idx.VideoCount, TotalDuration: idx.TotalDuration,
		CreatedAt: apiTime(idx.CreatedAt), UpdatedAt: apiTime(idx.UpdatedAt), Addons: idx.AddonList(), Models: []apiModel{}}
	for _, m := range idx.Models() {
		out.Models = append(out.Models, apiModel{ModelName: apiModelName(m.Name), ModelOptions: m.Options})
	}
	return out
}

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

// ListIndexes answers GET /v1.3/indexes.
func (a *API) ListIndexes(c echo.Context) error {
	p, err := readListParams(c, "index_name", "model_options", "model_family", "created_at", "updated_at")
	if err != nil {
		return err
	}
	q := models.APIIndexQuery{Page: p.page, Limit: p.limit, SortBy: p.sortBy, Ascending: p.ascending, Name: strings.TrimSpace(c.QueryParam("index_name"))}
	switch fam := c.QueryParam("model_family"); fam {
	case "":
	case models.ModelMarengo, models.ModelPegasus:
		q.ModelFamily = fam
	default:
		return invalid("model_family", "must be marengo or pegasus")
	}
	if v := c.QueryParam("model_options"); v != "" {
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); !slices.Contains(models.ModelOptions, o) {
				return invalid("model_options", "must be visual, audio or both, separated by a comma")
			}
			q.ModelOptions = append(q.ModelOptions, o)
		}
	}
	if q.CreatedAt, err = readDay(c, "created_at"); err != nil {
		return err
	}
	if q.UpdatedAt, err = readDay(c, "updated_at"); err != nil {
		return err
	}
	rows, total, err := models.ListIndexesForAPI(c.Request().Context(), a.db, ScopeFrom(c), q)
	if err != nil {
		return err
	}
	out := apiIndexPage{Data: make([]apiIndex, 0, len(rows)), PageInfo: newPageInfo(p.page, p.limit, total)}
	for _, r := range rows {
		out.Data = append(out.Data, toAPIIndex(r))
	}
	return c.JSON(http.StatusOK, out)
}

type apiIndexPage struct {
	Data     []apiIndex `json:"data"`
	PageInfo pageInfo   `json:"page_info"`
}

var objectID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func indexID(c echo.Context) (string, error) {
	id := c.Param("index_id")
	if !objectID.MatchString(id) {
		return "", invalid("index_id", "must be 24 lower-case hexadecimal characters")
	}
	return id, nil
}

// readIndexName reads and checks index_name the way both create and rename
// take it.
func readIndexName(fields map[string]json.RawMessage) (string, error) {
	var name string
	present, err := field(fields, "index_name", &name, "a string")
	if err != nil {
		return "", err
	}
	if !present {
		return "", notProvided("index_name")
	}
	return name, nil
}

// indexFailure turns a refused index into the API's error codes.
func indexFailure(err error, name string) error {
	if errors.Is(err, models.ErrIndexNameTaken) {
		return &apiError{http.StatusBadRequest, "index_name_already_exists", "Index name " + strings.TrimSpace(name) + " already exists. Please use another unique name and try again."}
	}
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		for _, k := range []string{"name", "model", "marengo_options", "pegasus_options", "addons"} {
			if msg, ok := fe[k]; ok {
				param := map[string]string{"name": "index_name", "addons": "addons"}[k]
				if param == "" {
					param = "models"
				}
				return invalid(param, strings.TrimSuffix(strings.ToLower(msg[:1])+msg[1:], "."))
			}
		}
	}
	return err
}

// CreateIndex answers POST /v1.3/indexes: 201 with the new _id.
func (a *API) CreateIndex(c echo.Context) error {
	fields, err := readJSON(c, "index_name", "models", "addons")
	if err != nil {
		return err
	}
	name, err := readIndexName(fields)
	if err != nil {
		return err
	}
	var ms []struct {
		ModelName    *string   `json:"model_name"`
		ModelOptions *[]string `json:"model_options"`
	}
	present, err := field(fields, "models", &ms, "a list of {model_name, model_options} objects")
	if err != nil {
		return err
	}
	if !present || len(ms) == 0 {
		return notProvided("models")
	}
	var addons []string
	if _, err := field(fields, "addons", &addons, "a list of strings"); err != nil {
		return err
	}
	for _, ad := range addons {
		if ad != "thumbnail" {
			return invalid("addons", "the only add-on is thumbnail")
		}
	}
	in := models.IndexInput{Name: name, Addons: addons}
	for i, m := range ms {
		if m.ModelName == nil {
			return notProvided(fmt.Sprintf("models[%d].model_name", i))
		}
		if m.ModelOptions == nil {
			return notProvided(fmt.Sprintf("models[%d].model_options", i))
		}
		model, ok := apiModels[*m.ModelName]
		if !ok {
			return invalid(fmt.Sprintf("models[%d].model_name", i), "must be marengo3.0 or pegasus1.2")
		}
		if slices.Contains(in.Models, model) {
			return invalid("models", *m.ModelName+" is listed twice")
		}
		for _, o := range *m.ModelOptions {
			if !slices.Contains(models.ModelOptions, o) {
				return invalid(fmt.Sprintf("models[%d].model_options", i), "options are visual and audio")
			}
		}
		if len(*m.ModelOptions) == 0 {
			return invalid(fmt.Sprintf("models[%d].model_options", i), "choose visual, audio or both")
		}
		in.Models = append(in.Models, model)
		if model == models.ModelMarengo {
			in.MarengoOptions = *m.ModelOptions
		} else {
			in.PegasusOptions = *m.ModelOptions
		}
	}
	idx, err := models.CreateIndex(c.Request().Context(), a.db, ScopeFrom(c), in)
	if err != nil {
		return indexFailure(err, name)
	}
	return c.JSON(http.StatusCreated, map[string]string{"_id": idx.PublicID})
}

// RetrieveIndex answers GET /v1.3/indexes/{index_id}.
func (a *API) RetrieveIndex(c echo.Context) error {
	id, err := indexID(c)
	if err != nil {
		return err
	}
	row, err := models.GetIndex(c.Request().Context(), a.db, ScopeFrom(c), id)
	if errors.Is(err, tenancy.ErrNotFound) {
		return notExists(id, "indexes")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIIndex(row.Index))
}

// UpdateIndex answers PUT /v1.3/indexes/{index_id}: renames, 204. Models
// cannot change.
func (a *API) UpdateIndex(c echo.Context) error {
	id, err := indexID(c)
	if err != nil {
		return err
	}
	fields, err := readJSON(c, "index_name", "models", "index_options", "engine_id")
	if err != nil {
		return err
	}
	for _, k := range []string{"models", "index_options", "engine_id"} {
		if _, ok := fields[k]; ok {
			return &apiError{http.StatusBadRequest, "index_option_cannot_be_changed", "Index option cannot be changed. Please remove the " + k + " parameter and try again. If you want to change index options, please create a new index."}
		}
	}
	name, err := readIndexName(fields)
	if err != nil {
		return err
	}
	_, err = models.UpdateIndex(c.Request().Context(), a.db, ScopeFrom(c), id, models.IndexUpdate{Name: name})
	if errors.Is(err, tenancy.ErrNotFound) {
		return notExists(id, "indexes")
	}
	if err != nil {
		return indexFailure(err, name)
	}
	return c.NoContent(http.StatusNoContent)
}

// DeleteIndex answers DELETE /v1.3/indexes/{index_id}: 204.
func (a *API) DeleteIndex(c echo.Context) error {
	id, err := indexID(c)
	if err != nil {
		return err
	}
	_, err = models.DeleteIndex(c.Request().Context(), a.db, ScopeFrom(c), id)
	if errors.Is(err, tenancy.ErrNotFound) {
		return notExists(id, "indexes")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type apiVideo struct {
	ID             string         `json:"_id"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
	IndexedAt      string         `json:"indexed_at"`
	SystemMetadata map[string]any `json:"system_metadata"`
}

// ListVideos answers GET /v1.3/indexes/{index_id}/videos.
func (a *API) ListVideos(c echo.Context) error {
	id, err := indexID(c)
	if err != nil {
		return err
	}
	p, err := readListParams(c, "filename")
	if err != nil {
		return err
	}
	videos, total, err := models.ListVideosForAPI(c.Request().Context(), a.db, ScopeFrom(c), id,
		models.APIVideoQuery{Page: p.page, Limit: p.limit, SortBy: p.sortBy, Ascending: p.ascending, Filename: strings.TrimSpace(c.QueryParam("filename"))})
	if errors.Is(err, tenancy.ErrNotFound) {
		return notExists(id, "indexes")
	}
	if err != nil {
		return err
	}
	data := make([]apiVideo, 0, len(videos))
	for _, v := range videos {
		data = append(data, apiVideo{ID: v.PublicID, CreatedAt: apiTime(v.CreatedAt), UpdatedAt: apiTime(v.UpdatedAt), IndexedAt: apiTime(v.CreatedAt),
			SystemMetadata: map[string]any{"filename": v.Title, "duration": v.DurationSeconds}})
	}
	return c.JSON(http.StatusOK, map[string]any{"data": data, "page_info": newPageInfo(p.page, p.limit, total)})
}
