package models_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

func TestAddVideo(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Clips", "")
		cases := []struct {
			label   string
			in      models.VideoInput
			title   string
			url     string
			seconds int64
		}{
			{"trimmed", models.VideoInput{Title: "  Intro  ", URL: " https://example.com/intro.mp4 ", DurationSeconds: " 90 "}, "Intro", "https://example.com/intro.mp4", 90},
			{"http, 4 seconds", models.VideoInput{Title: "Short", URL: "http://example.com/a", DurationSeconds: "4"}, "Short", "http://example.com/a", 4},
			{"4 hours", models.VideoInput{Title: "Long", URL: "https://example.com/b?x=1#t", DurationSeconds: "14400"}, "Long", "https://example.com/b?x=1#t", 14400},
			{"200-character title", models.VideoInput{Title: strings.Repeat("é", 200), URL: "https://example.com:8443/c", DurationSeconds: "60"}, strings.Repeat("é", 200), "https://example.com:8443/c", 60},
		}
		var total int64
		for i, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				v, err := models.AddVideo(t.Context(), db, f.Member, idx.PublicID, c.in)
				dbtest.Must(t, err)
				total += c.seconds
				if v.Title != c.title || v.SourceURL != c.url || v.DurationSeconds != c.seconds || v.Status != models.VideoReady {
					t.Errorf("video %+v, want %q %q %d ready", v, c.title, c.url, c.seconds)
				}
				if !objectID.MatchString(v.PublicID) || v.IndexID != idx.ID || v.AccountID != f.Admin.AccountID() ||
					v.CreatedByID == nil || *v.CreatedByID != f.MemberUser.ID {
					t.Errorf("video %+v", v)
				}
				dbtest.WantCounters(t, db, idx, int64(i+1), total)
				rows, err := models.ListVideos(t.Context(), db, f.Admin, idx, tenancy.Page{Number: 1, Size: 20})
				dbtest.Must(t, err)
				if len(rows) != i+1 || rows[0].ID != v.ID || rows[0].CreatedByName != f.MemberUser.Name || rows[0].Title != c.title {
					t.Errorf("list after adding: %d rows, first %+v", len(rows), rows[0])
				}
			})
		}
	})
}

func TestAddVideoRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Clips", "")
		dbtest.AddVideo(t, db, f.Admin, idx.PublicID, "Existing", 100)
		good := func(mod func(*models.VideoInput)) models.VideoInput {
			in := dbtest.VideoInput("Good", 60)
			mod(&in)
			return in
		}
		cases := []struct {
			label string
			in    models.VideoInput
			key   string
		}{
			{"empty title", good(func(in *models.VideoInput) { in.Title = "" }), "title"},
			{"blank title", good(func(in *models.VideoInput) { in.Title = "   " }), "title"},
			{"201-character title", good(func(in *models.VideoInput) { in.Title = strings.Repeat("t", 201) }), "title"},
			{"ftp URL", good(func(in *models.VideoInput) { in.URL = "ftp://example.com/v.mp4" }), "url"},
			{"javascript URL", good(func(in *models.VideoInput) { in.URL = "javascript:alert(1)" }), "url"},
			{"data URL", good(func(in *models.VideoInput) { in.URL = "data:video/mp4;base64,AAAA" }), "url"},
			{"URL without host", good(func(in *models.VideoInput) { in.URL = "https://" }), "url"},
			{"URL with an empty host", good(func(in *models.VideoInput) { in.URL = "http:///video.mp4" }), "url"},
			{"URL without scheme", good(func(in *models.VideoInput) { in.URL = "example.com/video.mp4" }), "url"},
			{"relative URL", good(func(in *models.VideoInput) { in.URL = "/video.mp4" }), "url"},
			{"URL with credentials", good(func(in *models.VideoInput) { in.URL = "https://user:secret@example.com/v.mp4" }), "url"},
			{"URL with a control character", good(func(in *models.VideoInput) { in.URL = "https://example.com/a\x7fb" }), "url"},
			{"URL over 2048 bytes", good(func(in *models.VideoInput) { in.URL = "https://example.com/" + strings.Repeat("a", 2049) }), "url"},
			{"empty URL", good(func(in *models.VideoInput) { in.URL = "" }), "url"},
			{"3 seconds", good(func(in *models.VideoInput) { in.DurationSeconds = "3" }), "duration_seconds"},
			{"14401 seconds", good(func(in *models.VideoInput) { in.DurationSeconds = "14401" }), "duration_seconds"},
			{"0 seconds", good(func(in *models.VideoInput) { in.DurationSeconds = "0" }), "duration_seconds"},
			{"negative", good(func(in *models.VideoInput) { in.DurationSeconds = "-60" }), "duration_seconds"},
			{"not a number", good(func(in *models.VideoInput) { in.DurationSeconds = "abc" }), "duration_seconds"},
			{"fractional", good(func(in *models.VideoInput) { in.DurationSeconds = "4.5" }), "duration_seconds"},
			{"huge", good(func(in *models.VideoInput) { in.DurationSeconds = "99999999999999999999" }), "duration_seconds"},
			{"empty duration", good(func(in *models.VideoInput) { in.DurationSeconds = "" }), "duration_seconds"},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := snapshot(t, db)
				v, err := models.AddVideo(t.Context(), db, f.Admin, idx.PublicID, c.in)
				dbtest.WantFields(t, err, c.key)
				if v.ID != 0 {
					t.Errorf("a refused add returned %+v", v)
				}
				wantUnchanged(t, db, before)
			})
		}
		t.Run("everything wrong", func(t *testing.T) {
			before := snapshot(t, db)
			_, err := models.AddVideo(t.Context(), db, f.Admin, idx.PublicID, models.VideoInput{})
			dbtest.WantFields(t, err, "title", "url", "duration_seconds")
			wantUnchanged(t, db, before)
		})
		t.Run("unknown index", func(t *testing.T) {
			before := snapshot(t, db)
			_, err := models.AddVideo(t.Context(), db, f.Admin, "000000000000000000000000", dbtest.VideoInput("Lost", 10))
			dbtest.WantIs(t, err, tenancy.ErrNotFound)
			wantUnchanged(t, db, before)
		})
		dbtest.WantCounters(t, db, idx, 1, 100)
	})
}

