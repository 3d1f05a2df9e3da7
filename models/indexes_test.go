package models_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// resourceTables are the account-owned tables of indexes, videos and S3
// integrations, dumped whole to prove that a refused call changed nothing.
var resourceTables = []string{"indexes", "videos", "s3_integrations"}

// dbState is what a refused call must leave as it was: the row counts of the
// foundation's tables and every row of the resource tables.
type dbState struct {
	counts dbtest.RowCounts
	rows   map[string]string
}

// snapshot reads the state with raw SQL, which the scope guard does not
// inspect.
func snapshot(t *testing.T, db *gorm.DB) dbState {
	t.Helper()
	st := dbState{counts: dbtest.CountAll(t, db), rows: map[string]string{}}
	for _, table := range resourceTables {
		var rows []map[string]any
		if err := dbtest.Plain(t, db).Raw("SELECT * FROM " + table + " ORDER BY id").Scan(&rows).Error; err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		st.rows[table] = fmt.Sprint(rows)
	}
	return st
}

// wantUnchanged fails unless every table is as it was in before.
func wantUnchanged(t *testing.T, db *gorm.DB, before dbState) {
	t.Helper()
	dbtest.WantNothingWritten(t, db, before.counts)
	after := snapshot(t, db)
	for _, table := range resourceTables {
		if before.rows[table] != after.rows[table] {
			t.Errorf("%s changed; want nothing written\nbefore: %s\nafter:  %s", table, before.rows[table], after.rows[table])
		}
	}
}

// objectID is the shape of resources' public IDs.
var objectID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// listIndexes lists up to 100 indexes the scope sees.
func listIndexes(t *testing.T, db *gorm.DB, s tenancy.Scope, q models.IndexQuery) models.IndexList {
	t.Helper()
	if q.Page.Size == 0 {
		q.Page = tenancy.Page{Number: 1, Size: 100}
	}
	list, err := models.ListIndexes(t.Context(), db, s, q)
	dbtest.Must(t, err)
	return list
}

func indexNames(rows []models.IndexRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.Name
	}
	return out
}

// wantNameTaken fails unless err is the duplicate-name error: FieldErrors on
// name that also matches ErrIndexNameTaken.
func wantNameTaken(t *testing.T, err error) {
	t.Helper()
	dbtest.WantFields(t, err, "name")
	dbtest.WantIs(t, err, models.ErrIndexNameTaken)
}

func TestCreateIndex(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		cases := []struct {
			label            string
			in               models.IndexInput
			name             string
			marengo, pegasus string
			models           []models.IndexModel
		}{
			{
				label: "one model",
				in:    models.IndexInput{Name: "Marengo only", Models: []string{"marengo"}, MarengoOptions: []string{"visual"}},
				name:  "Marengo only", marengo: "visual",
				models: []models.IndexModel{{Name: "marengo", Options: []string{"visual"}}},
			},
			{
				label: "both models",
				in: models.IndexInput{Name: "Both", Models: []string{"marengo", "pegasus"},
					MarengoOptions: []string{"visual", "audio"}, PegasusOptions: []string{"audio"}},
				name: "Both", marengo: "visual,audio", pegasus: "audio",
				models: []models.IndexModel{{Name: "marengo", Options: []string{"visual", "audio"}}, {Name: "pegasus", Options: []string{"audio"}}},
			},
			{
				label: "options in display order, once each; models in display order",
				in: models.IndexInput{Name: "Normalised", Models: []string{"pegasus", "marengo", "pegasus"},
					MarengoOptions: []string{"audio", "visual", "audio"}, PegasusOptions: []string{"visual", "visual"}},
				name: "Normalised", marengo: "visual,audio", pegasus: "visual",
				models: []models.IndexModel{{Name: "marengo", Options: []string{"visual", "audio"}}, {Name: "pegasus", Options: []string{"visual"}}},
			},
			{
				label: "options of a model not chosen are ignored",
				in: models.IndexInput{Name: "Pegasus only", Models: []string{"pegasus"},
					MarengoOptions: []string{"smell"}, PegasusOptions: []string{"audio"}},
				name: "Pegasus only", pegasus: "audio",
				models: []models.IndexModel{{Name: "pegasus", Options: []string{"audio"}}},
			},
			{
				label: "name trimmed",
				in:    models.IndexInput{Name: " \t Trimmed  Name \n", Models: []string{"marengo"}, MarengoOptions: []string{"audio"}},
				name:  "Trimmed  Name", marengo: "audio",
				models: []models.IndexModel{{Name: "marengo", Options: []string{"audio"}}},
			},
			{
				label: "100 characters, counted as characters",
				in:    models.IndexInput{Name: strings.Repeat("é", 100), Models: []string{"marengo"}, MarengoOptions: []string{"visual"}},
				name:  strings.Repeat("é", 100), marengo: "visual",
				models: []models.IndexModel{{Name: "marengo", Options: []string{"visual"}}},
			},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				idx, err := models.CreateIndex(t.Context(), db, f.Admin, c.in)
				dbtest.Must(t, err)
				if !objectID.MatchString(idx.PublicID) {
					t.Errorf("public ID %q, want 24 hex characters", idx.PublicID)
				}
				row, err := models.GetIndex(t.Context(), db, f.Admin, idx.PublicID)
				dbtest.Must(t, err)
				got := row.Index
				if got.Name != c.name || got.NameKey != strings.ToLower(c.name) {
					t.Errorf("name %q key %q, want %q", got.Name, got.NameKey, c.name)
				}
				if got.MarengoOptions != c.marengo || got.PegasusOptions != c.pegasus {
					t.Errorf("options marengo %q pegasus %q, want %q %q", got.MarengoOptions, got.PegasusOptions, c.marengo, c.pegasus)
				}
				if fmt.Sprint(got.Models()) != fmt.Sprint(c.models) {
					t.Errorf("Models() %v, want %v", got.Models(), c.models)
				}
				if got.AccountID != f.Admin.AccountID() || got.CreatedByID == nil || *got.CreatedByID != f.AdminUser.ID {
					t.Errorf("account %d created by %v, want %d by %d", got.AccountID, got.CreatedByID, f.Admin.AccountID(), f.AdminUser.ID)
				}
				if got.Visibility != models.VisibilityAccount || got.Private() || got.NameScope != 0 {
					t.Errorf("visibility %q name scope %d, want account, 0", got.Visibility, got.NameScope)
				}
				if got.VideoCount != 0 || got.TotalDuration != 0 || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
					t.Errorf("new index %+v", got)
				}
				if row.CreatedByName != f.AdminUser.Name {
					t.Errorf("created by %q, want %q", row.CreatedByName, f.AdminUser.Name)
				}
				if got.ID != idx.ID || got.Name != idx.Name || got.MarengoOptions != idx.MarengoOptions || got.PegasusOptions != idx.PegasusOptions {
					t.Errorf("CreateIndex returned %+v, stored %+v", idx, got)
				}
			})
		}
	})
}

func TestCreateIndexRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.NewIndex(t, db, f.Admin, "Existing", "")
		mar := []string{"marengo"}
		vis := []string{"visual"}
		cases := []struct {
			label string
			in    models.IndexInput
			keys  []string
		}{
			{"empty name", models.IndexInput{Name: "", Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"blank name", models.IndexInput{Name: " \t ", Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"101-character name", models.IndexInput{Name: strings.Repeat("a", 101), Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"101 characters after trimming", models.IndexInput{Name: " " + strings.Repeat("é", 101) + " ", Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"bell in name", models.IndexInput{Name: "bad\x07name", Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"NUL in name", models.IndexInput{Name: "bad\x00name", Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"newline inside name", models.IndexInput{Name: "two\nlines", Models: mar, MarengoOptions: vis}, []string{"name"}},
			{"no model", models.IndexInput{Name: "No model"}, []string{"model"}},
			{"no model, options sent", models.IndexInput{Name: "No model", MarengoOptions: vis}, []string{"model"}},
			{"unknown model", models.IndexInput{Name: "Whisper", Models: []string{"whisper"}}, []string{"model"}},
			{"unknown model next to a known one", models.IndexInput{Name: "Whisper", Models: []string{"marengo", "whisper"}, MarengoOptions: vis}, []string{"model"}},
			{"upper-case model", models.IndexInput{Name: "Upper", Models: []string{"Marengo"}, MarengoOptions: vis}, []string{"model"}},
			{"Marengo without options", models.IndexInput{Name: "No options", Models: mar}, []string{"marengo_options"}},
			{"Pegasus without options", models.IndexInput{Name: "No options", Models: []string{"pegasus"}}, []string{"pegasus_options"}},
			{"both, Pegasus without options", models.IndexInput{Name: "No options", Models: []string{"marengo", "pegasus"}, MarengoOptions: vis}, []string{"pegasus_options"}},
			{"unknown option", models.IndexInput{Name: "Smell", Models: mar, MarengoOptions: []string{"smell"}}, []string{"marengo_options"}},
			{"unknown option next to a known one", models.IndexInput{Name: "Smell", Models: mar, MarengoOptions: []string{"visual", "smell"}}, []string{"marengo_options"}},
			{"unknown Pegasus option", models.IndexInput{Name: "Smell", Models: []string{"pegasus"}, PegasusOptions: []string{"audio", "smell"}}, []string{"pegasus_options"}},
			{"bad visibility", models.IndexInput{Name: "Public", Models: mar, MarengoOptions: vis, Visibility: "public"}, []string{"visibility"}},
			{"upper-case visibility", models.IndexInput{Name: "Private", Models: mar, MarengoOptions: vis, Visibility: "PRIVATE"}, []string{"visibility"}},
			{"everything wrong at once", models.IndexInput{Name: "", Models: []string{"whisper"}, Visibility: "public"}, []string{"name", "model", "visibility"}},
			{"bad input and a taken name", models.IndexInput{Name: "existing", Models: mar}, []string{"marengo_options"}},
		}
		for _, c := range cases {
			t.Run(c.label, func(t *testing.T) {
				before := snapshot(t, db)
				idx, err := models.CreateIndex(t.Context(), db, f.Admin, c.in)
				dbtest.WantFields(t, err, c.keys...)
				if errors.Is(err, models.ErrIndexNameTaken) {
					t.Errorf("bad input reported as a taken name: %v", err)
				}
				if idx.ID != 0 || idx.PublicID != "" {
					t.Errorf("a refused create returned %+v", idx)
				}
				wantUnchanged(t, db, before)
			})
		}
	})
}

// TestCreateIndexNameTaken: names are unique per account, case-insensitively;
// another account's names do not count.
func TestCreateIndexNameTaken(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.NewIndex(t, db, f.Admin, "Highlights", "")
		dbtest.NewIndex(t, db, f.Admin, "Été", "")
		for _, c := range []struct {
			label string
			scope tenancy.Scope
			name  string
		}{
			{"same name", f.Admin, "Highlights"},
			{"other case, by a member", f.Member, "hIGHLIGHTS"},
			{"surrounding spaces", f.Member2, "  HIGHLIGHTS\t"},
			{"non-ASCII letters in another case", f.Admin, "ÉTÉ"},
		} {
			t.Run(c.label, func(t *testing.T) {
				before := snapshot(t, db)
				_, err := models.CreateIndex(t.Context(), db, c.scope, dbtest.IndexInput(c.name, ""))
				wantNameTaken(t, err)
				fe, _ := tenancy.AsFieldErrors(err)
				if !strings.Contains(fe["name"], strings.TrimSpace(c.name)) {
					t.Errorf("message %q does not name the index", fe["name"])
				}
				wantUnchanged(t, db, before)
			})
		}
		for _, c := range []struct {
			label string
			scope tenancy.Scope
		}{
			{"another organization", f.Other},
			{"another user's personal account", f.OtherPersonal},
			{"the administrator's own personal account", f.AdminPersonal},
		} {
			t.Run(c.label, func(t *testing.T) {
				idx := dbtest.NewIndex(t, db, c.scope, "highlights", "")
				if idx.AccountID != c.scope.AccountID() {
					t.Fatalf("created in account %d, want %d", idx.AccountID, c.scope.AccountID())
				}
				// And the name is now taken there too.
				_, err := models.CreateIndex(t.Context(), db, c.scope, dbtest.IndexInput("HIGHLIGHTS", ""))
				wantNameTaken(t, err)
			})
		}
		if n := dbtest.CountRows(t, db, "indexes", "account_id = ? AND name_key = ?", f.Admin.AccountID(), "highlights"); n != 1 {
			t.Fatalf("%d indexes named highlights in the organization, want 1", n)
		}
	})
}

// TestCreateIndexSameNameConcurrently: of simultaneous creates of one name,
// one wins and the others get the name-taken error, not a database error.
func TestCreateIndexSameNameConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		scopes := []tenancy.Scope{f.Admin, f.Member, f.Member2, f.Admin, f.Member, f.Member2, f.Admin, f.Member}
		errs := make([]error, len(scopes))
		var wg sync.WaitGroup
		for i, s := range scopes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = models.CreateIndex(t.Context(), db, s, dbtest.IndexInput(fmt.Sprintf("Race%s", strings.Repeat(" ", i%2)), ""))
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, models.ErrIndexNameTaken):
				dbtest.WantFields(t, err, "name")
			default:
				t.Errorf("concurrent create: %v, want success or ErrIndexNameTaken", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent creates of one name succeeded, want 1", ok)
		}
		if n := dbtest.CountRows(t, db, "indexes", "name_key = ?", "race"); n != 1 {
			t.Errorf("%d indexes named race, want 1", n)
		}
	})
}

