package handlers

import (
	"context"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// smtpSink is a minimal in-process SMTP server that keeps what it receives.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	from string
	to   []string
	data string
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *smtpSink) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(conn)
	}
}

func (s *smtpSink) session(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	_ = tp.PrintfLine("220 sink ready")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch verb {
		case "EHLO", "HELO":
			_ = tp.PrintfLine("250 sink")
		case "MAIL":
			s.mu.Lock()
			s.from = line
			s.mu.Unlock()
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			s.mu.Lock()
			s.to = append(s.to, line)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			body, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.data = string(body)
			s.mu.Unlock()
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("250 ok")
		}
	}
}

func TestSMTPMailerSendsTheMessage(t *testing.T) {
	sink := newSMTPSink(t)
	m, err := NewMailer("smtp://"+sink.ln.Addr().String(), "Switchboard <no-reply@example.com>", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	msg := Message{To: "ada@example.com", Subject: "Join Acmé", Body: "Hello\n.leading dot\nhttps://x.example/invitations/abc\n", Link: "https://x.example/invitations/abc"}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !strings.Contains(sink.from, "no-reply@example.com") || len(sink.to) != 1 || !strings.Contains(sink.to[0], "ada@example.com") {
		t.Fatalf("envelope from %q to %v", sink.from, sink.to)
	}
	for _, want := range []string{"To: ada@example.com", "Subject: =?utf-8?q?Join_Acm=C3=A9?=", "Content-Type: text/plain; charset=utf-8", "\n.leading dot\n", "https://x.example/invitations/abc"} {
		if !strings.Contains(sink.data, want) {
			t.Errorf("message lacks %q:\n%s", want, sink.data)
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
