package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/a-h/templ"

	"switchboard/models/tenancy"
)

// Pages render in turns: while every turn is held a page waits, a page
// whose client went away stops waiting without rendering, and a turn given
// back (after a render, a failed render or a panic) goes to the next page.
func TestPagesRenderInTurns(t *testing.T) {
	t.Parallel()
	turns := tenancy.NewTurns(1)
	started, release := make(chan struct{}), make(chan struct{})
	slow := templ.ComponentFunc(func(context.Context, io.Writer) error {
		close(started)
		<-release
		return nil
	})
	rendered := 0
	page := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		rendered++
		_, err := io.WriteString(w, "<p>page</p>")
		return err
	})

	first := make(chan error, 1)
	go func() { first <- renderInTurn(context.Background(), turns, new(bytes.Buffer), slow) }()
	<-started

	gone, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := renderInTurn(gone, turns, new(bytes.Buffer), page); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a page waiting while the only turn is held, its client gone: %v, want its context's error", err)
	}
	if rendered != 0 {
		t.Fatal("a page whose client went away while it waited was rendered")
	}

	second := make(chan error, 1)
	buf := new(bytes.Buffer)
	go func() { second <- renderInTurn(context.Background(), turns, buf, page) }()
	select {
	case err := <-second:
		t.Fatalf("a page rendered (%v) while the only turn was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	for _, done := range []chan error{first, second} {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a page waited for a turn that was given back")
		}
	}
	if buf.String() != "<p>page</p>" {
		t.Fatalf("the waiting page rendered %q", buf.String())
	}

	failing := templ.ComponentFunc(func(context.Context, io.Writer) error { return errors.New("broken") })
	if err := renderInTurn(context.Background(), turns, new(bytes.Buffer), failing); err == nil {
		t.Fatal("a failed render reported no error")
	}
	panicking := templ.ComponentFunc(func(context.Context, io.Writer) error { panic("broken") })
	func() {
		defer func() { _ = recover() }()
		_ = renderInTurn(context.Background(), turns, new(bytes.Buffer), panicking)
	}()
	if held := len(turns); held != 0 {
		t.Fatalf("%d turns still held after a failed and a panicking render, want 0", held)
	}
}

// There is a turn on any machine, and one P is left free of rendering
// wherever there is more than one.
func TestRenderTurnsLeaveAPFree(t *testing.T) {
	t.Parallel()
	for procs, want := range map[int]int{1: 1, 2: 1, 4: 3, 16: 15} {
		if got := renderTurnsFor(procs); got != want {
			t.Errorf("%d Ps: %d render turns, want %d", procs, got, want)
		}
	}
}