// TestCreateIndexByMemberIsShared: a regular member creates indexes, and every
// member, administrators included, sees and manages them.
func TestCreateIndexByMemberIsShared(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Member, "Member's index", "account")
		if idx.CreatedByID == nil || *idx.CreatedByID != f.MemberUser.ID || idx.Visibility != models.VisibilityAccount {
			t.Fatalf("created %+v", idx)
		}
		for label, s := range map[string]tenancy.Scope{"admin": f.Admin, "member2": f.Member2, "creator": f.Member} {
			row, err := models.GetIndex(t.Context(), db, s, idx.PublicID)
			if err != nil {
				t.Fatalf("%s: GetIndex: %v", label, err)
			}
			if row.CreatedByName != f.MemberUser.Name {
				t.Errorf("%s: created by %q, want %q", label, row.CreatedByName, f.MemberUser.Name)
			}
			if list := listIndexes(t, db, s, models.IndexQuery{}); list.Total != 1 || len(list.Rows) != 1 || list.Rows[0].ID != idx.ID {
				t.Errorf("%s: list %v total %d", label, indexNames(list.Rows), list.Total)
			}
		}
		_, err := models.AddVideo(t.Context(), db, f.Admin, idx.PublicID, dbtest.VideoInput("By the admin", 10))
		dbtest.Must(t, err)
		_, err = models.UpdateIndex(t.Context(), db, f.Member2, idx.PublicID, models.IndexUpdate{Name: "Renamed by member2"})
		dbtest.Must(t, err)
		_, err = models.DeleteIndex(t.Context(), db, f.Admin, idx.PublicID)
		dbtest.Must(t, err)
	})
}

// TestCreateIndexPersonalIgnoresVisibility: a personal account's indexes are
// its owner's already; a visibility sent there is ignored, never an error.
func TestCreateIndexPersonalIgnoresVisibility(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for _, v := range []string{"private", "public", "account", ""} {
			t.Run("visibility "+v, func(t *testing.T) {
				idx := dbtest.NewIndex(t, db, f.AdminPersonal, dbtest.Unique("Personal "), v)
				got := dbtest.RawIndex(t, db, idx.ID)
				if got.Visibility != models.VisibilityAccount || got.NameScope != 0 || got.AccountID != f.AdminPersonal.AccountID() {
					t.Fatalf("stored visibility %q name scope %d account %d, want account, 0, %d", got.Visibility, got.NameScope, got.AccountID, f.AdminPersonal.AccountID())
				}
			})
		}
		idx := dbtest.NewIndex(t, db, f.AdminPersonal, "Personal", "")
		up, err := models.UpdateIndex(t.Context(), db, f.AdminPersonal, idx.PublicID, models.IndexUpdate{Name: "Personal", Visibility: "private"})
		dbtest.Must(t, err)
		if got := dbtest.RawIndex(t, db, idx.ID); up.Visibility != models.VisibilityAccount || got.Visibility != models.VisibilityAccount {
			t.Fatalf("update in a personal account made visibility %q (stored %q)", up.Visibility, got.Visibility)
		}
	})
}

