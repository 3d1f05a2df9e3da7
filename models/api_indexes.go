package models

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models/tenancy"
)

// APIIndexQuery is the platform API's index listing: page (from 1), page
// size, sort and filters.
type APIIndexQuery struct {
	Page         int
	Limit        int
	SortBy       string // "created_at" or "updated_at"
	Ascending    bool
	Name         string // part of the name, any case
	ModelFamily  string // "marengo", "pegasus" or ""
	ModelOptions []string
	// CreatedAt keeps indexes created on its UTC day at or after it: a
	// midnight keeps the whole day. Nil keeps all.
	CreatedAt *time.Time
	UpdatedAt *time.Time // likewise, for the last update
}

// apiIndexColumns are the columns of an index the platform API shows.
const apiIndexColumns = "indexes.id, indexes.public_id, indexes.account_id, indexes.name, indexes.marengo_options, indexes.pegasus_options, " +
	"indexes.addons, indexes.video_count, indexes.total_duration, indexes.created_at, indexes.updated_at"

// ListIndexesForAPI returns a page of the indexes the scope sees and how
// many match in all, in one statement whether or not the page is empty: the
// count is joined to the page, so a page past the end still carries it. The
// indexes hold what the API shows and their account (ID, PublicID,
// AccountID, Name, options, Addons, VideoCount, TotalDuration, CreatedAt,
// UpdatedAt); their other fields are zero.
func ListIndexesForAPI(ctx context.Context, db *gorm.DB, s tenancy.Scope, q APIIndexQuery) ([]Index, int64, error) {
	filter := func(tx *gorm.DB) *gorm.DB {
		tx = visibleIndexes(s, tx)
		if q.Name != "" {
			tx = whereContains(tx, "indexes.name_key", q.Name, IndexNameMax)
		}
		switch q.ModelFamily {
		case ModelMarengo:
			tx = tx.Where("indexes.marengo_options <> ''")
		case ModelPegasus:
			tx = tx.Where("indexes.pegasus_options <> ''")
		}
		for _, opt := range q.ModelOptions {
			like := "%" + escapeLike(opt) + "%"
			switch q.ModelFamily {
			case ModelMarengo:
				tx = tx.Where("indexes.marengo_options LIKE ? ESCAPE '\\'", like)
			case ModelPegasus:
				tx = tx.Where("indexes.pegasus_options LIKE ? ESCAPE '\\'", like)
			default:
				tx = tx.Where("(indexes.marengo_options LIKE ? ESCAPE '\\' OR indexes.pegasus_options LIKE ? ESCAPE '\\')", like, like)
			}
		}
		// In a fixed order: the statement's text stays the same from one
		// request to the next, and so does its cached plan.
		if q.CreatedAt != nil {
			from, until := restOfDay(*q.CreatedAt)
			tx = tx.Where("indexes.created_at >= ? AND indexes.created_at < ?", from, until)
		}
		if q.UpdatedAt != nil {
			from, until := restOfDay(*q.UpdatedAt)
			tx = tx.Where("indexes.updated_at >= ? AND indexes.updated_at < ?", from, until)
		}
		return tx
	}
	out := make([]Index, 0, q.Limit)
	var total int64
	scan := func(rows tenancy.Rows) error { return scanAPIIndexes(rows, &out, &total) }
	order := apiOrder(q.SortBy, q.Ascending)
	page := tenancy.Page{Number: q.Page, Size: q.Limit}.Bounds()
	if q.unfiltered() {
		kept, err := allAPIIndexes.Query(ctx, db, s, order, page)
		// The kept page is shared: the caller gets a slice of its own.
		return slices.Clone(kept.rows), kept.total, err
	}
	err := s.Query(ctx, db, func(tx *gorm.DB) *gorm.DB {
		return apiIndexPage(tx, filter(tx), filter(tx).Select("COUNT(*) AS total_results"), order, page)
	}, scan)
	return out, total, err
}

// allAPIIndexes is ListIndexesForAPI's statement without filters, on most
// API requests that list indexes: its total is the maintained count, and
// its answer is kept in memory until the account's indexes change
// (tenancy.Kept), as the dashboard's list is. Filtered lists are read each
// time: their arguments are the client's and would crowd the kept answers.
var allAPIIndexes = tenancy.NewKept(func(tx *gorm.DB, s tenancy.Scope, order apiOrderBy, page tenancy.Bounds) *gorm.DB {
	return apiIndexPage(tx, visibleIndexes(s, tx), visibleIndexCount(s, tx), order, page)
}, func(rows tenancy.Rows) (apiIndexes, error) {
	var page apiIndexes
	err := scanAPIIndexes(rows, &page.rows, &page.total)
	return page, err
})

// apiIndexes is a page of ListIndexesForAPI and its total.
type apiIndexes struct {
	rows  []Index
	total int64
}

// apiIndexPage is ListIndexesForAPI's statement for the indexes of rows and
// their total (a query of one row, total_results). The count and the page
// are subqueries of one statement, each planned on its own (the page
// through the account's index in sort order, with its limit). Rows: one
// per index of the page, or a single one of NULLs with the total when the
// page is empty. The outer ORDER BY keeps the page's order, which a join
// does not promise.
func apiIndexPage(tx, rows, total *gorm.DB, order apiOrderBy, page tenancy.Bounds) *gorm.DB {
	p := rows.Clauses(clause.Select{Expression: clause.Expr{SQL: apiIndexColumns}}).
		Order("indexes." + order.col + order.dir + ", indexes.id" + order.dir).Limit(page.Limit).Offset(page.Offset)
	return tx.Table("(?) AS t", total).Joins("LEFT JOIN (?) AS p ON 1 = 1", p).
		Select("p.id, p.public_id, p.account_id, p.name, p.marengo_options, p.pegasus_options, p.addons, p.video_count, p.total_duration, " +
			"p.created_at, p.updated_at, t.total_results").
		Order("p." + order.col + order.dir + ", p.id" + order.dir)
}

