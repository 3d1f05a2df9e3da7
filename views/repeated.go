package views

import (
	"context"
	"io"
	"sync"

	"github.com/a-h/templ"
)

// The components in this file are the ones a page repeats on every row of
// a list or every account of the menu, and whose class depends on their
// props. They are written in Go rather than templ: templ treats a computed
// class attribute as a set of CSS classes to merge (a map and a slice each
// time), which with one per table cell was a fifth of the members page's
// CPU. Here each class is one of a few fixed strings of this package, which
// need no escaping; text and URLs are escaped as templ would. Elsewhere a
// class that depends on a condition is written as a templ conditional
// attribute (if … { class="…" } else { class="…" }), which costs nothing.

// Td is a body cell.
func Td(p CellProps) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		children := templ.GetChildren(ctx)
		if err := write(w, `<td class="`, p.cachedClass(), `">`); err != nil {
			return err
		}
		if err := children.Render(templ.ClearChildren(ctx), w); err != nil {
			return err
		}
		return write(w, "</td>")
	})
}

// TdText is a body cell of text alone: Td without a children component,
// whose context and closure a text cell need not pay for on every row.
func TdText(p CellProps, text string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		return write(w, `<td class="`, p.cachedClass(), `">`, templ.EscapeString(text), "</td>")
	})
}

// cellClasses remembers CellProps.class, which the few combinations in use
// ask for on every row. The strings are constants of this package: nothing
// in them needs escaping.
var cellClasses sync.Map // CellProps → string

func (p CellProps) cachedClass() string {
	if c, ok := cellClasses.Load(p); ok {
		return c.(string)
	}
	c := p.class()
	cellClasses.Store(p, c)
	return c
}

// Badge is a small label: a role, plan or status.
func Badge(p BadgeProps) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return write(w, `<span class="`, badgeClass, toneClasses[p.Tone], `">`, templ.EscapeString(p.Label), `</span>`)
	})
}

const badgeClass = "inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset "

// toneClasses colour a Badge.
var toneClasses = map[Tone]string{
	ToneGrey:   "bg-gray-50 text-gray-700 ring-gray-300 dark:bg-gray-800 dark:text-gray-300 dark:ring-gray-600",
	ToneGreen:  "bg-green-50 text-green-800 ring-green-600/30 dark:bg-green-900/40 dark:text-green-300",
	ToneAmber:  "bg-amber-50 text-amber-800 ring-amber-600/30 dark:bg-amber-900/40 dark:text-amber-300",
	ToneRed:    "bg-red-50 text-red-800 ring-red-600/30 dark:bg-red-900/40 dark:text-red-300",
	ToneIndigo: "bg-indigo-50 text-indigo-800 ring-indigo-600/30 dark:bg-indigo-900/40 dark:text-indigo-300",
}

// Avatar is a circle with initials in the account's colour.
func Avatar(p AvatarProps) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		size := "h-8 w-8 text-xs"
		if p.Size == AvatarLarge {
			size = "h-12 w-12 text-base"
		}
		return write(w, `<span aria-hidden="true" class="inline-flex shrink-0 select-none items-center justify-center rounded-full font-semibold text-white `,
			AvatarColour(p.ColourKey), " ", size, `">`, templ.EscapeString(p.Initials), `</span>`)
	})
}

// Link is the one style of a link in text: indigo, underlined on hover.
func Link(p LinkProps) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		class := linkClass
		if p.Danger {
			class = dangerLinkClass
		}
		if p.Mono {
			class += " break-all font-mono"
		}
		href := templ.EscapeString(string(templ.URL(p.Href)))
		if err := write(w, `<a href="`, href, `" class="`, class, `">`); err != nil {
			return err
		}
		if err := labelText(p.Label, p.SROnly).Render(ctx, w); err != nil {
			return err
		}
		return write(w, "</a>")
	})
}

// labelText is a control's visible label, then the words only screen
// readers read, with no space around them but the one between the two.
func labelText(label, srOnly string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		if srOnly == "" {
			return write(w, templ.EscapeString(label))
		}
		return write(w, templ.EscapeString(label), `<span class="sr-only"> `, templ.EscapeString(srOnly), `</span>`)
	})
}

// write writes parts in order, stopping at the first error.
func write(w io.Writer, parts ...string) error {
	for _, s := range parts {
		if _, err := io.WriteString(w, s); err != nil {
			return err
		}
	}
	return nil
}