// TestPrivateIndexIsSeenOnlyByItsCreator: nobody else in the organization,
// administrators included, sees a private index or its videos anywhere.
func TestPrivateIndexIsSeenOnlyByItsCreator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		shared := dbtest.NewIndex(t, db, f.Admin, "Shared Secrets", "")
		priv := dbtest.NewIndex(t, db, f.Member, "Secret Plans", "private")
		if !priv.Private() || priv.NameScope != f.MemberUser.ID {
			t.Fatalf("private index %+v", priv)
		}
		video, err := models.AddVideo(t.Context(), db, f.Member, priv.PublicID, dbtest.VideoInput("Secret video", 60))
		dbtest.Must(t, err)

		// The creator sees it everywhere.
		row, err := models.GetIndex(t.Context(), db, f.Member, priv.PublicID)
		dbtest.Must(t, err)
		if !row.Private() || row.VideoCount != 1 || row.TotalDuration != 60 {
			t.Fatalf("creator's view %+v", row.Index)
		}
		list := listIndexes(t, db, f.Member, models.IndexQuery{})
		if list.Total != 2 || !slices.Contains(indexNames(list.Rows), "Secret Plans") {
			t.Fatalf("creator's list %v total %d", indexNames(list.Rows), list.Total)
		}
		if list := listIndexes(t, db, f.Member, models.IndexQuery{Search: "secret"}); list.Total != 2 || len(list.Rows) != 2 {
			t.Fatalf("creator's search %v total %d", indexNames(list.Rows), list.Total)
		}
		videos, err := models.ListVideos(t.Context(), db, f.Member, row.Index, tenancy.Page{Number: 1, Size: 20})
		dbtest.Must(t, err)
		if len(videos) != 1 || videos[0].ID != video.ID {
			t.Fatalf("creator's videos %+v", videos)
		}

		for label, s := range map[string]tenancy.Scope{"administrator": f.Admin, "another member": f.Member2} {
			t.Run(label, func(t *testing.T) {
				before := snapshot(t, db)
				_, err := models.GetIndex(t.Context(), db, s, priv.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				for _, q := range []models.IndexQuery{{}, {Search: "secret"}, {Search: "plans"}, {Sort: models.SortName}} {
					list := listIndexes(t, db, s, q)
					names := indexNames(list.Rows)
					if slices.Contains(names, "Secret Plans") {
						t.Errorf("query %+v lists the private index: %v", q, names)
					}
					if list.Total != int64(len(list.Rows)) || list.Total > 1 {
						t.Errorf("query %+v: total %d for %v; the private index is counted", q, list.Total, names)
					}
				}
				if list := listIndexes(t, db, s, models.IndexQuery{Search: "plans"}); list.Total != 0 {
					t.Errorf("search finds %d", list.Total)
				}
				_, err = models.AddVideo(t.Context(), db, s, priv.PublicID, dbtest.VideoInput("Intruder", 30))
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.AddVideo(t.Context(), db, s, priv.PublicID, models.VideoInput{})
				dbtest.WantIs(t, err, tenancy.ErrNotFound) // no validation message that would confirm the index exists
				_, err = models.DeleteVideo(t.Context(), db, s, priv.PublicID, video.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteVideo(t.Context(), db, s, shared.PublicID, video.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIndex(t.Context(), db, s, priv.PublicID, models.IndexUpdate{Name: "Taken over", Visibility: "account"})
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIndex(t.Context(), db, s, priv.PublicID, models.IndexUpdate{Name: ""})
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteIndex(t.Context(), db, s, priv.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				wantUnchanged(t, db, before)
			})
		}
	})
}

// TestPrivateIndexNames: names are unique within what one member sees: the
// shared indexes and their own private ones.
func TestPrivateIndexNames(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.NewIndex(t, db, f.Member, "Drafts", "private")

		// Another member's private "drafts" does not make the name taken.
		other := dbtest.NewIndex(t, db, f.Member2, "drafts", "account")
		if other.Private() {
			t.Fatalf("created %+v", other)
		}
		// The creator of the private one cannot create a second, either way.
		for _, v := range []string{"private", "account", ""} {
			before := snapshot(t, db)
			_, err := models.CreateIndex(t.Context(), db, f.Member, dbtest.IndexInput("DRAFTS", v))
			wantNameTaken(t, err)
			wantUnchanged(t, db, before)
		}

		// A private name does not block another member's private one.
		dbtest.NewIndex(t, db, f.Admin, "Notes", "private")
		dbtest.NewIndex(t, db, f.Member, "notes", "private")
		// Once a shared "Archive" exists, nobody gets a private "archive".
		dbtest.NewIndex(t, db, f.Admin, "Archive", "")
		for _, s := range []tenancy.Scope{f.Admin, f.Member, f.Member2} {
			for _, v := range []string{"private", "account"} {
				before := snapshot(t, db)
				_, err := models.CreateIndex(t.Context(), db, s, dbtest.IndexInput("archive", v))
				wantNameTaken(t, err)
				wantUnchanged(t, db, before)
			}
		}

		// What each one sees.
		for _, c := range []struct {
			scope tenancy.Scope
			want  []string
		}{
			{f.Admin, []string{"Archive", "drafts", "Notes"}},
			{f.Member, []string{"Archive", "Drafts", "drafts", "notes"}},
			{f.Member2, []string{"Archive", "drafts"}},
		} {
			list := listIndexes(t, db, c.scope, models.IndexQuery{Sort: models.SortName})
			got := indexNames(list.Rows)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) || list.Total != int64(len(want)) {
				t.Errorf("user %d sees %v (total %d), want %v", c.scope.UserID(), got, list.Total, want)
			}
		}
	})
}

