package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// Indexes handles indexes and their videos.
type Indexes struct{ *deps }

type indexForm struct {
	Name           string   `form:"name"`
	Models         []string `form:"model"`
	MarengoOptions []string `form:"marengo_options"`
	PegasusOptions []string `form:"pegasus_options"`
	Addons         []string `form:"addons"`
	Visibility     string   `form:"visibility"`
}

type videoForm struct {
	Title           string `form:"title"`
	URL             string `form:"url"`
	DurationSeconds string `form:"duration_seconds"`
}

// IndexesPage lists the indexes the user sees in the active account.
func (h *Indexes) IndexesPage(c echo.Context) error {
	scope := ScopeFrom(c)
	q := models.IndexQuery{Search: strings.TrimSpace(c.QueryParam("q")), Sort: models.SortNewest, Page: pageOf(c)}
	if c.QueryParam("sort") == string(models.SortName) {
		q.Sort = models.SortName
	}
	list, err := models.ListIndexes(c.Request().Context(), h.db, scope, q)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Indexes", "indexes")
	if err != nil {
		return err
	}
	rows := make([]views.IndexListRow, 0, len(list.Rows))
	for _, r := range list.Rows {
		rows = append(rows, views.IndexListRow{
			ID: r.PublicID, Name: r.Name, Models: modelsSummary(r.Index), Videos: strconv.FormatInt(r.VideoCount, 10),
			Duration: formatDuration(r.TotalDuration), CreatedBy: creatorName(r.CreatedByName), CreatedOn: dateOnly(r.CreatedAt),
			Private: r.Private(),
		})
	}
	return render(c, http.StatusOK, views.IndexesPage(views.IndexesPageProps{
		Shell:      shell,
		Rows:       rows,
		Search:     q.Search,
		Sort:       string(q.Sort),
		Total:      countLabel(list.Total, list.Capped, "index", "indexes"),
		Pagination: pagination(q.Page, list.Total, list.Capped, paths.Indexes(), url.Values{"q": {q.Search}, "sort": {string(q.Sort)}}),
		Empty:      list.Total == 0 && q.Search == "" && q.Page.Number == 1,
	}))
}

func (h *Indexes) newPage(c echo.Context, status int, f indexForm, errs tenancy.FieldErrors) error {
	shell, err := h.shell(c, "New index", "indexes")
	if err != nil {
		return err
	}
	return render(c, status, views.IndexNewPage(views.IndexNewPageProps{Shell: shell, Form: views.IndexFormProps{
		Name: f.Name, Models: f.Models, MarengoOptions: f.MarengoOptions, PegasusOptions: f.PegasusOptions,
		Visibility: f.Visibility, ShowVisibility: ScopeFrom(c).IsOrganization(), Errors: errs,
	}}))
}

// IndexNewPage shows the create form with Marengo (visual and audio) chosen.
func (h *Indexes) IndexNewPage(c echo.Context) error {
	return h.newPage(c, http.StatusOK, indexForm{
		Models: []string{models.ModelMarengo}, MarengoOptions: models.ModelOptions, PegasusOptions: models.ModelOptions,
	}, nil)
}

// IndexNewSubmit creates the index and opens it.
func (h *Indexes) IndexNewSubmit(c echo.Context) error {
	var f indexForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	idx, err := models.CreateIndex(c.Request().Context(), h.db, ScopeFrom(c), models.IndexInput(f))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.newPage(c, http.StatusUnprocessableEntity, f, fe)
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Created the index "+idx.Name+". Add videos to it below.", paths.Index(idx.PublicID))
}

// indexPageState is what an index page shows besides the index: the forms'
// values and errors after a refused submission.
type indexPageState struct {
	edit        *indexForm
	editErrors  tenancy.FieldErrors
	video       videoForm
	videoErrors tenancy.FieldErrors
}

