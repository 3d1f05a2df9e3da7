// Package views holds Switchboard's templ components. Components take plain
// props structs; they never query and never import models.
package views

import (
	"hash/fnv"
	"net/url"
	"strconv"

	"switchboard/views/paths"
)

// Shell is what every signed-in page's frame needs: the top bar, profile
// menu, sidebar and flash. Handlers build it once per request.
type Shell struct {
	Title   string
	Section string // the sidebar item to highlight, e.g. "home"
	CSRF    string
	// AccountID is the public ID of the account the page is rendered in;
	// forms send it back as _account so a stale tab cannot write elsewhere.
	AccountID    string
	User         UserInfo
	Active       AccountOption
	Accounts     []AccountOption
	CanCreateOrg bool
	Nav          []NavGroup
	Flash        *Flash
	Unverified   bool
	ReturnTo     string // where switching accounts lands, e.g. "/settings/organization"
}

// UserInfo is the signed-in person as the menu header shows them.
type UserInfo struct {
	Name     string
	Email    string
	Initials string
}

// AccountOption is one row of the account switcher.
type AccountOption struct {
	PublicID string
	Name     string
	Kind     string // "Personal" or "Organization"
	Initials string
	Active   bool
}

// NavGroup is a titled group of sidebar links ("" for the untitled top group).
type NavGroup struct {
	Title string
	Items []NavItem
}

// NavItem is one sidebar link.
type NavItem struct {
	Key   string
	Label string
	Href  string
}

// Flash is a one-time message at the top of the content.
type Flash struct {
	Kind    string // "success", "notice" or "error"
	Message string
}

// Guard is what every state-changing form carries: the CSRF token and the
// account the form was rendered in.
type Guard struct {
	CSRF      string
	AccountID string
}

// Guard returns the shell's form guard.
func (s Shell) Guard() Guard { return Guard{CSRF: s.CSRF, AccountID: s.AccountID} }

// avatarColours are backgrounds on which white initials meet WCAG AA.
var avatarColours = []string{
	"bg-indigo-600", "bg-emerald-700", "bg-rose-600", "bg-amber-700",
	"bg-sky-700", "bg-violet-600", "bg-teal-700", "bg-fuchsia-700",
}

// AvatarColour picks a stable colour for an account from its public ID.
func AvatarColour(id string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return avatarColours[h.Sum32()%uint32(len(avatarColours))]
}

func itoa(n int) string { return strconv.Itoa(n) }

// signinHref and signupHref carry a pending destination and a prefilled
// email between the two forms (an invitation link leads through them).
func signinHref(next, email string) string {
	return paths.WithQuery(paths.SignIn(), url.Values{"next": {next}, "email": {email}})
}

func signupHref(next, email string) string {
	return paths.WithQuery(paths.SignUp(), url.Values{"next": {next}, "email": {email}})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