func TestUpdateIndex(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Original", "")
		dbtest.NewIndex(t, db, f.Admin, "Taken", "")

		// Anyone who sees a shared index renames it; names are trimmed.
		up, err := models.UpdateIndex(t.Context(), db, f.Member, idx.PublicID, models.IndexUpdate{Name: "  Renamed  "})
		dbtest.Must(t, err)
		got := dbtest.RawIndex(t, db, idx.ID)
		if up.Name != "Renamed" || got.Name != "Renamed" || got.NameKey != "renamed" || got.Visibility != models.VisibilityAccount {
			t.Fatalf("after rename: returned %q, stored %+v", up.Name, got)
		}
		if got.CreatedByID == nil || *got.CreatedByID != f.AdminUser.ID || got.UpdatedAt.Before(idx.UpdatedAt) {
			t.Fatalf("after rename: %+v", got)
		}
		// Only its case changing is not a clash with itself.
		_, err = models.UpdateIndex(t.Context(), db, f.Member2, idx.PublicID, models.IndexUpdate{Name: "RENAMED", Visibility: "account"})
		dbtest.Must(t, err)
		if got := dbtest.RawIndex(t, db, idx.ID); got.Name != "RENAMED" {
			t.Fatalf("name %q after a case change", got.Name)
		}

		refused := []struct {
			label string
			scope tenancy.Scope
			in    models.IndexUpdate
			keys  []string
			taken bool
		}{
			{"empty name", f.Admin, models.IndexUpdate{Name: ""}, []string{"name"}, false},
			{"101 characters", f.Member, models.IndexUpdate{Name: strings.Repeat("x", 101)}, []string{"name"}, false},
			{"control character", f.Member, models.IndexUpdate{Name: "a\x1bb"}, []string{"name"}, false},
			{"taken name, other case", f.Member, models.IndexUpdate{Name: "tAKEN"}, []string{"name"}, true},
			{"bad visibility", f.Admin, models.IndexUpdate{Name: "RENAMED", Visibility: "public"}, []string{"visibility"}, false},
			{"a member makes another's index private", f.Member, models.IndexUpdate{Name: "RENAMED", Visibility: "private"}, []string{"visibility"}, false},
			{"a member renames and makes it private", f.Member, models.IndexUpdate{Name: "Mine now", Visibility: "private"}, []string{"visibility"}, false},
		}
		for _, c := range refused {
			t.Run(c.label, func(t *testing.T) {
				before := snapshot(t, db)
				_, err := models.UpdateIndex(t.Context(), db, c.scope, idx.PublicID, c.in)
				dbtest.WantFields(t, err, c.keys...)
				if errors.Is(err, models.ErrIndexNameTaken) != c.taken {
					t.Errorf("errors.Is(ErrIndexNameTaken) = %v, want %v", !c.taken, c.taken)
				}
				wantUnchanged(t, db, before)
			})
		}

		// The creator makes it private: the others lose sight of it.
		_, err = models.UpdateIndex(t.Context(), db, f.Admin, idx.PublicID, models.IndexUpdate{Name: "RENAMED", Visibility: "private"})
		dbtest.Must(t, err)
		got = dbtest.RawIndex(t, db, idx.ID)
		if got.Visibility != models.VisibilityPrivate || got.NameScope != f.AdminUser.ID {
			t.Fatalf("after making private: %+v", got)
		}
		_, err = models.GetIndex(t.Context(), db, f.Member, idx.PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		before := snapshot(t, db)
		_, err = models.UpdateIndex(t.Context(), db, f.Member, idx.PublicID, models.IndexUpdate{Name: "RENAMED", Visibility: "account"})
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		wantUnchanged(t, db, before)
		// Leaving visibility empty keeps it private.
		_, err = models.UpdateIndex(t.Context(), db, f.Admin, idx.PublicID, models.IndexUpdate{Name: "Private now"})
		dbtest.Must(t, err)
		if got := dbtest.RawIndex(t, db, idx.ID); got.Visibility != models.VisibilityPrivate || got.Name != "Private now" {
			t.Fatalf("after a rename of a private index: %+v", got)
		}

		// While it is private, a member creates a shared index of that name;
		// making the private one shared again is then a clash.
		dbtest.NewIndex(t, db, f.Member, "private NOW", "")
		before = snapshot(t, db)
		_, err = models.UpdateIndex(t.Context(), db, f.Admin, idx.PublicID, models.IndexUpdate{Name: "Private now", Visibility: "account"})
		wantNameTaken(t, err)
		wantUnchanged(t, db, before)

		// Under another name it becomes shared again, for everyone.
		_, err = models.UpdateIndex(t.Context(), db, f.Admin, idx.PublicID, models.IndexUpdate{Name: "Back to shared", Visibility: "account"})
		dbtest.Must(t, err)
		got = dbtest.RawIndex(t, db, idx.ID)
		if got.Visibility != models.VisibilityAccount || got.NameScope != 0 {
			t.Fatalf("after making shared: %+v", got)
		}
		_, err = models.GetIndex(t.Context(), db, f.Member2, idx.PublicID)
		dbtest.Must(t, err)
	})
}

