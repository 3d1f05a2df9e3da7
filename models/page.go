package models

// Page asks for one page of a list: Number counts from 1.
type Page struct {
	Number int
	Size   int
}

// DefaultPageSize is the page size of dashboard lists.
const DefaultPageSize = 20

// Offset is the number of rows before the page.
func (p Page) Offset() int {
	if p.Number < 1 {
		return 0
	}
	return (p.Number - 1) * p.Size
}

// Pages is the number of pages total rows fill (at least 1).
func (p Page) Pages(total int64) int {
	if p.Size <= 0 || total <= 0 {
		return 1
	}
	return int((total + int64(p.Size) - 1) / int64(p.Size))
}