func (h *Indexes) indexPage(c echo.Context, status int, st indexPageState) error {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	row, err := models.GetIndex(ctx, h.db, scope, c.Param("id"))
	if err != nil {
		return err
	}
	page := pageOf(c)
	videos, err := models.ListVideos(ctx, h.db, scope, row.Index, page)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, row.Name, "indexes")
	if err != nil {
		return err
	}
	p := views.IndexPageProps{
		Shell: shell, ID: row.PublicID, Name: row.Name, Private: row.Private(),
		VideoCount: strconv.FormatInt(row.VideoCount, 10), Duration: formatDuration(row.TotalDuration),
		CreatedBy: creatorName(row.CreatedByName), CreatedOn: dateOnly(row.CreatedAt), UpdatedOn: dateOnly(row.UpdatedAt),
		EditName: row.Name, EditVisibility: string(row.Visibility),
		ShowVisibility: scope.IsOrganization() && row.CreatedByID != nil && *row.CreatedByID == scope.UserID(),
		EditErrors:     st.editErrors,
		VideoPages:     pagination(page, row.VideoCount, false, paths.Index(row.PublicID), nil),
		VideoTitle:     st.video.Title, VideoURL: st.video.URL, VideoDuration: st.video.DurationSeconds, VideoErrors: st.videoErrors,
	}
	if st.edit != nil {
		p.EditName, p.EditVisibility = st.edit.Name, st.edit.Visibility
	}
	for _, m := range row.Models() {
		p.Models = append(p.Models, views.ModelBadge{Name: modelLabel(m.Name), Options: strings.Join(m.Options, ", ")})
	}
	for _, v := range videos {
		p.Videos = append(p.Videos, views.VideoListRow{ID: v.PublicID, Title: v.Title, URL: v.SourceURL,
			Duration: formatDuration(v.DurationSeconds), AddedBy: creatorName(v.CreatedByName), AddedOn: dateOnly(v.CreatedAt)})
	}
	return render(c, status, views.IndexPage(p))
}

// IndexPage shows an index, its videos and its settings.
func (h *Indexes) IndexPage(c echo.Context) error {
	return h.indexPage(c, http.StatusOK, indexPageState{})
}

// IndexSubmit renames an index or changes who sees it.
func (h *Indexes) IndexSubmit(c echo.Context) error {
	var f indexForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	idx, err := models.UpdateIndex(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"),
		models.IndexUpdate{Name: f.Name, Visibility: f.Visibility})
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.indexPage(c, http.StatusUnprocessableEntity, indexPageState{edit: &f, editErrors: fe})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Saved the index "+idx.Name+".", paths.Index(idx.PublicID))
}

// IndexDeletePage asks to confirm deleting an index, naming what goes.
func (h *Indexes) IndexDeletePage(c echo.Context) error {
	row, err := models.GetIndex(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Delete "+row.Name, "indexes")
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmPage(views.ConfirmPageProps{
		Shell: shell,
		Title: "Delete the index " + row.Name + "?",
		Consequence: fmt.Sprintf("The index %s and its %s (%s in all) will be deleted for everyone who can see it.",
			row.Name, plural(row.VideoCount, "video", "videos"), formatDuration(row.TotalDuration)),
		Action:     paths.DeleteIndex(row.PublicID),
		Button:     "Delete index",
		CancelHref: paths.Index(row.PublicID),
	}))
}

// IndexDeleteSubmit deletes an index with its videos.
func (h *Indexes) IndexDeleteSubmit(c echo.Context) error {
	idx, err := models.DeleteIndex(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"))
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Deleted the index "+idx.Name+".", paths.Indexes())
}

// VideoSubmit adds a video to an index.
func (h *Indexes) VideoSubmit(c echo.Context) error {
	var f videoForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	v, err := models.AddVideo(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), models.VideoInput(f))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.indexPage(c, http.StatusUnprocessableEntity, indexPageState{video: f, videoErrors: fe})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Added the video "+v.Title+".", paths.Index(c.Param("id")))
}

// VideoDeleteSubmit removes a video from an index.
func (h *Indexes) VideoDeleteSubmit(c echo.Context) error {
	v, err := models.DeleteVideo(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), c.Param("video_id"))
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Deleted the video "+v.Title+".", paths.Index(c.Param("id")))
}

func modelLabel(m string) string {
	if m == models.ModelPegasus {
		return "Pegasus"
	}
	return "Marengo"
}

// modelsSummary is "Marengo (visual, audio) · Pegasus (visual)".
func modelsSummary(idx models.Index) string {
	var parts []string
	for _, m := range idx.Models() {
		parts = append(parts, modelLabel(m.Name)+" ("+strings.Join(m.Options, ", ")+")")
	}
	return strings.Join(parts, " · ")
}

func creatorName(name string) string {
	if name == "" {
		return "a former member"
	}
	return name
}