// TestUpdateIndexVisibilityOnlyByCreator: an administrator cannot change who
// sees a member's shared index either.
func TestUpdateIndexVisibilityOnlyByCreator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Member, "Member's", "")
		for label, s := range map[string]tenancy.Scope{"administrator": f.Admin, "another member": f.Member2} {
			before := snapshot(t, db)
			_, err := models.UpdateIndex(t.Context(), db, s, idx.PublicID, models.IndexUpdate{Name: "Member's", Visibility: "private"})
			if fe, ok := tenancy.AsFieldErrors(err); !ok || fe["visibility"] == "" {
				t.Errorf("%s: %v, want FieldErrors on visibility", label, err)
			}
			wantUnchanged(t, db, before)
		}
		_, err := models.UpdateIndex(t.Context(), db, f.Member, idx.PublicID, models.IndexUpdate{Name: "Member's", Visibility: "private"})
		dbtest.Must(t, err)
		if got := dbtest.RawIndex(t, db, idx.ID); !got.Private() {
			t.Fatalf("the creator could not make their index private: %+v", got)
		}
	})
}

// TestIndexesCrossAccount: an index of another account behaves exactly like a
// missing one, and nothing changes.
func TestIndexesCrossAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		mine := dbtest.NewIndex(t, db, f.Admin, "Mine", "")
		victims := map[string]tenancy.Scope{
			"another organization":             f.Other,
			"another user's personal account":  f.OtherPersonal,
			"the same user's personal account": f.AdminPersonal,
		}
		for label, victim := range victims {
			t.Run(label, func(t *testing.T) {
				theirs := dbtest.NewIndex(t, db, victim, dbtest.Unique("Theirs "), "")
				_, err := models.AddVideo(t.Context(), db, victim, theirs.PublicID, dbtest.VideoInput("Their video", 42))
				dbtest.Must(t, err)
				before := snapshot(t, db)
				_, err = models.GetIndex(t.Context(), db, f.Admin, theirs.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIndex(t.Context(), db, f.Admin, theirs.PublicID, models.IndexUpdate{Name: "Stolen"})
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIndex(t.Context(), db, f.Admin, theirs.PublicID, models.IndexUpdate{Name: "Stolen", Visibility: "private"})
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.UpdateIndex(t.Context(), db, f.Admin, theirs.PublicID, models.IndexUpdate{Name: ""})
				dbtest.WantIs(t, err, tenancy.ErrNotFound) // not a validation error that confirms the ID
				_, err = models.DeleteIndex(t.Context(), db, f.Admin, theirs.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				list := listIndexes(t, db, f.Admin, models.IndexQuery{})
				if list.Total != 1 || len(list.Rows) != 1 || list.Rows[0].ID != mine.ID {
					t.Errorf("list %v total %d, want only Mine", indexNames(list.Rows), list.Total)
				}
				if list := listIndexes(t, db, f.Admin, models.IndexQuery{Search: "theirs"}); list.Total != 0 || len(list.Rows) != 0 {
					t.Errorf("search finds %v", indexNames(list.Rows))
				}
				// Their owner still sees it.
				_, err = models.GetIndex(t.Context(), db, victim, theirs.PublicID)
				dbtest.Must(t, err)
				wantUnchanged(t, db, before)
				// The other way round too.
				_, err = models.GetIndex(t.Context(), db, victim, mine.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				_, err = models.DeleteIndex(t.Context(), db, victim, mine.PublicID)
				dbtest.WantIs(t, err, tenancy.ErrNotFound)
				wantUnchanged(t, db, before)
			})
		}
		for _, id := range []string{"", "000000000000000000000000", "1", mine.PublicID + "0", strings.ToUpper(mine.PublicID)} {
			_, err := models.GetIndex(t.Context(), db, f.Admin, id)
			dbtest.WantIs(t, err, tenancy.ErrNotFound)
		}
	})
}

// TestResourceFunctionsRefuseZeroScope: every function on indexes, videos and
// integrations refuses the zero scope and writes nothing.
func TestResourceFunctionsRefuseZeroScope(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "Indexed", "")
		video, err := models.AddVideo(t.Context(), db, f.Admin, idx.PublicID, dbtest.VideoInput("Clip", 10))
		dbtest.Must(t, err)
		it, err := models.CreateIntegration(t.Context(), db, f.Admin, integrationInput("Bucket"))
		dbtest.Must(t, err)
		var zero tenancy.Scope
		ctx := t.Context()
		page := tenancy.Page{Number: 1, Size: 20}
		calls := []struct {
			label string
			run   func() (empty bool, err error)
		}{
			{"CreateIndex", func() (bool, error) {
				i, err := models.CreateIndex(ctx, db, zero, dbtest.IndexInput("Zero", ""))
				return i.ID == 0, err
			}},
			{"GetIndex", func() (bool, error) {
				r, err := models.GetIndex(ctx, db, zero, idx.PublicID)
				return r.ID == 0, err
			}},
			{"ListIndexes", func() (bool, error) {
				l, err := models.ListIndexes(ctx, db, zero, models.IndexQuery{Page: page})
				return len(l.Rows) == 0 && l.Total == 0, err
			}},
			{"UpdateIndex", func() (bool, error) {
				_, err := models.UpdateIndex(ctx, db, zero, idx.PublicID, models.IndexUpdate{Name: "Zero"})
				return true, err
			}},
			{"DeleteIndex", func() (bool, error) {
				_, err := models.DeleteIndex(ctx, db, zero, idx.PublicID)
				return true, err
			}},
			{"AddVideo", func() (bool, error) {
				v, err := models.AddVideo(ctx, db, zero, idx.PublicID, dbtest.VideoInput("Zero", 10))
				return v.ID == 0, err
			}},
			{"ListVideos", func() (bool, error) {
				rows, err := models.ListVideos(ctx, db, zero, idx, page)
				return len(rows) == 0, err
			}},
			{"DeleteVideo", func() (bool, error) {
				_, err := models.DeleteVideo(ctx, db, zero, idx.PublicID, video.PublicID)
				return true, err
			}},
			{"CreateIntegration", func() (bool, error) {
				i, err := models.CreateIntegration(ctx, db, zero, integrationInput("Zero"))
				return i.ID == 0, err
			}},
			{"GetIntegration", func() (bool, error) {
				r, err := models.GetIntegration(ctx, db, zero, it.PublicID)
				return r.ID == 0, err
			}},
			{"ListIntegrations", func() (bool, error) {
				l, err := models.ListIntegrations(ctx, db, zero, page)
				return len(l.Rows) == 0 && l.Total == 0, err
			}},
			{"UpdateIntegration", func() (bool, error) {
				_, err := models.UpdateIntegration(ctx, db, zero, it.PublicID, integrationInput("Zero"))
				return true, err
			}},
			{"DeleteIntegration", func() (bool, error) {
				_, err := models.DeleteIntegration(ctx, db, zero, it.PublicID)
				return true, err
			}},
		}
		for _, c := range calls {
			t.Run(c.label, func(t *testing.T) {
				before := snapshot(t, db)
				empty, err := c.run()
				dbtest.WantIs(t, err, tenancy.ErrUnscoped)
				if !empty {
					t.Error("returned data with the zero scope")
				}
				wantUnchanged(t, db, before)
			})
		}
	})
}

