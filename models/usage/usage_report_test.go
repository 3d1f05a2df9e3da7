package usage_test

import (
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// usageFixture is an organization whose members used things over a week,
// next to usage that must not show: before and after the range, in another
// organization and in a personal account.
type usageFixture struct {
	dbtest.OrgFixture
	q usage.UsageQuery
}

func newUsageFixture(t *testing.T, db *gorm.DB) usageFixture {
	t.Helper()
	f := usageFixture{OrgFixture: dbtest.NewOrgFixture(t, db)}
	from := time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC)
	f.q = usage.UsageQuery{From: from, To: from.AddDate(0, 0, 7)}
	org, other, personal := f.Admin.AccountID(), f.Other.AccountID(), f.AdminPersonal.AccountID()
	admin, member, member2 := f.AdminUser.ID, f.MemberUser.ID, f.Member2User.ID
	api, idx, sto := usage.MetricAPIRequests, usage.MetricIndexingSeconds, usage.MetricStorageSeconds
	dbtest.InsertUsage(t, db, []dbtest.UsageRow{
		dbtest.Usage(org, "2030-04-30", admin, api, "indexes.read", 1000), // before From
		dbtest.Usage(org, "2030-05-01", admin, api, "indexes.read", 10),
		dbtest.Usage(org, "2030-05-01", admin, api, "videos.read", 5),
		dbtest.Usage(org, "2030-05-01", member, api, "indexes.read", 7),
		dbtest.Usage(org, "2030-05-01", member2, idx, "", 120),
		dbtest.Usage(org, "2030-05-01", admin, sto, "", 3600),
		dbtest.Usage(org, "2030-05-01", member, sto, "", 7200),
		dbtest.Usage(org, "2030-05-02", 0, api, "indexes.read", 4), // a former user
		dbtest.Usage(org, "2030-05-03", member, api, "indexes.write", 3),
		dbtest.Usage(org, "2030-05-03", admin, idx, "", 60),
		dbtest.Usage(org, "2030-05-07", member2, api, "indexes.read", 2), // the last day in the range
		dbtest.Usage(org, "2030-05-07", admin, sto, "", 3600),
		dbtest.Usage(org, "2030-05-08", admin, api, "indexes.read", 9999), // To is exclusive
		dbtest.Usage(other, "2030-05-01", f.Other.UserID(), api, "indexes.read", 555),
		dbtest.Usage(personal, "2030-05-01", admin, api, "indexes.read", 77),
	})
	return f
}

func usageFor(t *testing.T, db *gorm.DB, s tenancy.Scope, q usage.UsageQuery) usage.UsageReport {
	t.Helper()
	rep, err := usage.UsageFor(t.Context(), db, s, q)
	dbtest.Must(t, err)
	return rep
}

func wantSeries(t *testing.T, name string, got []int64, want ...int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s per day %v, want %v", name, got, want)
	}
}

func TestUsageForAdministratorSeesEveryMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageFixture(t, db)
		q := f.q
		q.Everyone = true
		rep := usageFor(t, db, f.Admin, q)
		if fmt.Sprint(rep.Days) != "[2030-05-01 2030-05-02 2030-05-03 2030-05-04 2030-05-05 2030-05-06 2030-05-07]" {
			t.Fatalf("days %v", rep.Days)
		}
		wantSeries(t, "API requests", rep.APIRequests, 22, 4, 3, 0, 0, 0, 2)
		wantSeries(t, "indexing", rep.IndexingSeconds, 120, 0, 60, 0, 0, 0, 0)
		wantSeries(t, "storage", rep.StorageSeconds, 10800, 0, 0, 0, 0, 0, 3600)
		if fmt.Sprint(rep.Categories) != "map[indexes.read:23 indexes.write:3 videos.read:5]" {
			t.Errorf("categories %v, want indexes.read 23, indexes.write 3, videos.read 5", rep.Categories)
		}
		want := []usage.MemberUsage{
			{UserID: f.AdminUser.ID, Name: f.AdminUser.Name, Email: f.AdminUser.Email, APIRequests: 15, IndexingSeconds: 60, StorageSecDays: 7200},
			{UserID: f.MemberUser.ID, Name: f.MemberUser.Name, Email: f.MemberUser.Email, APIRequests: 10, StorageSecDays: 7200},
			{UserID: 0, Name: "a former user", APIRequests: 4},
			{UserID: f.Member2User.ID, Name: f.Member2User.Name, Email: f.Member2User.Email, APIRequests: 2, IndexingSeconds: 120},
		}
		if fmt.Sprint(rep.Members) != fmt.Sprint(want) {
			t.Errorf("members\n%+v\nwant (by API requests, most first)\n%+v", rep.Members, want)
		}
		// The same report, with the admin's own rows only.
		own := usageFor(t, db, f.Admin, f.q)
		wantSeries(t, "the administrator's own API requests", own.APIRequests, 15, 0, 0, 0, 0, 0, 0)
		if own.Members != nil {
			t.Errorf("a report of one's own usage lists members: %v", own.Members)
		}
	})
}

func TestUsageForRegularMemberSeesOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageFixture(t, db)
		rep := usageFor(t, db, f.Member, f.q)
		wantSeries(t, "API requests", rep.APIRequests, 7, 0, 3, 0, 0, 0, 0)
		wantSeries(t, "indexing", rep.IndexingSeconds, 0, 0, 0, 0, 0, 0, 0)
		wantSeries(t, "storage", rep.StorageSeconds, 7200, 0, 0, 0, 0, 0, 0)
		if fmt.Sprint(rep.Categories) != "map[indexes.read:7 indexes.write:3]" || rep.Members != nil {
			t.Errorf("categories %v, members %v", rep.Categories, rep.Members)
		}
		q := f.q
		q.Everyone = true
		_, err := usage.UsageFor(t.Context(), db, f.Member, q)
		dbtest.WantIs(t, err, tenancy.ErrForbidden)
		_, err = usage.UsageRows(t.Context(), db, f.Member, q)
		dbtest.WantIs(t, err, tenancy.ErrForbidden)
		_, err = usage.UsageFor(t.Context(), db, tenancy.Scope{}, f.q)
		if err == nil {
			t.Error("a zero scope read usage")
		}
	})
}

func TestUsageForPersonalAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageFixture(t, db)
		q := f.q
		q.Everyone = f.AdminPersonal.Can(tenancy.CapViewAccountUsage)
		if !q.Everyone {
			t.Fatal("the owner of a personal account cannot see its usage")
		}
		rep := usageFor(t, db, f.AdminPersonal, q)
		wantSeries(t, "API requests", rep.APIRequests, 77, 0, 0, 0, 0, 0, 0)
		if len(rep.Members) != 1 || rep.Members[0].UserID != f.AdminUser.ID || rep.Members[0].APIRequests != 77 {
			t.Errorf("members %+v", rep.Members)
		}
	})
}

func TestUsageRows(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageFixture(t, db)
		q := f.q
		q.Everyone = true
		rows, err := usage.UsageRows(t.Context(), db, f.Admin, q)
		dbtest.Must(t, err)
		if len(rows) != 11 {
			t.Fatalf("%d rows, want the 11 of the organization in the range: %+v", len(rows), rows)
		}
		var total int64
		for i, r := range rows {
			total += r.Quantity
			if r.Day < "2030-05-01" || r.Day > "2030-05-07" {
				t.Errorf("row of %s is outside the range", r.Day)
			}
			if i > 0 && r.Day < rows[i-1].Day {
				t.Errorf("rows not in day order: %s after %s", r.Day, rows[i-1].Day)
			}
			if r.Quantity <= 0 || r.Metric == "" {
				t.Errorf("row %+v", r)
			}
		}
		if total != 22+4+3+2+120+60+10800+3600 {
			t.Errorf("rows add up to %d", total)
		}
		var former usage.UsageCSVRow
		for _, r := range rows {
			if r.Day == "2030-05-02" {
				former = r
			}
		}
		if former.Name != "" || former.Email != "" || former.Quantity != 4 {
			t.Errorf("a former user's row %+v", former)
		}
		mine, err := usage.UsageRows(t.Context(), db, f.Member, f.q)
		dbtest.Must(t, err)
		if len(mine) != 3 {
			t.Fatalf("a member's own rows: %+v, want 3", mine)
		}
		for _, r := range mine {
			if r.Email != f.MemberUser.Email || r.Name != f.MemberUser.Name {
				t.Errorf("a member's export has a row of %s <%s>", r.Name, r.Email)
			}
		}
	})
}

