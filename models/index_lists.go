package models

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
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
	list, err := allIndexRows.Query(ctx, db, s, order, page.Bounds())
	// The kept page is shared: the caller gets a slice of its own.
	list.Rows = slices.Clone(list.Rows)
	return list, err
}

// allIndexRows is listAllIndexes's statement, in the order (its shape)
// ListIndexes chose, kept in memory until the account's indexes change
// (tenancy.Kept). The outer ORDER BY keeps the page's order, which a join
// does not promise.
var allIndexRows = tenancy.NewKept(func(tx *gorm.DB, s tenancy.Scope, order string, page tenancy.Bounds) *gorm.DB {
	rows := visibleIndexes(s, tx).
		Select("indexes.*, users.name AS created_by_name").
		Joins("LEFT JOIN users ON users.id = indexes.created_by_id").
		Order(order).Limit(page.Limit).Offset(page.Offset)
	return tx.Table("(?) AS t", visibleIndexCount(s, tx)).Joins("LEFT JOIN (?) AS p ON 1 = 1", rows).
		Select(indexRowColumns + ", t.total_results").Order(strings.ReplaceAll(order, "indexes.", "p."))
}, func(rows tenancy.Rows) (IndexList, error) {
	var list IndexList
	err := scanIndexRows(rows, &list)
	return list, err
})

// indexRowColumns are an IndexRow's, as listAllIndexes's page p has them.
const indexRowColumns = "p.id, p.public_id, p.account_id, p.name, p.name_key, p.marengo_options, p.pegasus_options, p.addons, " +
	"p.visibility, p.name_scope, p.created_by_id, p.video_count, p.total_duration, p.created_at, p.updated_at, p.created_by_name"

// scanIndexRows reads listAllIndexes's rows into list, column by column
// into their types (GORM's scan reflects on every field of every row, and
// had pgx allocate each value: a sixth of the page's CPU).
//
// The columns are read into one set of variables, reused row after row:
// Scan takes them as interfaces, so each would be a heap allocation a row.
func scanIndexRows(rows tenancy.Rows, list *IndexList) error {
	var (
		id, account, nameScope, createdBy, videos, duration sql.NullInt64
		publicID, name, nameKey, marengo, pegasus, addons   sql.NullString
		visibility, createdByName                           sql.NullString
		created, updated                                    sql.Null[time.Time]
	)
	dest := []any{&id, &publicID, &account, &name, &nameKey, &marengo, &pegasus, &addons, &visibility, &nameScope,
		&createdBy, &videos, &duration, &created, &updated, &createdByName, &list.Total}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if !id.Valid {
			continue // the empty page's row: only the total
		}
		r := IndexRow{Index: Index{ID: id.Int64, PublicID: publicID.String, AccountID: account.Int64, Name: name.String, NameKey: nameKey.String,
			MarengoOptions: marengo.String, PegasusOptions: pegasus.String, Addons: addons.String, Visibility: Visibility(visibility.String),
			NameScope: nameScope.Int64, VideoCount: videos.Int64, TotalDuration: duration.Int64, CreatedAt: created.V, UpdatedAt: updated.V},
			CreatedByName: createdByName.String}
		if createdBy.Valid {
			r.CreatedByID = new(createdBy.Int64)
		}
		list.Rows = append(list.Rows, r)
	}
	return rows.Err()
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
