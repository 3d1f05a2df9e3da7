package demo

import (
	"context"
	"math/rand"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// demoHistoryDays is how much usage history the demo organization has.
const demoHistoryDays = 90

// seedDemoUsage gives the demo a past, through the system door (tx): the organization was created on the
// Free plan 100 days ago, moved to Developer 45 days ago with a billing
// contact, and its members used the API, indexed and stored video every
// day since, so that charts, the per-member breakdown and last month's
// invoice are there on first run.
func seedDemoUsage(ctx context.Context, tx *gorm.DB, owner, member models.User, org, personal tenancy.Account, at time.Time) error {
	created := at.AddDate(0, 0, -100)
	upgraded := at.AddDate(0, 0, -45)
	if err := tx.Model(&tenancy.Account{}).Where("id IN ?", []int64{org.ID, personal.ID}).Update("created_at", created).Error; err != nil {
		return err
	}
	if err := tx.Create(&[]billing.PlanChange{
		{AccountID: org.ID, Plan: tenancy.PlanFree, EffectiveAt: created},
		{AccountID: org.ID, Plan: tenancy.PlanDeveloper, EffectiveAt: upgraded, UserID: &owner.ID},
	}).Error; err != nil {
		return err
	}
	if err := tx.Model(&tenancy.Account{}).Where("id = ?", org.ID).Update("plan", tenancy.PlanDeveloper).Error; err != nil {
		return err
	}
	if err := tx.Create(&billing.BillingContact{Email: "billing@acme.example", Company: "Acme Video Labs Inc.",
		Address: "1 Market Street\nSan Francisco, CA 94105\nUnited States", PaymentMethod: "invoice", UpdatedAt: upgraded, AccountID: org.ID}).Error; err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(42)) // the same demo every time
	var rows []usage.UsageDaily
	add := func(acct, user int64, day time.Time, metric, cat string, q int64) {
		if q > 0 {
			rows = append(rows, usage.UsageDaily{AccountID: acct, Day: usage.DayOf(day), UserID: user, Metric: metric, Category: cat, Quantity: q})
		}
	}
	// Held video grows towards what the demo's indexes hold today.
	storage := map[int64]int64{owner.ID: 900, member.ID: 300}
	for i := demoHistoryDays; i >= 1; i-- {
		day := at.AddDate(0, 0, -i)
		weekday := day.Weekday() != time.Saturday && day.Weekday() != time.Sunday
		busy := int64(1)
		if weekday {
			busy = 4
		}
		for _, u := range []struct {
			id    int64
			scale int64
		}{{owner.ID, 3}, {member.ID, 2}} {
			add(org.ID, u.id, day, usage.MetricAPIRequests, "indexes.read", busy*u.scale*int64(20+rng.Intn(40)))
			add(org.ID, u.id, day, usage.MetricAPIRequests, "indexes.write", busy*int64(rng.Intn(6)))
			add(org.ID, u.id, day, usage.MetricAPIRequests, "videos.read", busy*u.scale*int64(5+rng.Intn(15)))
			if weekday && rng.Intn(3) > 0 {
				secs := int64(120 + rng.Intn(1800))
				add(org.ID, u.id, day, usage.MetricIndexingSeconds, "", secs)
				storage[u.id] += secs / 12
			}
			add(org.ID, u.id, day, usage.MetricStorageSeconds, "", storage[u.id])
		}
		if rng.Intn(4) == 0 {
			add(personal.ID, owner.ID, day, usage.MetricAPIRequests, "indexes.read", int64(3+rng.Intn(20)))
		}
	}
	return tx.Session(&gorm.Session{CreateBatchSize: 500}).Create(&rows).Error
}
