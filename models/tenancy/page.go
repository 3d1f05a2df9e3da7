package tenancy

import "math"

// Page asks for one page of a list: Number counts from 1.
type Page struct {
	Number int
	Size   int
}

// DefaultPageSize is the page size of dashboard lists.
const DefaultPageSize = 20

// MaxPage is the highest page number a list serves, in the dashboard and
// in the API: far past any list a person pages through (two million rows at
// the default size), and low enough that no offset comes near overflowing.
const MaxPage = 100_000

// Offset is the number of rows before the page. A page too far for the
// product to be counted saturates rather than wraps around: a negative
// offset is an error in PostgreSQL and no offset at all in GORM.
func (p Page) Offset() int {
	if p.Number < 1 || p.Size < 1 {
		return 0
	}
	if p.Number-1 > math.MaxInt/p.Size {
		return math.MaxInt
	}
	return (p.Number - 1) * p.Size
}

// Bounds are a page's limit and offset, as a Statement binds them.
type Bounds struct{ Limit, Offset int }

// Bounds is the page's limit (its size) and offset.
func (p Page) Bounds() Bounds { return Bounds{Limit: p.Size, Offset: p.Offset()} }

// Pages is the number of pages total rows fill (at least 1).
func (p Page) Pages(total int64) int {
	if p.Size <= 0 || total <= 0 {
		return 1
	}
	return int((total + int64(p.Size) - 1) / int64(p.Size))
}