func TestListIndexesPagination(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		var created []string
		for i := range 25 {
			created = append(created, dbtest.NewIndex(t, db, f.Admin, fmt.Sprintf("Index %02d", i), "").PublicID)
		}
		dbtest.NewIndex(t, db, f.Other, "Elsewhere", "")
		dbtest.NewIndex(t, db, f.Member, "Private elsewhere", "private")

		var seen []string
		for _, p := range []struct{ number, rows int }{{1, 20}, {2, 5}, {3, 0}} {
			list, err := models.ListIndexes(t.Context(), db, f.Admin, models.IndexQuery{Page: tenancy.Page{Number: p.number, Size: 20}})
			dbtest.Must(t, err)
			if len(list.Rows) != p.rows || list.Total != 25 || list.Capped {
				t.Fatalf("page %d: %d rows, total %d, capped %v; want %d, 25, false", p.number, len(list.Rows), list.Total, list.Capped, p.rows)
			}
			for _, r := range list.Rows {
				if r.AccountID != f.Admin.AccountID() || r.CreatedByName != f.AdminUser.Name {
					t.Errorf("row %+v", r)
				}
				seen = append(seen, r.PublicID)
			}
		}
		// Newest first by default, every index once.
		want := slices.Clone(created)
		slices.Reverse(want)
		if !slices.Equal(seen, want) {
			t.Fatalf("pages list\n%v\nwant\n%v", seen, want)
		}
		if p := (tenancy.Page{Number: 1, Size: 20}).Pages(25); p != 2 {
			t.Errorf("Pages(25) = %d, want 2", p)
		}
		// A page number below 1 is the first page.
		list := listIndexes(t, db, f.Admin, models.IndexQuery{Page: tenancy.Page{Number: 0, Size: 20}})
		if len(list.Rows) != 20 || list.Rows[0].PublicID != want[0] {
			t.Errorf("page 0: %d rows", len(list.Rows))
		}
	})
}

func TestListIndexesSort(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		order := []string{"delta", "Alpha", "charlie", "Echo", "bravo"}
		for _, name := range order {
			dbtest.NewIndex(t, db, f.Admin, name, "")
		}
		newest := slices.Clone(order)
		slices.Reverse(newest)
		for _, c := range []struct {
			sort models.IndexSort
			want []string
		}{
			{models.SortName, []string{"Alpha", "bravo", "charlie", "delta", "Echo"}},
			{models.SortNewest, newest},
			{"", newest},
		} {
			list := listIndexes(t, db, f.Admin, models.IndexQuery{Sort: c.sort})
			if got := indexNames(list.Rows); !slices.Equal(got, c.want) {
				t.Errorf("sort %q: %v, want %v", c.sort, got, c.want)
			}
		}
		// Sorting by name pages correctly.
		list, err := models.ListIndexes(t.Context(), db, f.Admin, models.IndexQuery{Sort: models.SortName, Page: tenancy.Page{Number: 2, Size: 2}})
		dbtest.Must(t, err)
		if got := indexNames(list.Rows); !slices.Equal(got, []string{"charlie", "delta"}) || list.Total != 5 {
			t.Errorf("page 2 by name: %v total %d", got, list.Total)
		}
	})
}

