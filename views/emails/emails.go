// Package emails renders the messages Switchboard sends, from plain-text
// templates: one render function per email, returning its subject and body.
// Links are absolute and built with views/paths.
package emails

import (
	"embed"
	"strings"
	"text/template"
	"time"

	"switchboard/views/paths"
)

//go:embed *.tmpl
var files embed.FS

// Each email is a template file defining "subject" and "body". Parsed once;
// nothing changes them after.
var (
	invitationTemplate     = parse("invitation.tmpl")
	verificationTemplate   = parse("verification.tmpl")
	passwordResetTemplate  = parse("password_reset.tmpl")
	securityChangeTemplate = parse("security_change.tmpl")
)

func parse(name string) *template.Template {
	return template.Must(template.New(name).Option("missingkey=error").ParseFS(files, name))
}

// absolute makes a link of a path on the dashboard at baseURL.
func absolute(baseURL, path string) string { return strings.TrimRight(baseURL, "/") + path }

// render executes an email's subject and body. The subject is a header: any
// line break in it becomes a space.
func render(t *template.Template, data any) (subject, body string, err error) {
	var s, b strings.Builder
	if err := t.ExecuteTemplate(&s, "subject", data); err != nil {
		return "", "", err
	}
	if err := t.ExecuteTemplate(&b, "body", data); err != nil {
		return "", "", err
	}
	return strings.Join(strings.Fields(s.String()), " "), b.String(), nil
}

// Invitation invites someone into an organization.
type Invitation struct {
	BaseURL      string // the dashboard's public URL
	Token        string // the invitation's secret
	InviterName  string
	InviterEmail string
	Organization string
	Role         string // the role as people read it, "Administrator"
	Expires      time.Time
}

// Link is where the invitation is accepted.
func (i Invitation) Link() string { return absolute(i.BaseURL, paths.Invitation(i.Token)) }

// RenderInvitation renders the invitation email.
func RenderInvitation(i Invitation) (subject, body string, err error) {
	return render(invitationTemplate, i)
}

// Verification asks a new user to prove their email address.
type Verification struct {
	BaseURL string
	Token   string
	Name    string // the user's name
}

// Link verifies the address.
func (v Verification) Link() string { return absolute(v.BaseURL, paths.VerifyEmail(v.Token)) }

// RenderVerification renders the verification email.
func RenderVerification(v Verification) (subject, body string, err error) {
	return render(verificationTemplate, v)
}

// PasswordReset carries a link to choose a new password.
type PasswordReset struct {
	BaseURL string
	Token   string
	Name    string // the user's name
}

// Link opens the new-password form.
func (r PasswordReset) Link() string { return absolute(r.BaseURL, paths.ResetPassword(r.Token)) }

// RenderPasswordReset renders the password reset email.
func RenderPasswordReset(r PasswordReset) (subject, body string, err error) {
	return render(passwordResetTemplate, r)
}

// SecurityChange tells a user that a factor was added or removed, recovery
// codes were used or replaced, or sessions were ended.
type SecurityChange struct {
	BaseURL string
	Name    string // the user's name
	Change  string // "two-factor authentication turned on"
	Detail  string // a sentence more, or ""
	IP      string
	At      time.Time
}

// Link opens Settings › Security.
func (s SecurityChange) Link() string { return absolute(s.BaseURL, paths.Security()) }

// RenderSecurityChange renders the security notice.
func RenderSecurityChange(s SecurityChange) (subject, body string, err error) {
	return render(securityChangeTemplate, s)
}
