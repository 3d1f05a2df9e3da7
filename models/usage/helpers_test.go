package usage_test

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// orgFixture is an organization with an administrator and two regular
// members, next to another user's organization and personal account.
type orgFixture struct {
	adminUser, memberUser, member2User models.User
	admin, member, member2             tenancy.Scope // the three in the organization
	adminPersonal                      tenancy.Scope // the administrator's own personal account
	other                              tenancy.Scope // another user's organization
	otherPersonal                      tenancy.Scope // another user's personal account
}

func newOrgFixture(t *testing.T, db *gorm.DB) orgFixture {
	t.Helper()
	var f orgFixture
	f.adminUser, f.adminPersonal = dbtest.User(t, db)
	f.admin = dbtest.Org(t, db, f.adminUser)
	f.memberUser, _ = dbtest.User(t, db)
	f.member = dbtest.AddMember(t, db, f.admin, f.memberUser, tenancy.RoleMember)
	f.member2User, _ = dbtest.User(t, db)
	f.member2 = dbtest.AddMember(t, db, f.admin, f.member2User, tenancy.RoleMember)
	otherUser, otherPersonal := dbtest.User(t, db)
	f.other = dbtest.Org(t, db, otherUser)
	f.otherPersonal = otherPersonal
	return f
}

// newAPIKey creates a key with the default lifetime or fails the test.
func newAPIKey(t *testing.T, db *gorm.DB, s tenancy.Scope, name string) models.NewAPIKey {
	t.Helper()
	k, err := models.CreateAPIKey(t.Context(), db, s, name, models.DefaultAPIKeyTTL)
	if err != nil {
		t.Fatalf("create API key %q: %v", name, err)
	}
	return k
}
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rawAPIKey reads a key's row with raw SQL, whatever the scope.
func rawAPIKey(t *testing.T, db *gorm.DB, id int64) models.APIKey {
	t.Helper()
	var k models.APIKey
	must(t, dbtest.Plain(t, db).Raw("SELECT * FROM api_keys WHERE id = ?", id).Scan(&k).Error)
	if k.ID != id {
		t.Fatalf("API key %d is gone", id)
	}
	return k
}

// insertRollups writes rollup rows with multi-row INSERTs.
func insertRollups(t testing.TB, db *gorm.DB, rows []billRollup) {
	t.Helper()
	const batch = 500
	for from := 0; from < len(rows); from += batch {
		part := rows[from:min(from+batch, len(rows))]
		var sb strings.Builder
		args := make([]any, 0, 6*len(part))
		sb.WriteString("INSERT INTO usage_daily (account_id, day, user_id, metric, category, quantity) VALUES ")
		for i, r := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, r.Account, r.Day, r.User, r.Metric, r.Category, r.Quantity)
		}
		if err := dbtest.Plain(t, db).Exec(sb.String(), args...).Error; err != nil {
			t.Fatalf("insert rollups: %v", err)
		}
	}
}

// billRollup is one usage_daily row. The usage tables are account-owned:
// the scope guard refuses unscoped GORM statements on them, so tests write
// and read them with raw SQL (db.Exec and db.Raw are not guarded).
type billRollup struct {
	Account  int64
	Day      string
	User     int64
	Metric   string
	Category string
	Quantity int64
}

// wantIs fails unless errors.Is(err, target).
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// newIndex creates an index or fails the test.
func newIndex(t *testing.T, db *gorm.DB, s tenancy.Scope, name, visibility string) models.Index {
	t.Helper()
	idx, err := models.CreateIndex(t.Context(), db, s, indexInput(name, visibility))
	if err != nil {
		t.Fatalf("create index %q: %v", name, err)
	}
	return idx
}

// indexInput is a valid index form: Marengo with visual.
func indexInput(name, visibility string) models.IndexInput {
	return models.IndexInput{Name: name, Models: []string{models.ModelMarengo},
		MarengoOptions: []string{models.OptionVisual}, Visibility: visibility}
}
func addVideoOf(t *testing.T, db *gorm.DB, s tenancy.Scope, index string, seconds int) models.Video {
	t.Helper()
	v, err := models.AddVideo(t.Context(), db, s, index, models.VideoInput{Title: "v", URL: "https://example.com/v.mp4", DurationSeconds: fmt.Sprint(seconds)})
	must(t, err)
	return v
}
func actorOfUser(u models.User) tenancy.Actor { return tenancy.Actor{UserID: u.ID, Name: u.Name} }

