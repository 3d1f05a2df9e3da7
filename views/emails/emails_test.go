package emails_test

import (
	"strings"
	"testing"
	"time"

	"switchboard/views/emails"
)

// token has what a path must escape: a slash, a query, a fragment, a space.
const token = "a/b?c#d e"

func TestInvitation(t *testing.T) {
	inv := emails.Invitation{
		BaseURL: "https://switchboard.example.com/", Token: token,
		InviterName: "Ada Lovelace", InviterEmail: "ada@example.com",
		Organization: "Analytical Engines", Role: "Administrator",
		Expires: time.Date(2026, time.December, 10, 15, 0, 0, 0, time.UTC),
	}
	link := "https://switchboard.example.com/invitations/a%2Fb%3Fc%23d%20e"
	if inv.Link() != link {
		t.Fatalf("link %q, want %q", inv.Link(), link)
	}
	subject, body, err := emails.RenderInvitation(inv)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Ada Lovelace invited you to join Analytical Engines on Switchboard" {
		t.Errorf("subject %q", subject)
	}
	want := "Ada Lovelace (ada@example.com) invited you to join the organization Analytical Engines on Switchboard as Administrator.\n\n" +
		"Open this link to accept:\n\n" + link + "\n\n" +
		"The invitation expires on December 10, 2026. If you were not expecting it, ignore this email.\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

func TestVerification(t *testing.T) {
	v := emails.Verification{BaseURL: "http://localhost:8080", Token: token, Name: "Grace Hopper"}
	link := "http://localhost:8080/verify/a%2Fb%3Fc%23d%20e"
	if v.Link() != link {
		t.Fatalf("link %q, want %q", v.Link(), link)
	}
	subject, body, err := emails.RenderVerification(v)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Verify your email address for Switchboard" {
		t.Errorf("subject %q", subject)
	}
	want := "Hello Grace Hopper,\n\nPlease confirm that this is your email address by opening this link:\n\n" + link +
		"\n\nThe link works once and expires in 48 hours. If you did not sign up for Switchboard, ignore this email.\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

func TestPasswordReset(t *testing.T) {
	r := emails.PasswordReset{BaseURL: "https://switchboard.example.com", Token: token, Name: "Katherine Johnson"}
	link := "https://switchboard.example.com/password/reset/a%2Fb%3Fc%23d%20e"
	if r.Link() != link {
		t.Fatalf("link %q, want %q", r.Link(), link)
	}
	subject, body, err := emails.RenderPasswordReset(r)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Reset your Switchboard password" {
		t.Errorf("subject %q", subject)
	}
	want := "Hello Katherine Johnson,\n\nSomeone (we hope you) asked to reset your Switchboard password. Choose a new one here:\n\n" + link +
		"\n\nThe link works once and expires in one hour. Setting a new password signs you out everywhere.\n" +
		"If you did not ask for this, ignore this email; your password stays as it is.\n"
	if body != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
}

// Names are text, not markup: they arrive as typed, and a line break in one
// cannot add a header line to the subject.
func TestNamesAreTextAndSubjectsOneLine(t *testing.T) {
	inv := emails.Invitation{
		BaseURL: "https://switchboard.example.com", Token: "t",
		InviterName: "Bob <b> & \"Co\"\r\nBcc: eve@example.com", InviterEmail: "bob@example.com",
		Organization: "R&D <Labs>", Role: "Regular user", Expires: time.Now(),
	}
	subject, body, err := emails.RenderInvitation(inv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(subject, "\r\n") {
		t.Errorf("subject spans lines: %q", subject)
	}
	if !strings.Contains(subject, `Bob <b> & "Co" Bcc: eve@example.com`) || !strings.Contains(subject, "R&D <Labs>") {
		t.Errorf("subject does not carry the names as typed: %q", subject)
	}
	if !strings.Contains(body, "R&D <Labs>") || strings.Contains(body, "&amp;") || strings.Contains(body, "&lt;") {
		t.Errorf("body escapes the names as HTML: %q", body)
	}
}
