// Package dnstest runs a real DNS server (Debian's dnsmasq) on loopback for
// tests that prove domains by their TXT records.
package dnstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readyName is a record every server answers, to tell that it is up.
const readyName = "ready.dnstest.invalid"

// Server is a dnsmasq answering on a loopback port chosen up front, so
// that the address can be configured before the records are known.
type Server struct {
	t      testing.TB
	addr   string
	cmd    *exec.Cmd
	exited <-chan error // the running server's exit
}

// binary finds dnsmasq: on PATH, or in /usr/sbin where Debian puts it.
func binary() (string, error) {
	if p, err := exec.LookPath("dnsmasq"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/dnsmasq"); err == nil {
		return "/usr/sbin/dnsmasq", nil
	}
	return "", fmt.Errorf("dnsmasq not found (apt-get install dnsmasq-base)")
}

// New reserves a port for a DNS server. Without dnsmasq the test is skipped
// locally, and fails when CI is set.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	s := &Server{t: t, addr: freePort(t)}
	t.Cleanup(s.stop)
	return s
}

// freePort is a loopback address whose port is free for both UDP and TCP,
// as dnsmasq listens on both. It is below the kernel's ephemeral range
// (32768 and up by default), from which every listener on port 0 and every
// outgoing connection of the tests running beside this one takes its
// ports: one of them could take a port from that range between this
// check and dnsmasq's bind (which failed a run with "Address already in
// use").
func freePort(t testing.TB) string {
	t.Helper()
	for range 50 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(10000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return ""
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Serve (re)starts the server answering TXT queries for each name with its
// values, and waits until it answers.
func (s *Server) Serve(txt map[string][]string) {
	s.t.Helper()
	s.stop()
	bin, _ := binary()
	_, port, _ := net.SplitHostPort(s.addr)
	args := []string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--bind-interfaces", "--listen-address=127.0.0.1", "--port=" + port, "--log-facility=-",
		"--txt-record=" + readyName + ",ok"}
	names := make([]string, 0, len(txt))
	for name := range txt {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range txt[name] {
			args = append(args, "--txt-record="+name+","+v)
		}
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.exited = exited
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.addr)
	}}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-exited:
			s.cmd = nil
			s.t.Fatalf("dnsmasq on %s exited (%v):\n%s", s.addr, err, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := r.LookupTXT(ctx, readyName)
		cancel()
		if err == nil {
			return
		}
	}
	s.stop()
	s.t.Fatalf("dnsmasq did not answer on %s:\n%s", s.addr, out.String())
}

func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
		s.cmd = nil
	}
}
