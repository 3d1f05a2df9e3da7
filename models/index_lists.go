package models

import (
	"context"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Listing an account's indexes: search, sort and capped counts.

// IndexSort orders index lists.
type IndexSort string

const (
	SortNewest IndexSort = "created" // newest first
	SortName   IndexSort = "name"    // A to Z
)

// IndexQuery asks for one page of an account's indexes.
type IndexQuery struct {
	Search string // part of the name, any case
	Sort   IndexSort
	Page   tenancy.Page
}

// countCap bounds how far lists count: beyond it a list says "more than",
// so that a page of an account with a million rows costs what a page of a
// small one does.
const countCap = 1_000

// IndexList is one page of indexes and how many there are in all.
type IndexList struct {
	Rows []IndexRow
	// Total counts the matching indexes up to countCap; Capped says there
	// are more.
	Total  int64
	Capped bool
}

// ListIndexes returns a page of the indexes the scope sees, with their
// creators, in one query without a search (the total is the maintained
// count, exact) and two with one (the total counted up to countCap),
// whatever the account's size.
func ListIndexes(ctx context.Context, db *gorm.DB, s tenancy.Scope, q IndexQuery) (IndexList, error) {
	filter := func(tx *gorm.DB) *gorm.DB {
		tx = visibleIndexes(s, tx)
		if term := strings.TrimSpace(q.Search); term != "" {
			tx = whereContains(tx, "indexes.name_key", term, IndexNameMax)
		}
		return tx
	}
	var list IndexList
	order := "indexes.created_at DESC, indexes.id DESC"
	if q.Sort == SortName {
		order = "indexes.name_key ASC, indexes.id ASC"
	}
	if strings.TrimSpace(q.Search) == "" {
		return listAllIndexes(ctx, db, s, q.Page, order)
	}
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		total, capped, err := cappedCount(filter(tx))
		if err != nil {
			return err
		}
		list.Total, list.Capped = total, capped
		return filter(tx).
			Select("indexes.*, users.name AS created_by_name").
			Joins("LEFT JOIN users ON users.id = indexes.created_by_id").
			Order(order).Limit(q.Page.Size).Offset(q.Page.Offset()).
			Find(&list.Rows).Error
	})
	return list, err
}

// listAllIndexes is ListIndexes without a search, in one statement whether
// or not the page is empty: the exact total from the maintained count
// (index_counts) joined to the page, as ListIndexesForAPI does. Rows: one
// per index of the page, or one of NULLs with the total.
func listAllIndexes(ctx context.Context, db *gorm.DB, s tenancy.Scope, page tenancy.Page, order string) (IndexList, error) {
	type counted struct {
		IndexRow
		ListTotal int64
	}
	var list IndexList
	var got []counted
	// The outer ORDER BY keeps the page's order, which a join does not
	// promise.
	err := s.Find(ctx, db, &got, func(tx *gorm.DB) *gorm.DB {
		rows := visibleIndexes(s, tx).
			Select("indexes.*, users.name AS created_by_name").
			Joins("LEFT JOIN users ON users.id = indexes.created_by_id").
			Order(order).Limit(page.Size).Offset(page.Offset())
		total := visibleIndexCount(s, tx).Select("COALESCE(SUM(index_counts.n), 0) AS list_total")
		return tx.Table("(?) AS t", total).Joins("LEFT JOIN (?) AS p ON 1 = 1", rows).
			Select("p.*, t.list_total").Order(strings.ReplaceAll(order, "indexes.", "p."))
	})
	for _, r := range got {
		list.Total = r.ListTotal
		if r.ID != 0 {
			list.Rows = append(list.Rows, r.IndexRow)
		}
	}
	return list, err
}

// cappedCount counts the rows of a scoped query, stopping at countCap.
func cappedCount(tx *gorm.DB) (int64, bool, error) {
	var n int64
	sub := tx.Select("1").Limit(countCap + 1)
	err := tx.Session(&gorm.Session{NewDB: true}).Table("(?) AS capped", sub).Count(&n).Error
	if n > countCap {
		return countCap, true, err
	}
	return n, false, err
}

// whereContains keeps the rows whose column contains term, in any case: the
// column holds lower-case text or lowers it in SQL, one character for one.
// A term longer than the column's longest value (max characters) matches
// nothing and is not sent: SQLite refuses a LIKE pattern of more than
// 50,000 bytes with an error.
func whereContains(tx *gorm.DB, column, term string, max int) *gorm.DB {
	term = strings.ToLower(term)
	if utf8.RuneCountInString(term) > max {
		return tx.Where("1 = 0")
	}
	return tx.Where(column+" LIKE ? ESCAPE '\\'", "%"+escapeLike(term)+"%")
}

// escapeLike makes a search term match literally inside LIKE.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
