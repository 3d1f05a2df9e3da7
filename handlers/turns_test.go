package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/a-h/templ"

	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// Pages render in turns: while every turn is held a page waits, a page
// whose client went away stops waiting without rendering, a turn given back
// goes to the page waiting, and a failed or panicking render gives its
// turn back.
func TestPagesRenderInTurns(t *testing.T) {
	t.Parallel()
	turns := tenancy.NewTurns(1)
	rendered := 0
	page := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		rendered++
		_, err := io.WriteString(w, "<p>page</p>")
		return err
	})
	dbtest.Must(t, turns.Take(context.Background())) // another page's turn

	gone, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := renderInTurn(gone, turns, new(bytes.Buffer), page); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a page waiting while the only turn is held, its client gone: %v, want its context's error", err)
	}
	if rendered != 0 {
		t.Fatal("a page whose client went away while it waited was rendered")
	}

	waiting := make(chan error, 1)
	buf := new(bytes.Buffer)
	go func() { waiting <- renderInTurn(context.Background(), turns, buf, page) }()
	select {
	case err := <-waiting:
		t.Fatalf("a page rendered (%v) while the only turn was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	turns.Give()
	select {
	case err := <-waiting:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a page waited for a turn that was given back")
	}
	if held := len(turns); held != 0 {
		t.Fatalf("%d turns still held after a page rendered, want 0", held)
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
