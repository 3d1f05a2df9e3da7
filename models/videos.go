package models

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// Video durations accepted: 4 seconds to 4 hours.
const (
	VideoMinSeconds = 4
	VideoMaxSeconds = 4 * 60 * 60
	VideoTitleMax   = 200
	VideoURLMax     = 2048
)

// VideoReady is the only status a video has: no media is processed.
const VideoReady = "ready"

// Video is a video record inside an index.
type Video struct {
	ID              int64
	PublicID        string
	AccountID       int64
	IndexID         int64
	Title           string
	SourceURL       string
	DurationSeconds int64
	Status          string
	CreatedByID     *int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// VideoInput is the add-video form as sent.
type VideoInput struct {
	Title           string
	URL             string
	DurationSeconds string
}

func validateVideo(in VideoInput) (title, source string, seconds int64, fe tenancy.FieldErrors) {
	fe = tenancy.FieldErrors{}
	title = strings.TrimSpace(in.Title)
	switch n := utf8.RuneCountInString(title); {
	case n == 0:
		fe["title"] = "Enter a title."
	case n > VideoTitleMax:
		fe["title"] = fmt.Sprintf("The title must be at most %d characters.", VideoTitleMax)
	default:
		if msg := tenancy.NameProblem("The title", title); msg != "" {
			fe["title"] = msg
		}
	}
	source = strings.TrimSpace(in.URL)
	u, err := url.Parse(source)
	switch {
	case source == "":
		fe["url"] = "Enter the video's URL."
	case len(source) > VideoURLMax:
		fe["url"] = fmt.Sprintf("The URL must be at most %d characters.", VideoURLMax)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		fe["url"] = "Enter an http:// or https:// URL, like https://example.com/video.mp4."
	}
	seconds, err = strconv.ParseInt(strings.TrimSpace(in.DurationSeconds), 10, 64)
	switch {
	case strings.TrimSpace(in.DurationSeconds) == "":
		fe["duration_seconds"] = "Enter the duration in seconds."
	case err != nil:
		fe["duration_seconds"] = "Enter a whole number of seconds."
	case seconds < VideoMinSeconds || seconds > VideoMaxSeconds:
		fe["duration_seconds"] = fmt.Sprintf("Videos must last from %d seconds to 4 hours (%d seconds).", VideoMinSeconds, VideoMaxSeconds)
	}
	return title, source, seconds, fe
}

// AddVideo adds a ready video to an index the scope sees and updates the
// index's count and total duration in the same transaction.
func AddVideo(ctx context.Context, db *gorm.DB, s tenancy.Scope, indexPublicID string, in VideoInput) (Video, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return Video{}, err
	}
	var v Video
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		idx, err := GetIndex(ctx, tx, s, indexPublicID)
		if err != nil {
			return err
		}
		title, source, seconds, fe := validateVideo(in)
		if err := fe.OrNil(); err != nil {
			return err
		}
		creator := s.UserID()
		v = Video{PublicID: tenancy.NewObjectID(), IndexID: idx.ID, Title: title, SourceURL: source,
			DurationSeconds: seconds, Status: VideoReady, CreatedByID: &creator}
		if err := s.Apply(tx).Create(&v).Error; err != nil {
			return err
		}
		if err := s.Apply(tx.Model(&Index{})).Where("id = ?", idx.ID).Updates(map[string]any{
			"video_count":    gorm.Expr("video_count + 1"),
			"total_duration": gorm.Expr("total_duration + ?", seconds),
			"updated_at":     tenancy.Now(),
		}).Error; err != nil {
			return err
		}
		return usage.Record(tx, s, usage.MetricIndexingSeconds, "", seconds)
	})
	return v, err
}

// VideoRow is a video with the name of who added it.
type VideoRow struct {
	Video
	CreatedByName string
}

// ListVideos returns a page of an index's videos, newest first, in one
// query; the index itself carries their number and total duration.
func ListVideos(ctx context.Context, db *gorm.DB, s tenancy.Scope, idx Index, page tenancy.Page) ([]VideoRow, error) {
	var rows []VideoRow
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		// The index must be one the scope sees: the visibility rule applies
		// here too, in the same query.
		visible := visibleIndexes(s, tx).Select("indexes.id").Where("indexes.id = ?", idx.ID)
		return s.Apply(tx.Model(&Video{})).
			Select("videos.*, users.name AS created_by_name").
			Joins("LEFT JOIN users ON users.id = videos.created_by_id").
			Where("videos.index_id IN (?)", visible).
			Order("videos.created_at DESC, videos.id DESC").
			Limit(page.Size).Offset(page.Offset()).
			Find(&rows).Error
	})
	return rows, err
}

// DeleteVideo removes a video from an index the scope sees.
func DeleteVideo(ctx context.Context, db *gorm.DB, s tenancy.Scope, indexPublicID, videoPublicID string) (Video, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return Video{}, err
	}
	var v Video
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		idx, err := GetIndex(ctx, tx, s, indexPublicID)
		if err != nil {
			return err
		}
		if err := s.Apply(tx).Where("index_id = ? AND public_id = ?", idx.ID, videoPublicID).Take(&v).Error; err != nil {
			return tenancy.NotFound(err)
		}
		res := s.Apply(tx).Where("id = ?", v.ID).Delete(&Video{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return tenancy.ErrNotFound // deleted by a concurrent request: count it once
		}
		return s.Apply(tx.Model(&Index{})).Where("id = ?", idx.ID).Updates(map[string]any{
			"video_count":    gorm.Expr("video_count - 1"),
			"total_duration": gorm.Expr("total_duration - ?", v.DurationSeconds),
			"updated_at":     tenancy.Now(),
		}).Error
	})
	return v, err
}