// countRows counts a table's rows with raw SQL, which the scope guard does not
// inspect, so that audit_events can be counted too.
func countRows(t *testing.T, db *gorm.DB, table, where string, args ...any) int64 {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := dbtest.Plain(t, db).Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// failOn makes every statement of kind ("INSERT", "DELETE") on table fail,
// as a crash in the middle of a transaction would.
func failOn(t *testing.T, db *gorm.DB, kind, table string) {
	t.Helper()
	name := "fail_" + strings.ToLower(kind) + "_" + table
	if tenancy.DialectOfDB(db) == tenancy.Postgres {
		must(t, dbtest.Plain(t, db).Exec(`CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'injected failure'; END $$`).Error)
		must(t, dbtest.Plain(t, db).Exec("CREATE TRIGGER "+name+" BEFORE "+kind+" ON "+table+" FOR EACH ROW EXECUTE FUNCTION injected_failure()").Error)
	} else {
		must(t, dbtest.Plain(t, db).Exec("CREATE TRIGGER "+name+" BEFORE "+kind+" ON "+table+" BEGIN SELECT RAISE(ABORT, 'injected failure'); END").Error)
	}
	t.Cleanup(func() { dbtest.Plain(t, db).Exec("DROP TRIGGER " + name + onTable(db, table)) })
}
func onTable(db *gorm.DB, table string) string {
	if tenancy.DialectOfDB(db) == tenancy.Postgres {
		return " ON " + table
	}
	return ""
}

// utc is now in UTC at microsecond precision, as models stamps rows.
func utc() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// addVideo adds a video or fails the test.
func addVideo(t *testing.T, db *gorm.DB, s tenancy.Scope, idx models.Index, title string, seconds int) models.Video {
	t.Helper()
	v, err := models.AddVideo(t.Context(), db, s, idx.PublicID, videoInput(title, seconds))
	if err != nil {
		t.Fatalf("add video %q: %v", title, err)
	}
	return v
}

// videoInput is a valid add-video form.
func videoInput(title string, seconds int) models.VideoInput {
	return models.VideoInput{Title: title, URL: "https://videos.example.com/" + strings.ReplaceAll(title, " ", "-") + ".mp4",
		DurationSeconds: strconv.Itoa(seconds)}
}

// wantFields fails unless err is a FieldErrors holding exactly keys, each
// with a message.
func wantFields(t *testing.T, err error, keys ...string) {
	t.Helper()
	fe, ok := tenancy.AsFieldErrors(err)
	if !ok {
		t.Fatalf("error %v (%T), want FieldErrors on %v", err, err, keys)
	}
	got := make([]string, 0, len(fe))
	for k, msg := range fe {
		got = append(got, k)
		if strings.TrimSpace(msg) == "" {
			t.Errorf("field %q has an empty message", k)
		}
	}
	sort.Strings(got)
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("FieldErrors on %v (%v), want on %v", got, fe, want)
	}
}

// wantCounters fails unless the index's stored counters match want, and
// match the videos actually stored for it.
func wantCounters(t *testing.T, db *gorm.DB, idx models.Index, count, total int64) {
	t.Helper()
	got := rawIndex(t, db, idx.ID)
	var actual struct{ N, Sum int64 }
	must(t, dbtest.Plain(t, db).Raw("SELECT COUNT(*) AS n, COALESCE(SUM(duration_seconds), 0) AS sum FROM videos WHERE index_id = ?", idx.ID).Scan(&actual).Error)
	if got.VideoCount != count || got.TotalDuration != total {
		t.Errorf("index counters: %d videos, %d s; want %d, %d", got.VideoCount, got.TotalDuration, count, total)
	}
	if actual.N != count || actual.Sum != total {
		t.Errorf("stored videos: %d, %d s; want %d, %d", actual.N, actual.Sum, count, total)
	}
}

// rawIndex reads an index's row with raw SQL, whatever the scope.
func rawIndex(t *testing.T, db *gorm.DB, id int64) models.Index {
	t.Helper()
	var idx models.Index
	must(t, dbtest.Plain(t, db).Raw("SELECT * FROM indexes WHERE id = ?", id).Scan(&idx).Error)
	if idx.ID != id {
		t.Fatalf("index %d is gone", id)
	}
	return idx
}

// actorOf is the audit actor of a user acting from a fixed address.
func actorOf(u models.User) tenancy.Actor {
	return tenancy.Actor{UserID: u.ID, Name: u.Name, IP: "192.0.2.7"}
}