// TestAddVideoRefusesControlCharacters: like every other name in Switchboard
// (users, organizations, indexes), a video title cannot hold control
// characters; a NUL in particular must be a form error, not a database error
// (PostgreSQL refuses NUL in text).
func TestAddVideoRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Clips", "")
		for label, title := range map[string]string{"NUL": "bad\x00title", "bell": "bad\x07title", "escape": "bad\x1b[31mtitle"} {
			t.Run(label, func(t *testing.T) {
				before := snapshot(t, db)
				in := dbtest.VideoInput("x", 60)
				in.Title = title
				_, err := models.AddVideo(t.Context(), db, f.Admin, idx.PublicID, in)
				if _, ok := tenancy.AsFieldErrors(err); !ok {
					t.Errorf("title %q: error %v, want FieldErrors on title", title, err)
				}
				wantUnchanged(t, db, before)
			})
		}
	})
}

// TestVideoCountersFollowAddsAndDeletes: the index's count and total
// duration are exact after every add and delete.
func TestVideoCountersFollowAddsAndDeletes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Counted", "")
		other := dbtest.NewIndex(t, db, f.Admin, "Other", "")
		a := dbtest.AddVideo(t, db, f.Admin, idx.PublicID, "A", 10)
		b := dbtest.AddVideo(t, db, f.Member, idx.PublicID, "B", 20)
		c := dbtest.AddVideo(t, db, f.Member2, idx.PublicID, "C", 30)
		o := dbtest.AddVideo(t, db, f.Admin, other.PublicID, "O", 14400)
		dbtest.WantCounters(t, db, idx, 3, 60)
		dbtest.WantCounters(t, db, other, 1, 14400)

		got, err := models.DeleteVideo(t.Context(), db, f.Member, idx.PublicID, b.PublicID)
		dbtest.Must(t, err)
		if got.ID != b.ID || got.DurationSeconds != 20 {
			t.Errorf("deleted %+v", got)
		}
		dbtest.WantCounters(t, db, idx, 2, 40)

		// Deleting it again, or a video through the wrong index, is not found
		// and changes nothing.
		for label, call := range map[string][2]string{
			"again":                 {idx.PublicID, b.PublicID},
			"through another index": {other.PublicID, a.PublicID},
			"another index's video": {idx.PublicID, o.PublicID},
			"unknown video":         {idx.PublicID, "000000000000000000000000"},
			"empty video ID":        {idx.PublicID, ""},
			"unknown index":         {"000000000000000000000000", a.PublicID},
		} {
			before := snapshot(t, db)
			_, err := models.DeleteVideo(t.Context(), db, f.Admin, call[0], call[1])
			if !errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", label, err)
			}
			wantUnchanged(t, db, before)
		}
		dbtest.WantCounters(t, db, idx, 2, 40)
		dbtest.WantCounters(t, db, other, 1, 14400)

		_, err = models.DeleteVideo(t.Context(), db, f.Admin, idx.PublicID, a.PublicID)
		dbtest.Must(t, err)
		_, err = models.DeleteVideo(t.Context(), db, f.Admin, idx.PublicID, c.PublicID)
		dbtest.Must(t, err)
		dbtest.WantCounters(t, db, idx, 0, 0)
		dbtest.AddVideo(t, db, f.Admin, idx.PublicID, "D", 5)
		dbtest.WantCounters(t, db, idx, 1, 5)
		row, err := models.GetIndex(t.Context(), db, f.Member2, idx.PublicID)
		dbtest.Must(t, err)
		if row.VideoCount != 1 || row.TotalDuration != 5 {
			t.Errorf("GetIndex counters %d/%d", row.VideoCount, row.TotalDuration)
		}
	})
}

