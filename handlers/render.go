package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/static"
	"switchboard/views"
	"switchboard/views/paths"
)

// render buffers the component before writing, so that a failed render is a
// clean error page rather than half a page. Knowing the whole page, it sends
// its length rather than chunks. It renders in its turn (renderTurns).
func render(c echo.Context, status int, comp templ.Component) error {
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer putPageBuffer(buf)
	if err := renderInTurn(c.Request().Context(), renderTurns, buf, comp); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	return c.HTMLBlob(status, buf.Bytes())
}

// renderInTurn renders comp into buf in its turn, or gives up waiting when
// ctx ends: the client went away, there is no one to render for.
func renderInTurn(ctx context.Context, turns tenancy.Turns, buf *bytes.Buffer, comp templ.Component) error {
	if err := turns.Take(ctx); err != nil {
		return err
	}
	defer turns.Give()
	return comp.Render(ctx, buf)
}

// pageBuffers keeps render's buffers between requests: a page is tens of
// kilobytes, which a new buffer would grow to by copying several times.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putPageBuffer returns buf to the pool, unless an unusually large page
// grew it: the pool should not keep that much memory for every request.
func putPageBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 1<<20 {
		return
	}
	buf.Reset()
	pageBuffers.Put(buf)
}

// staticFiles serves the embedded assets; a ?v= content hash in the URL
// (static.Path) lets browsers keep them for a year.
func staticFiles() echo.HandlerFunc {
	server := http.StripPrefix("/static/", http.FileServer(http.FS(static.FS)))
	return func(c echo.Context) error {
		if strings.HasSuffix(c.Request().URL.Path, "/") {
			return echo.ErrNotFound // no directory listings
		}
		if c.QueryParam("v") != "" {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Response().Header().Set("Cache-Control", "public, max-age=300")
		}
		server.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// redirect answers a form with 303 See Other.
func redirect(c echo.Context, path string) error {
	return c.Redirect(http.StatusSeeOther, path)
}

// Flash kinds.
const (
	flashSuccess = "success"
	flashNotice  = "notice"
	flashError   = "error"
)

// flashRedirect is how a form ends when it worked (or when there is nothing
// to re-render): it stores one message for the next page and answers 303 to
// path. Invalid input does not come here: it re-renders its form with 422,
// the field errors and the user's input.
func (d *deps) flashRedirect(c echo.Context, kind, msg, path string) error {
	if err := d.setFlash(c, kind, msg); err != nil {
		return err
	}
	return redirect(c, path)
}

// setFlash stores a message for the next page the user sees. Handlers end
// with flashRedirect instead; only loadScope, which lets the request go on
// in the personal account, says why with setFlash alone.
func (d *deps) setFlash(c echo.Context, kind, message string) error {
	s := SessionFrom(c)
	s.Values["flash_kind"] = kind
	s.Values["flash"] = message
	return s.Save(c.Request(), c.Response())
}

// takeFlash removes and returns the pending message, if any.
func (d *deps) takeFlash(c echo.Context) (*views.Flash, error) {
	s := SessionFrom(c)
	msg, _ := s.Values["flash"].(string)
	if msg == "" {
		return nil, nil
	}
	kind, _ := s.Values["flash_kind"].(string)
	delete(s.Values, "flash")
	delete(s.Values, "flash_kind")
	return &views.Flash{Kind: kind, Message: msg}, s.Save(c.Request(), c.Response())
}

// shell builds the frame of a signed-in page: one query for the user's
// accounts, one for whether they may still create an organization.
func (d *deps) shell(c echo.Context, title, section string) (views.Shell, error) {
	ctx := c.Request().Context()
	user, _ := UserFrom(c)
	scope := ScopeFrom(c)
	// The memberships loadScope read for this request (one statement for
	// the scope check and the switcher), or a fresh read.
	ms, ok := c.Get(ctxMemberships).(tenancy.Memberships)
	if !ok {
		var err error
		if ms, err = tenancy.MembershipsOf(ctx, d.db, user.ID); err != nil {
			return views.Shell{}, err
		}
	}
	canCreate := !ms.CreatedOrganization
	flash, err := d.takeFlash(c)
	if err != nil {
		return views.Shell{}, err
	}
	active := scope.Account()
	s := views.Shell{
		Title:        title,
		Section:      section,
		CSRF:         csrfToken(c),
		AccountID:    active.PublicID,
		User:         views.UserInfo{Name: user.Name, Email: user.Email, Initials: models.Initials(user.Name)},
		Active:       accountOption(active, true),
		CanCreateOrg: canCreate,
		Nav:          navFor(scope),
		Flash:        flash,
		Unverified:   !user.Verified(),
		ReturnTo:     c.Request().URL.Path,
	}
	for _, ch := range ms.Rows {
		s.Accounts = append(s.Accounts, accountOption(ch.Account, ch.ID == active.ID))
	}
	return s, nil
}

// authShell builds the frame of a signed-out page (sign-in, emailed links,
// invitations).
func (d *deps) authShell(c echo.Context, title string) views.AuthShell {
	return views.AuthShell{Title: title, CSRF: csrfToken(c)}
}

func accountOption(a tenancy.Account, active bool) views.AccountOption {
	return views.AccountOption{
		PublicID: a.PublicID,
		Name:     a.Name,
		Kind:     a.Kind.Label(),
		Initials: models.Initials(a.Name),
		Active:   active,
	}
}

// section is one area of the dashboard: a sidebar entry and a place the
// account switcher can land on.
type section struct {
	key, label, href, group string
	orgOnly                 bool // not offered in a personal account
	navInPersonalOnly       bool // reachable everywhere, listed in the sidebar only in a personal account
	capability              tenancy.Capability
}

// sections lists the dashboard's areas in sidebar order.
var sections = []section{
	{key: "home", label: "Home", href: "/", capability: tenancy.CapViewAccount},
	{key: "indexes", label: "Indexes", href: paths.Indexes(), capability: tenancy.CapUseResources},
	{key: "integrations", label: "Integrations", href: paths.Integrations(), capability: tenancy.CapUseResources},
	{key: "organization", label: "Organization", href: paths.OrganizationSettings(), group: "Settings", orgOnly: true, capability: tenancy.CapViewAccount},
	{key: "profile", label: "Profile", href: paths.Profile(), group: "Settings", navInPersonalOnly: true, capability: tenancy.CapViewAccount},
	{key: "security", label: "Security", href: paths.Security(), group: "Settings", navInPersonalOnly: true, capability: tenancy.CapViewAccount},
	{key: "members", label: "Members", href: paths.Members(), group: "Settings", orgOnly: true, capability: tenancy.CapViewAccount},
	{key: "api-keys", label: "API Keys", href: paths.APIKeys(), group: "Settings", capability: tenancy.CapManageOwnKeys},
	{key: "usage", label: "Usage", href: paths.Usage(), group: "Settings", capability: tenancy.CapViewAccount},
	{key: "billing", label: "Billing & Plan", href: paths.Billing(), group: "Settings", capability: tenancy.CapManageBilling},
	{key: "sso", label: "Single sign-on", href: paths.SSOSettings(), group: "Settings", orgOnly: true, capability: tenancy.CapManageAccount},
	{key: "audit-log", label: "Audit log", href: paths.AuditLog(), group: "Settings", orgOnly: true, capability: tenancy.CapViewAuditLog},
}

func (s section) allowed(scope tenancy.Scope) bool {
	if s.orgOnly && !scope.IsOrganization() {
		return false
	}
	return scope.Can(s.capability)
}

// navFor groups the sections the scope may open.
func navFor(scope tenancy.Scope) []views.NavGroup {
	var groups []views.NavGroup
	for _, s := range sections {
		if !s.allowed(scope) || s.navInPersonalOnly && !scope.IsPersonal() {
			continue
		}
		if len(groups) == 0 || groups[len(groups)-1].Title != s.group {
			groups = append(groups, views.NavGroup{Title: s.group})
		}
		g := &groups[len(groups)-1]
		g.Items = append(g.Items, views.NavItem{Key: s.key, Label: s.label, Href: s.href})
	}
	return groups
}

// landingFor is where switching accounts from path leads: the list page of
// the same section when the new scope may open it (never a detail page, which
// belonged to the old account), else the home page.
func landingFor(path string, scope tenancy.Scope) string {
	u, err := url.Parse(path)
	if err != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	u.Path = pathpkg.Clean(u.Path)
	best := -1
	for i, s := range sections {
		if s.href == "/" {
			continue
		}
		if (u.Path == s.href || strings.HasPrefix(u.Path, s.href+"/")) && (best < 0 || len(s.href) > len(sections[best].href)) {
			best = i
		}
	}
	if best < 0 {
		return "/"
	}
	if s := sections[best]; s.allowed(scope) {
		return s.href
	}
	return "/"
}

// pageOf reads ?page= (from 1) for dashboard lists. What is not a page
// number is the first page; a number past models.MaxPage is that page, as
// empty as any other page past the end.
func pageOf(c echo.Context) tenancy.Page {
	n, err := strconv.Atoi(c.QueryParam("page"))
	if err != nil || n < 1 {
		n = 1
	}
	return tenancy.Page{Number: min(n, tenancy.MaxPage), Size: tenancy.DefaultPageSize}
}

// dateOnly formats a time the way lists and detail pages show dates.
func dateOnly(t interface{ Format(string) string }) string { return t.Format("Jan 2, 2006") }

// dateTime is an instant as the sessions list shows it, in UTC.
func dateTime(t time.Time) string { return t.UTC().Format("Jan 2, 2006 15:04 UTC") }

// pagination builds the pager of a list at base, keeping its query.
func pagination(page tenancy.Page, total int64, capped bool, base string, query url.Values) views.PaginationProps {
	return views.PaginationProps{
		Page:   page.Number,
		Pages:  page.Pages(total),
		Capped: capped,
		Href: func(n int) string {
			q := url.Values{"page": {strconv.Itoa(n)}}
			for k, vs := range query {
				if k != "page" {
					q[k] = vs
				}
			}
			return paths.WithQuery(base, q)
		},
	}
}

// plural says "1 video", "3 videos".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// countLabel says how many rows a list has, "10,000+ indexes" past the count's cap.
func countLabel(n int64, capped bool, one, many string) string {
	if capped {
		return thousands(n) + "+ " + many
	}
	return plural(n, one, many)
}

// thousands writes n with comma separators: 12,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// formatDuration says a number of seconds as "45s", "12m 05s" or "3h 20m".
func formatDuration(seconds int64) string {
	h, m, s := seconds/3600, seconds%3600/60, seconds%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
