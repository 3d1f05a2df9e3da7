// Package smtptest runs a minimal SMTP server in the test process and keeps
// what it receives, so tests can read the messages the dashboard sends.
package smtptest

import (
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// Message is one received message: its envelope and its data.
type Message struct {
	From string
	To   []string
	Data string
}

// Server accepts SMTP on a loopback port until the test ends.
type Server struct {
	ln       net.Listener
	mu       sync.Mutex
	messages []Message
}

// New starts a server for the test.
func New(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

// URL is the SMTP_URL that reaches the server.
func (s *Server) URL() string { return "smtp://" + s.ln.Addr().String() }

// Messages returns what was received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

func (s *Server) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(conn)
	}
}

func (s *Server) session(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	_ = tp.PrintfLine("220 smtptest ready")
	var msg Message
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.Fields(line + " x")[0]) {
		case "EHLO", "HELO":
			_ = tp.PrintfLine("250 smtptest")
		case "MAIL":
			msg = Message{From: addr(line)}
			_ = tp.PrintfLine("250 ok")
		case "RCPT":
			msg.To = append(msg.To, addr(line))
			_ = tp.PrintfLine("250 ok")
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			body, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			msg.Data = string(body)
			s.mu.Lock()
			s.messages = append(s.messages, msg)
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

// addr takes the address out of "MAIL FROM:<a@b>".
func addr(line string) string {
	if i, j := strings.IndexByte(line, '<'), strings.IndexByte(line, '>'); i >= 0 && j > i {
		return line[i+1 : j]
	}
	return line
}