// TestAddVideoConcurrently: ten videos added at once all count.
func TestAddVideoConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Busy", "")
		scopes := []tenancy.Scope{f.Admin, f.Member, f.Member2}
		errs := make([]error, 10)
		var wg sync.WaitGroup
		var want int64
		for i := range 10 {
			want += int64(4 + i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = models.AddVideo(t.Context(), db, scopes[i%3], idx.PublicID, dbtest.VideoInput(fmt.Sprintf("Clip %d", i), 4+i))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("add %d: %v", i, err)
			}
		}
		dbtest.WantCounters(t, db, idx, 10, want)
		rows, err := models.ListVideos(t.Context(), db, f.Admin, idx, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if len(rows) != 10 {
			t.Errorf("listed %d videos, want 10", len(rows))
		}
	})
}

// TestDeleteVideoConcurrently: simultaneous deletes of one video delete it
// once and take it off the counters once; deletes and adds of other videos
// at the same time leave exact counters. Several rounds, so that a race
// shows on every run rather than on some.
func TestDeleteVideoConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Contended", "")
		const rounds, deleters = 5, 8
		var wantCount, wantTotal int64
		for round := range rounds {
			same := dbtest.AddVideo(t, db, f.Admin, idx.PublicID, fmt.Sprintf("Same %d", round), 100)
			var others []models.Video
			for i := range 2 {
				others = append(others, dbtest.AddVideo(t, db, f.Admin, idx.PublicID, fmt.Sprintf("Other %d-%d", round, i), 10))
			}
			errs := make([]error, deleters)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range deleters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = models.DeleteVideo(t.Context(), db, f.Member, idx.PublicID, same.PublicID)
				}()
			}
			for i, v := range others {
				wg.Add(2)
				go func() {
					defer wg.Done()
					<-start
					if _, err := models.DeleteVideo(t.Context(), db, f.Member2, idx.PublicID, v.PublicID); err != nil {
						t.Errorf("round %d: delete other %d: %v", round, i, err)
					}
				}()
				go func() {
					defer wg.Done()
					<-start
					if _, err := models.AddVideo(t.Context(), db, f.Admin, idx.PublicID, dbtest.VideoInput(fmt.Sprintf("New %d-%d", round, i), 7)); err != nil {
						t.Errorf("round %d: add %d: %v", round, i, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			wantCount, wantTotal = wantCount+2, wantTotal+14
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, tenancy.ErrNotFound):
					t.Errorf("round %d: concurrent delete: %v, want success or ErrNotFound", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d of %d concurrent deletes of one video succeeded, want 1", round, ok, deleters)
			}
			dbtest.WantCounters(t, db, idx, wantCount, wantTotal)
			if t.Failed() {
				return
			}
		}
	})
}