// accountTotals reads usage_daily summed over members and the account
// rollup the usage page's charts read, leaving out rows that came to zero.
func accountTotals(t *testing.T, db *gorm.DB) (fromMembers, rollup map[string]int64) {
	t.Helper()
	read := func(sql string) map[string]int64 {
		var rows []struct {
			AccountID             int64
			Day, Metric, Category string
			Quantity              int64
		}
		dbtest.Must(t, dbtest.Plain(t, db).Raw(sql).Scan(&rows).Error)
		out := map[string]int64{}
		for _, r := range rows {
			if r.Quantity != 0 {
				out[fmt.Sprintf("%d %s %s %s", r.AccountID, r.Day, r.Metric, r.Category)] = r.Quantity
			}
		}
		return out
	}
	return read(`SELECT account_id, day, metric, category, SUM(quantity) AS quantity FROM usage_daily GROUP BY account_id, day, metric, category`),
		read(`SELECT account_id, day, metric, category, quantity FROM usage_daily_account`)
}

// TestAccountRollupFollowsMemberRollups: whatever writes usage_daily — raw
// inserts, the recorder's upserts, videos added, storage snapshots replacing
// a day, updates, deletes, a deleted organization — the account rollup
// stays its sum over members.
func TestAccountRollupFollowsMemberRollups(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageFixture(t, db)
		check := func(step string) {
			t.Helper()
			members, rollup := accountTotals(t, db)
			if len(members) == 0 || fmt.Sprint(members) != fmt.Sprint(rollup) {
				t.Fatalf("after %s:\nusage_daily summed: %v\naccount rollup:     %v", step, members, rollup)
			}
		}
		check("inserting rollups")

		rec := usage.NewUsageRecorder(db, quietLog, time.Hour)
		adminKey := keyScope(t, db, dbtest.NewAPIKey(t, db, f.Admin, "admin"))
		memberKey := keyScope(t, db, dbtest.NewAPIKey(t, db, f.Member, "member"))
		at := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
		for i := range 5 {
			rec.RecordRequest(adminKey, "indexes.read", at.Add(time.Duration(i)*time.Second))
			rec.RecordRequest(memberKey, "indexes.read", at)
		}
		dbtest.Must(t, rec.Flush(t.Context()))
		check("the recorder adding to existing rows")

		idx := dbtest.NewIndex(t, db, f.Admin, "rollup", "account")
		dbtest.AddVideo(t, db, f.Admin, idx.PublicID, "v", 90)
		dbtest.AddVideo(t, db, f.Member, idx.PublicID, "v", 30)
		check("adding videos")
		snapshot := time.Date(2030, 5, 1, 18, 0, 0, 0, time.UTC)
		dbtest.Must(t, billing.SnapshotStorage(t.Context(), db, snapshot))
		dbtest.Must(t, billing.SnapshotStorage(t.Context(), db, snapshot.Add(time.Hour)))
		check("snapshotting storage twice on a day that had storage")

		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE usage_daily SET quantity = quantity * 3 WHERE metric = ?", usage.MetricAPIRequests).Error)
		check("updating rows")
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM usage_daily WHERE user_id = ?", f.MemberUser.ID).Error)
		check("deleting a member's rows")

		dbtest.Must(t, models.DeleteOrganization(t.Context(), db, f.Admin, f.Admin.Account().Name, dbtest.ActorOf(f.AdminUser)))
		members, rollup := accountTotals(t, db)
		if fmt.Sprint(members) != fmt.Sprint(rollup) {
			t.Fatalf("after deleting the organization:\nusage_daily summed: %v\naccount rollup:     %v", members, rollup)
		}
		var left int64
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM usage_daily_account WHERE account_id = ?", f.Admin.AccountID()).Scan(&left).Error)
		if left != 0 {
			t.Errorf("%d account rollup rows outlive their organization", left)
		}
	})
}
