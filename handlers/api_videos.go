package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
)

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