func TestListIndexesSearch(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		for _, name := range []string{"Cats 100%", "Cats 1000 lives", "snake_case", "snakeXcase", `back\slash`, "backslash", "Dog Show", "ÉTÉ 2024"} {
			dbtest.NewIndex(t, db, f.Admin, name, "")
		}
		dbtest.NewIndex(t, db, f.Other, "Cats elsewhere", "")
		cases := []struct {
			search string
			want   []string
		}{
			{"cats", []string{"Cats 100%", "Cats 1000 lives"}},
			{"CATS", []string{"Cats 100%", "Cats 1000 lives"}},
			{"  dog  ", []string{"Dog Show"}},
			{"og sh", []string{"Dog Show"}},
			{"100%", []string{"Cats 100%"}},
			{"%", []string{"Cats 100%"}},
			{"0%", []string{"Cats 100%"}},
			{"_", []string{"snake_case"}},
			{"e_c", []string{"snake_case"}},
			{`\`, []string{`back\slash`}},
			{`k\s`, []string{`back\slash`}},
			{"été", []string{"ÉTÉ 2024"}},
			{"zzz", nil},
			{"", []string{"Cats 100%", "Cats 1000 lives", "snake_case", "snakeXcase", `back\slash`, "backslash", "Dog Show", "ÉTÉ 2024"}},
		}
		for _, c := range cases {
			t.Run(c.search, func(t *testing.T) {
				list := listIndexes(t, db, f.Admin, models.IndexQuery{Search: c.search, Sort: models.SortName})
				got := indexNames(list.Rows)
				slices.Sort(got)
				want := slices.Clone(c.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("search %q: %v, want %v", c.search, got, want)
				}
				if list.Total != int64(len(want)) || list.Capped {
					t.Errorf("search %q: total %d capped %v, want %d", c.search, list.Total, list.Capped, len(want))
				}
			})
		}
		// The total counts every match, not one page.
		list, err := models.ListIndexes(t.Context(), db, f.Admin, models.IndexQuery{Search: "a", Page: tenancy.Page{Number: 1, Size: 2}})
		dbtest.Must(t, err)
		if len(list.Rows) != 2 || list.Total != 6 {
			t.Errorf("search a, page of 2: %d rows, total %d; want 2, 6", len(list.Rows), list.Total)
		}
	})
}

// TestDeleteIndexDeletesVideos: deleting an index removes its videos and
// nothing else.
func TestDeleteIndexDeletesVideos(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		doomed := dbtest.NewIndex(t, db, f.Admin, "Doomed", "")
		kept := dbtest.NewIndex(t, db, f.Admin, "Kept", "")
		for i := range 3 {
			_, err := models.AddVideo(t.Context(), db, f.Admin, doomed.PublicID, dbtest.VideoInput(fmt.Sprintf("Doomed %d", i), 10))
			dbtest.Must(t, err)
		}
		for i := range 2 {
			_, err := models.AddVideo(t.Context(), db, f.Member, kept.PublicID, dbtest.VideoInput(fmt.Sprintf("Kept %d", i), 20))
			dbtest.Must(t, err)
		}
		theirs := dbtest.NewIndex(t, db, f.Other, "Doomed", "")
		_, err := models.AddVideo(t.Context(), db, f.Other, theirs.PublicID, dbtest.VideoInput("Theirs", 30))
		dbtest.Must(t, err)

		deleted, err := models.DeleteIndex(t.Context(), db, f.Member, doomed.PublicID)
		dbtest.Must(t, err)
		if deleted.ID != doomed.ID {
			t.Errorf("deleted %+v", deleted)
		}
		if n := dbtest.CountRows(t, db, "videos", "index_id = ?", doomed.ID); n != 0 {
			t.Errorf("%d videos of the deleted index remain", n)
		}
		if n := dbtest.CountRows(t, db, "indexes", "id = ?", doomed.ID); n != 0 {
			t.Errorf("the index remains")
		}
		if n := dbtest.CountRows(t, db, "videos", "index_id = ?", kept.ID); n != 2 {
			t.Errorf("%d videos of another index remain, want 2", n)
		}
		if n := dbtest.CountRows(t, db, "videos", "index_id = ?", theirs.ID); n != 1 {
			t.Errorf("%d videos of another account's index remain, want 1", n)
		}
		if got := dbtest.RawIndex(t, db, kept.ID); got.VideoCount != 2 || got.TotalDuration != 40 {
			t.Errorf("other index's counters %d/%d", got.VideoCount, got.TotalDuration)
		}
		_, err = models.GetIndex(t.Context(), db, f.Admin, doomed.PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		before := snapshot(t, db)
		_, err = models.DeleteIndex(t.Context(), db, f.Admin, doomed.PublicID)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		wantUnchanged(t, db, before)
		// Its name is free again.
		dbtest.NewIndex(t, db, f.Admin, "doomed", "")
	})
}

// The list without a search reads its rows column by column; the list with
// one through GORM. Both read every field of a row alike: shared and
// private indexes, a creator's name, and one whose creator is gone.
func TestListIndexesReadsRowsAsASearchDoes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		dbtest.NewIndex(t, db, f.Admin, "Shared one", "")
		dbtest.NewIndex(t, db, f.Member, "Private one", "private")
		orphan := dbtest.NewIndex(t, db, f.Member, "Orphan one", "")
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE indexes SET created_by_id = NULL, video_count = 7, total_duration = 99 WHERE id = ?", orphan.ID).Error)
		all := listIndexes(t, db, f.Member, models.IndexQuery{Page: tenancy.Page{Number: 1, Size: 20}})
		searched := listIndexes(t, db, f.Member, models.IndexQuery{Search: "one", Page: tenancy.Page{Number: 1, Size: 20}})
		if len(all.Rows) != 3 || len(searched.Rows) != 3 || all.Total != 3 {
			t.Fatalf("%d rows (total %d) without a search, %d with; want 3", len(all.Rows), all.Total, len(searched.Rows))
		}
		for i, got := range all.Rows {
			want := searched.Rows[i]
			if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
				t.Errorf("row %d: times %v, %v; want %v, %v", i, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
			}
			if deref(got.CreatedByID) != deref(want.CreatedByID) {
				t.Errorf("row %d: created by %v, want %v", i, deref(got.CreatedByID), deref(want.CreatedByID))
			}
			got.CreatedAt, got.UpdatedAt, got.CreatedByID, want.CreatedByID = want.CreatedAt, want.UpdatedAt, nil, nil
			if got != want {
				t.Errorf("row %d without a search:\n%+v\nwith one:\n%+v", i, got, want)
			}
		}
		if all.Rows[0].CreatedByID != nil || all.Rows[0].VideoCount != 7 || all.Rows[1].Visibility != "private" || all.Rows[1].CreatedByName != f.MemberUser.Name {
			t.Errorf("rows %+v", all.Rows)
		}
	})
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