func TestListVideosPagination(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Many", "")
		other := dbtest.NewIndex(t, db, f.Admin, "Other", "")
		var ids []string
		for i := range 25 {
			ids = append(ids, dbtest.AddVideo(t, db, f.Admin, idx.PublicID, fmt.Sprintf("Clip %02d", i), 4).PublicID)
		}
		dbtest.AddVideo(t, db, f.Admin, other.PublicID, "Elsewhere", 4)
		var seen []string
		for _, p := range []struct{ number, rows int }{{1, 20}, {2, 5}, {3, 0}} {
			rows, err := models.ListVideos(t.Context(), db, f.Member, idx, tenancy.Page{Number: p.number, Size: 20})
			dbtest.Must(t, err)
			if len(rows) != p.rows {
				t.Fatalf("page %d: %d rows, want %d", p.number, len(rows), p.rows)
			}
			for _, r := range rows {
				if r.IndexID != idx.ID {
					t.Errorf("video of index %d listed", r.IndexID)
				}
				seen = append(seen, r.PublicID)
			}
		}
		for i := range ids {
			if seen[i] != ids[len(ids)-1-i] {
				t.Fatalf("not newest first: %v\nwant reverse of %v", seen, ids)
			}
		}
		dbtest.WantCounters(t, db, idx, 25, 100)
	})
}

// TestListVideosOfAnotherMembersPrivateIndex: the videos of a private index
// are its creator's alone. ListVideos takes the index as a value; given
// another member's private index (its ID read anywhere), it must not list
// their videos.
func TestListVideosOfAnotherMembersPrivateIndex(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		priv := dbtest.NewIndex(t, db, f.Member, "Private", "private")
		dbtest.AddVideo(t, db, f.Member, priv.PublicID, "Secret", 60)
		for label, s := range map[string]tenancy.Scope{"administrator": f.Admin, "another member": f.Member2} {
			rows, err := models.ListVideos(t.Context(), db, s, priv, tenancy.Page{Number: 1, Size: 20})
			if len(rows) != 0 {
				t.Errorf("%s lists %d videos of another member's private index (%q), err %v", label, len(rows), rows[0].Title, err)
			}
			// The same holds for an index value carrying only the ID.
			rows, _ = models.ListVideos(t.Context(), db, s, models.Index{ID: priv.ID}, tenancy.Page{Number: 1, Size: 20})
			if len(rows) != 0 {
				t.Errorf("%s lists %d videos of another member's private index through its internal ID", label, len(rows))
			}
		}
	})
}

// TestVideosCrossAccount: videos and indexes of another account behave like
// missing ones, in every combination, and nothing changes.
func TestVideosCrossAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		mine := dbtest.NewIndex(t, db, f.Admin, "Mine", "")
		myVideo := dbtest.AddVideo(t, db, f.Admin, mine.PublicID, "My video", 30)
		for label, victim := range map[string]tenancy.Scope{
			"another organization":             f.Other,
			"another user's personal account":  f.OtherPersonal,
			"the same user's personal account": f.AdminPersonal,
		} {
			t.Run(label, func(t *testing.T) {
				theirs := dbtest.NewIndex(t, db, victim, dbtest.Unique("Theirs "), "")
				theirVideo := dbtest.AddVideo(t, db, victim, theirs.PublicID, "Their video", 50)
				before := snapshot(t, db)

				_, err := models.AddVideo(t.Context(), db, f.Admin, theirs.PublicID, dbtest.VideoInput("Planted", 10))
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.AddVideo(t.Context(), db, f.Admin, theirs.PublicID, models.VideoInput{})
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteVideo(t.Context(), db, f.Admin, theirs.PublicID, theirVideo.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteVideo(t.Context(), db, f.Admin, mine.PublicID, theirVideo.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteVideo(t.Context(), db, f.Admin, theirs.PublicID, myVideo.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteVideo(t.Context(), db, victim, mine.PublicID, myVideo.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteVideo(t.Context(), db, victim, theirs.PublicID, myVideo.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)

				// Listing with their index lists nothing of theirs.
				rows, err := models.ListVideos(t.Context(), db, f.Admin, theirs, tenancy.Page{Number: 1, Size: 20})
				if len(rows) != 0 {
					t.Errorf("listed %d videos of another account (err %v)", len(rows), err)
				}
				rows, err = models.ListVideos(t.Context(), db, victim, mine, tenancy.Page{Number: 1, Size: 20})
				if len(rows) != 0 {
					t.Errorf("they listed %d of my videos (err %v)", len(rows), err)
				}
				wantUnchanged(t, db, before)
				dbtest.WantCounters(t, db, theirs, 1, 50)
				dbtest.WantCounters(t, db, mine, 1, 30)
			})
		}
	})
}
