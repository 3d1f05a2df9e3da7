package models

import (
	"context"
	"strings"
	"time"

	"gorm.io/gorm"
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
	CreatedOn    *time.Time // indexes created on this UTC day
	UpdatedOn    *time.Time
}

// ListIndexesForAPI returns a page of the indexes the scope sees and how
// many match in all, in one query (the total rides along as a window
// count); only a page past the end needs a second query to count.
func ListIndexesForAPI(ctx context.Context, db *gorm.DB, s Scope, q APIIndexQuery) ([]Index, int64, error) {
	if s.IsZero() {
		return nil, 0, ErrUnscoped
	}
	filter := func(tx *gorm.DB) *gorm.DB {
		tx = s.indexes(tx)
		if q.Name != "" {
			tx = tx.Where("indexes.name_key LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(q.Name))+"%")
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
		for col, day := range map[string]*time.Time{"created_at": q.CreatedOn, "updated_at": q.UpdatedOn} {
			if day != nil {
				start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
				tx = tx.Where("indexes."+col+" >= ? AND indexes."+col+" < ?", start, start.Add(24*time.Hour))
			}
		}
		return tx
	}
	col := "indexes.created_at"
	if q.SortBy == "updated_at" {
		col = "indexes.updated_at"
	}
	dir := " DESC"
	if q.Ascending {
		dir = " ASC"
	}
	var rows []struct {
		Index
		TotalResults int64
	}
	err := filter(db.WithContext(ctx)).Select("indexes.*, COUNT(*) OVER () AS total_results").
		Order(col + dir + ", indexes.id" + dir).Limit(q.Limit).Offset((q.Page - 1) * q.Limit).
		Find(&rows).Error
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		var total int64
		err := filter(db.WithContext(ctx)).Count(&total).Error
		return nil, total, err
	}
	out := make([]Index, len(rows))
	for i, r := range rows {
		out[i] = r.Index
	}
	return out, rows[0].TotalResults, nil
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
func ListVideosForAPI(ctx context.Context, db *gorm.DB, s Scope, indexPublicID string, q APIVideoQuery) ([]Video, int64, error) {
	idx, err := GetIndex(ctx, db, s, indexPublicID)
	if err != nil {
		return nil, 0, err
	}
	filter := func(tx *gorm.DB) *gorm.DB {
		tx = s.apply(tx.Model(&Video{})).Where("videos.index_id = ?", idx.ID)
		if q.Filename != "" {
			tx = tx.Where("LOWER(videos.title) LIKE ? ESCAPE '\\'", "%"+escapeLike(strings.ToLower(q.Filename))+"%")
		}
		return tx
	}
	col := "videos.created_at"
	if q.SortBy == "updated_at" {
		col = "videos.updated_at"
	}
	dir := " DESC"
	if q.Ascending {
		dir = " ASC"
	}
	var total int64
	if err := filter(db.WithContext(ctx)).Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var videos []Video
	err = filter(db.WithContext(ctx)).Order(col + dir + ", videos.id" + dir).Limit(q.Limit).Offset((q.Page - 1) * q.Limit).Find(&videos).Error
	return videos, total, err
}
