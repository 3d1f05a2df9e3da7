package mail

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"switchboard/handlers/smtptest"
)

func TestSMTPMailerSendsTheMessage(t *testing.T) {
	sink := smtptest.New(t)
	m, err := New(sink.URL(), "Switchboard <no-reply@example.com>", slog.Default())
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

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"http://host", "smtp://", "::", "http://user:s3cret@host", "smtp://user:s3cret@host:bad port"} {
		_, err := New(u, "x@example.com", slog.Default())
		if !errors.Is(err, ErrInvalidURL) {
			t.Errorf("%q: %v, want ErrInvalidURL", u, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error repeats the password: %v", u, err)
		}
	}
}

func TestNewRefusesABadFrom(t *testing.T) {
	if _, err := New("smtp://host:587", "not an address", slog.Default()); !errors.Is(err, ErrInvalidFrom) {
		t.Fatalf("%v, want ErrInvalidFrom", err)
	}
	// Without SMTP no mail leaves, so the From address is not needed.
	if _, err := New("", "", slog.Default()); err != nil {
		t.Fatal(err)
	}
}

func TestLogMailerWritesTheLink(t *testing.T) {
	var b strings.Builder
	m, err := New("", "x@example.com", slog.New(slog.NewTextHandler(&b, nil)))
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
