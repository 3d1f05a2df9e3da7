package dbtest

import (
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// OrgFixture is an organization with an administrator and two regular
// members, next to another user's organization and personal account.
type OrgFixture struct {
	AdminUser, MemberUser, Member2User models.User
	Admin, Member, Member2             tenancy.Scope // the three in the organization
	AdminPersonal                      tenancy.Scope // the administrator's own personal account
	Other                              tenancy.Scope // another user's organization
	OtherPersonal                      tenancy.Scope // another user's personal account
}

// NewOrgFixture creates an OrgFixture.
func NewOrgFixture(t testing.TB, db *gorm.DB) OrgFixture {
	t.Helper()
	var f OrgFixture
	f.AdminUser, f.AdminPersonal = User(t, db)
	f.Admin = Org(t, db, f.AdminUser)
	f.MemberUser, _ = User(t, db)
	f.Member = AddMember(t, db, f.Admin, f.MemberUser, tenancy.RoleMember)
	f.Member2User, _ = User(t, db)
	f.Member2 = AddMember(t, db, f.Admin, f.Member2User, tenancy.RoleMember)
	otherUser, otherPersonal := User(t, db)
	f.Other = Org(t, db, otherUser)
	f.OtherPersonal = otherPersonal
	return f
}

// ActorOf is the audit actor of a user acting from a fixed address.
func ActorOf(u models.User) tenancy.Actor {
	return tenancy.Actor{UserID: u.ID, Name: u.Name, IP: "192.0.2.7"}
}

// IndexInput is a valid index form: Marengo with visual.
func IndexInput(name, visibility string) models.IndexInput {
	return models.IndexInput{Name: name, Models: []string{models.ModelMarengo},
		MarengoOptions: []string{models.OptionVisual}, Visibility: visibility}
}

// NewIndex creates an index or fails the test.
func NewIndex(t testing.TB, db *gorm.DB, s tenancy.Scope, name, visibility string) models.Index {
	t.Helper()
	idx, err := models.CreateIndex(t.Context(), db, s, IndexInput(name, visibility))
	if err != nil {
		t.Fatalf("create index %q: %v", name, err)
	}
	return idx
}

// RawIndex reads an index's row with raw SQL, whatever the scope.
func RawIndex(t testing.TB, db *gorm.DB, id int64) models.Index {
	t.Helper()
	var idx models.Index
	Must(t, Plain(t, db).Raw("SELECT * FROM indexes WHERE id = ?", id).Scan(&idx).Error)
	if idx.ID != id {
		t.Fatalf("index %d is gone", id)
	}
	return idx
}

// VideoInput is a valid add-video form.
func VideoInput(title string, seconds int) models.VideoInput {
	return models.VideoInput{Title: title, URL: "https://videos.example.com/" + strings.ReplaceAll(title, " ", "-") + ".mp4",
		DurationSeconds: strconv.Itoa(seconds)}
}

// AddVideo adds a video to the index with the public id index, or fails
// the test.
func AddVideo(t testing.TB, db *gorm.DB, s tenancy.Scope, index, title string, seconds int) models.Video {
	t.Helper()
	v, err := models.AddVideo(t.Context(), db, s, index, VideoInput(title, seconds))
	if err != nil {
		t.Fatalf("add video %q: %v", title, err)
	}
	return v
}

// WantCounters fails unless the index's stored counters match want, and
// match the videos actually stored for it.
func WantCounters(t testing.TB, db *gorm.DB, idx models.Index, count, total int64) {
	t.Helper()
	got := RawIndex(t, db, idx.ID)
	var actual struct{ N, Sum int64 }
	Must(t, Plain(t, db).Raw("SELECT COUNT(*) AS n, COALESCE(SUM(duration_seconds), 0) AS sum FROM videos WHERE index_id = ?", idx.ID).Scan(&actual).Error)
	if got.VideoCount != count || got.TotalDuration != total {
		t.Errorf("index counters: %d videos, %d s; want %d, %d", got.VideoCount, got.TotalDuration, count, total)
	}
	if actual.N != count || actual.Sum != total {
		t.Errorf("stored videos: %d, %d s; want %d, %d", actual.N, actual.Sum, count, total)
	}
}

// NewAPIKey creates a key with the default lifetime or fails the test.
func NewAPIKey(t testing.TB, db *gorm.DB, s tenancy.Scope, name string) models.NewAPIKey {
	t.Helper()
	k, err := models.CreateAPIKey(t.Context(), db, s, name, models.DefaultAPIKeyTTL)
	if err != nil {
		t.Fatalf("create API key %q: %v", name, err)
	}
	return k
}

// RawAPIKey reads a key's row with raw SQL, whatever the scope.
func RawAPIKey(t testing.TB, db *gorm.DB, id int64) models.APIKey {
	t.Helper()
	var k models.APIKey
	Must(t, Plain(t, db).Raw("SELECT * FROM api_keys WHERE id = ?", id).Scan(&k).Error)
	if k.ID != id {
		t.Fatalf("API key %d is gone", id)
	}
	return k
}
