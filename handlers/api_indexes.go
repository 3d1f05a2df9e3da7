package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
)

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

func toAPIIndex(idx models.Index) apiIndex {
	out := apiIndex{ID: idx.PublicID, IndexName: idx.Name, VideoCount: idx.VideoCount, TotalDuration: idx.TotalDuration,
		CreatedAt: apiTime(idx.CreatedAt), UpdatedAt: apiTime(idx.UpdatedAt), Addons: idx.AddonList(), Models: []apiModel{}}
	for _, m := range idx.Models() {
		out.Models = append(out.Models, apiModel{ModelName: apiModelName(m.Name), ModelOptions: m.Options})
	}
	return out
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

// indexFields names the API parameter that carries each field of the
// models package's index input, for its field errors.
type indexFields map[string]string

// indexFailure turns a refused index into the API's error codes: a taken
// name has its own, and a field error names the parameter that carried the
// field, with the models package's message.
func indexFailure(err error, name string, params indexFields) error {
	if errors.Is(err, models.ErrIndexNameTaken) {
		return &apiError{http.StatusBadRequest, "index_name_already_exists", "Index name " + strings.TrimSpace(name) + " already exists. Please use another unique name and try again."}
	}
	fe, ok := tenancy.AsFieldErrors(err)
	if !ok {
		return err
	}
	for _, k := range []string{"name", "model", "marengo_options", "pegasus_options", "addons"} {
		if msg, ok := fe[k]; ok {
			param := params[k]
			if param == "" {
				param = "models"
			}
			return invalid(param, strings.TrimSuffix(strings.ToLower(msg[:1])+msg[1:], "."))
		}
	}
	return err
}

// apiIndexModel is one entry of a new index's models list.
type apiIndexModel struct {
	ModelName    *string   `json:"model_name"`
	ModelOptions *[]string `json:"model_options"`
}

// readIndexInput reads a new index from the body. It checks only the JSON's
// shape and translates the API's model names; the models package checks the
// values. The fields say which parameter carried what.
func readIndexInput(fields map[string]json.RawMessage) (models.IndexInput, indexFields, error) {
	var in models.IndexInput
	name, err := readIndexName(fields)
	if err != nil {
		return in, nil, err
	}
	var ms []apiIndexModel
	present, err := field(fields, "models", &ms, "a list of {model_name, model_options} objects")
	if err != nil {
		return in, nil, err
	}
	if !present || len(ms) == 0 {
		return in, nil, notProvided("models")
	}
	in.Name = name
	if _, err := field(fields, "addons", &in.Addons, "a list of strings"); err != nil {
		return in, nil, err
	}
	params := indexFields{"name": "index_name", "addons": "addons"}
	for i, m := range ms {
		if err := addIndexModel(&in, params, i, m); err != nil {
			return in, nil, err
		}
	}
	return in, params, nil
}

// addIndexModel adds the i-th entry of the models list to the input.
func addIndexModel(in *models.IndexInput, params indexFields, i int, m apiIndexModel) error {
	at := fmt.Sprintf("models[%d]", i)
	if m.ModelName == nil {
		return notProvided(at + ".model_name")
	}
	if m.ModelOptions == nil {
		return notProvided(at + ".model_options")
	}
	model, ok := apiModels[*m.ModelName]
	if !ok {
		return invalid(at+".model_name", "must be marengo3.0 or pegasus1.2")
	}
	if slices.Contains(in.Models, model) {
		return invalid("models", *m.ModelName+" is listed twice")
	}
	in.Models = append(in.Models, model)
	if model == models.ModelMarengo {
		in.MarengoOptions, params["marengo_options"] = *m.ModelOptions, at+".model_options"
	} else {
		in.PegasusOptions, params["pegasus_options"] = *m.ModelOptions, at+".model_options"
	}
	return nil
}

// CreateIndex answers POST /v1.3/indexes: 201 with the new _id.
func (a *API) CreateIndex(c echo.Context) error {
	fields, err := readJSON(c, "index_name", "models", "addons")
	if err != nil {
		return err
	}
	in, params, err := readIndexInput(fields)
	if err != nil {
		return err
	}
	idx, err := models.CreateIndex(c.Request().Context(), a.db, ScopeFrom(c), in)
	if err != nil {
		return indexFailure(err, in.Name, params)
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
		return indexFailure(err, name, indexFields{"name": "index_name"})
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