// unfiltered reports whether the query keeps every index the scope sees:
// its total is then the maintained count, not a count of the rows.
func (q APIIndexQuery) unfiltered() bool {
	return q.Name == "" && q.ModelFamily == "" && len(q.ModelOptions) == 0 && q.CreatedAt == nil && q.UpdatedAt == nil
}

// visibleIndexCount is a query of one row, total_results: how many indexes
// the scope sees, read from index_counts (migration 00014), which triggers
// keep in the transactions that create, delete and re-own indexes. Its
// rows are the account's shared indexes (viewer 0) and each creator's
// private ones, the same split as visibleIndexes.
func visibleIndexCount(s tenancy.Scope, tx *gorm.DB) *gorm.DB {
	return s.Apply(tx.Table("index_counts")).Where("index_counts.viewer_id IN (0, ?)", s.UserID()).
		Select("CAST(COALESCE(SUM(index_counts.n), 0) AS BIGINT) AS total_results") // not PostgreSQL's numeric, which pgx reads through a big.Int
}

// CountVisibleIndexes is how many indexes the scope sees, from the
// maintained count.
func CountVisibleIndexes(ctx context.Context, db *gorm.DB, s tenancy.Scope) (int64, error) {
	var n int64
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return visibleIndexCount(s, tx).Scan(&n).Error
	})
	return n, err
}

// scanAPIIndexes reads ListIndexesForAPI's rows.
func scanAPIIndexes(rows tenancy.Rows, out *[]Index, total *int64) error {
	// One set of variables, reused row after row (as scanIndexRows does):
	// Scan takes them as interfaces, so each would be a heap allocation a
	// row.
	var (
		id, account                         sql.NullInt64
		publicID, name, marengo, pegasus, a sql.NullString
		videos, duration                    sql.NullInt64
		created, updated                    sql.Null[time.Time]
	)
	dest := []any{&id, &publicID, &account, &name, &marengo, &pegasus, &a, &videos, &duration, &created, &updated, total}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if !id.Valid {
			continue // the empty page's row: only the total
		}
		*out = append(*out, Index{ID: id.Int64, PublicID: publicID.String, AccountID: account.Int64, Name: name.String, MarengoOptions: marengo.String,
			PegasusOptions: pegasus.String, Addons: a.String, VideoCount: videos.Int64, TotalDuration: duration.Int64,
			CreatedAt: created.V, UpdatedAt: updated.V})
	}
	return rows.Err()
}

// apiOrderBy is the sort column ("created_at" or "updated_at") and
// direction (" ASC" or " DESC") of an API list, written into its SQL.
type apiOrderBy struct{ col, dir string }

// apiOrder is an API list's sort: by created_at unless sortBy is
// "updated_at", newest first unless ascending. Only these two columns and
// directions can come out.
func apiOrder(sortBy string, ascending bool) apiOrderBy {
	o := apiOrderBy{"created_at", " DESC"}
	if sortBy == "updated_at" {
		o.col = "updated_at"
	}
	if ascending {
		o.dir = " ASC"
	}
	return o
}

// restOfDay is the span from t to the end of its UTC day. t is rounded up to
// the microsecond that rows are stamped with, so that both databases keep
// the same rows.
func restOfDay(t time.Time) (from, until time.Time) {
	u := t.UTC()
	from = u.Truncate(time.Microsecond)
	if from.Before(u) {
		from = from.Add(time.Microsecond)
	}
	return from, time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).Add(24 * time.Hour)
}

// APIVideoQuery is the platform API's video listing of one index.
type APIVideoQuery struct {
	Page      int
	Limit     int
	SortBy    string // "created_at" or "updated_at"
	Ascending bool
	Filename  string // part of the title, any case
}

// ListVideosForAPI returns a page of an index's videos and how many match.
func ListVideosForAPI(ctx context.Context, db *gorm.DB, s tenancy.Scope, indexPublicID string, q APIVideoQuery) ([]Video, int64, error) {
	idx, err := GetIndex(ctx, db, s, indexPublicID)
	if err != nil {
		return nil, 0, err
	}
	filter := func(tx *gorm.DB) *gorm.DB {
		tx = s.Apply(tx.Model(&Video{})).Where("videos.index_id = ?", idx.ID)
		if q.Filename != "" {
			tx = whereContains(tx, "LOWER(videos.title)", q.Filename, VideoTitleMax)
		}
		return tx
	}
	order := apiOrder(q.SortBy, q.Ascending)
	page := tenancy.Page{Number: q.Page, Size: q.Limit}.Bounds()
	var total int64
	var videos []Video
	err = s.Read(ctx, db, func(tx *gorm.DB) error {
		if err := filter(tx).Count(&total).Error; err != nil {
			return err
		}
		return filter(tx).Order("videos." + order.col + order.dir + ", videos.id" + order.dir).Limit(page.Limit).Offset(page.Offset).Find(&videos).Error
	})
	return videos, total, err
}
