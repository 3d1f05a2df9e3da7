package handlers

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"switchboard/handlers/smtptest"
)

func TestSMTPMailerSendsTheMessage(t *testing.T) {
	sink := smtptest.New(t)
	m, err := NewMailer(sink.URL(), "Switchboard <no-reply@example.com>", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	msg := Message{To: "ada@example.com", Subject: "Join Acmé", Body: "Hello\n.leading dot\nhttps://x.example/invitations/abc\n", Link: "https://x.example/invitations/abc"}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := sink.Messages()
	if len(got) != 1 || got[0].From != "no-reply@example.com" || len(got[0].To) != 1 || got[0].To[0] != "ada@example.com" {
		t.Fatalf("envelope: %+v", got)
	}
	for _, want := range []string{"To: ada@example.com", "Subject: =?utf-8?q?Join_Acm=C3=A9?=", "Content-Type: text/plain; charset=utf-8", "\n.leading dot\n", "https://x.example/invitations/abc"} {
		if !strings.Contains(got[0].Data, want) {
			t.Errorf("message lacks %q:\n%s", want, got[0].Data)
		}
	}
}

func TestNewMailerRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"http://host", "smtp://", "::"} {
		if _, err := NewMailer(u, "x@example.com", slog.Default()); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestLogMailerWritesTheLink(t *testing.T) {
	var b strings.Builder
	m, err := NewMailer("", "x@example.com", slog.New(slog.NewTextHandler(&b, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Message{To: "a@example.com", Subject: "s", Link: "http://h/verify/tok"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "link=http://h/verify/tok") {
		t.Fatalf("log: %s", b.String())
	}
}
