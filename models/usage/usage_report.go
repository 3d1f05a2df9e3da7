package usage

import (
	"context"
	"sort"
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// UsageQuery asks for an account's usage over [From, To) (whole UTC days).
// Everyone may read their own usage; the whole account's needs
// CapViewAccountUsage.
type UsageQuery struct {
	From, To time.Time
	// Everyone: the whole account, per member. Otherwise the scope's user only.
	Everyone bool
}

// MemberUsage is one member's totals over the range.
type MemberUsage struct {
	UserID          int64
	Name            string
	Email           string
	APIRequests     int64
	IndexingSeconds int64
	StorageSecDays  int64
}

// UsageReport is what the usage page shows: a value per day for each chart,
// totals, API requests by category and, for the whole account, per member.
type UsageReport struct {
	Days            []string // YYYY-MM-DD, oldest first
	APIRequests     []int64  // per day
	IndexingSeconds []int64  // per day
	StorageSeconds  []int64  // per day: video held at the day's last snapshot
	Categories      map[string]int64
	Members         []MemberUsage
}

// Total adds up a series.
func Total(series []int64) int64 {
	var t int64
	for _, v := range series {
		t += v
	}
	return t
}

// UsageFor reads the rollups of the range in two queries (one for a single
// member), whatever the number of members or events: the charts come from
// the account's daily totals (usage_daily_account, a few rows a day), the
// member breakdown from summing each member's rows.
func UsageFor(ctx context.Context, db *gorm.DB, s tenancy.Scope, q UsageQuery) (UsageReport, error) {
	capability := tenancy.CapViewAccount
	if q.Everyone {
		capability = tenancy.CapViewAccountUsage
	}
	if err := s.Require(capability); err != nil {
		return UsageReport{}, err
	}
	rep := UsageReport{Categories: map[string]int64{}}
	index := map[string]int{}
	for d := q.From; d.Before(q.To); d = d.AddDate(0, 0, 1) {
		index[DayOf(d)] = len(rep.Days)
		rep.Days = append(rep.Days, DayOf(d))
	}
	rep.APIRequests = make([]int64, len(rep.Days))
	rep.IndexingSeconds = make([]int64, len(rep.Days))
	rep.StorageSeconds = make([]int64, len(rep.Days))
	days := func(tx *gorm.DB, table string) *gorm.DB {
		return tx.Where(table+".day >= ? AND "+table+".day < ?", DayOf(q.From), DayOf(q.To))
	}
	var daily []dailyRow
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		if q.Everyone {
			return days(s.Apply(tx.Model(&accountUsageDaily{})), "usage_daily_account").
				Select("day, metric, category, quantity").Scan(&daily).Error
		}
		return days(s.Apply(tx.Model(&UsageDaily{})), "usage_daily").Where("usage_daily.user_id = ?", s.UserID()).
			Select("day, metric, category, quantity").Scan(&daily).Error
	})
	if err != nil {
		return rep, err
	}
	for _, r := range daily {
		i, ok := index[r.Day]
		if !ok {
			continue
		}
		switch r.Metric {
		case MetricAPIRequests:
			rep.APIRequests[i] += r.Quantity
			rep.Categories[r.Category] += r.Quantity
		case MetricIndexingSeconds:
			rep.IndexingSeconds[i] += r.Quantity
		case MetricStorageSeconds:
			rep.StorageSeconds[i] += r.Quantity
		}
	}
	if !q.Everyone {
		return rep, nil
	}
	var per []struct {
		UserID   int64
		Name     string
		Email    string
		Metric   string
		Quantity int64
	}
	// Sum first, then name the few hundred sums: joining users before
	// grouping would carry their names through every row.
	err = s.Read(ctx, db, func(tx *gorm.DB) error {
		if err := tenancy.PlanForTheseValues(tx); err != nil {
			return err
		}
		sums := days(s.Apply(tx.Model(&UsageDaily{})), "usage_daily").
			Select("usage_daily.user_id, usage_daily.metric, SUM(usage_daily.quantity) AS quantity").
			Group("usage_daily.user_id, usage_daily.metric")
		return tx.Table("(?) AS sums", sums).
			Select("sums.user_id, COALESCE(users.name, '') AS name, COALESCE(users.email, '') AS email, sums.metric, sums.quantity").
			Joins("LEFT JOIN users ON users.id = sums.user_id").Scan(&per).Error
	})
	if err != nil {
		return rep, err
	}
	byUser := map[int64]*MemberUsage{}
	for _, r := range per {
		m := byUser[r.UserID]
		if m == nil {
			m = &MemberUsage{UserID: r.UserID, Name: r.Name, Email: r.Email}
			switch {
			case r.UserID == 0 && rep.Categories[CategorySCIM] > 0:
				// Events of no member: SCIM's, and those of users deleted since.
				m.Name = "SCIM provisioning and former users"
			case m.Name == "":
				m.Name = "a former user"
			}
			byUser[r.UserID] = m
		}
		switch r.Metric {
		case MetricAPIRequests:
			m.APIRequests += r.Quantity
		case MetricIndexingSeconds:
			m.IndexingSeconds += r.Quantity
		case MetricStorageSeconds:
			m.StorageSecDays += r.Quantity
		}
	}
	for _, m := range byUser {
		rep.Members = append(rep.Members, *m)
	}
	sort.Slice(rep.Members, func(i, j int) bool {
		a, b := rep.Members[i], rep.Members[j]
		if a.APIRequests != b.APIRequests {
			return a.APIRequests > b.APIRequests
		}
		return a.Name < b.Name
	})
	return rep, nil
}

// UsageCSVRow is one line of the usage export.
type UsageCSVRow struct {
	Day      string
	Name     string
	Email    string
	Metric   string
	Category string
	Quantity int64
}

// UsageRows returns the rollups of the range line by line, for the CSV
// export: the scope's own, or everyone's with CapViewAccountUsage.
func UsageRows(ctx context.Context, db *gorm.DB, s tenancy.Scope, q UsageQuery) ([]UsageCSVRow, error) {
	capability := tenancy.CapViewAccount
	if q.Everyone {
		capability = tenancy.CapViewAccountUsage
	}
	if err := s.Require(capability); err != nil {
		return nil, err
	}
	var rows []UsageCSVRow
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		tx = s.Apply(tx.Model(&UsageDaily{})).Where("usage_daily.day >= ? AND usage_daily.day < ?", DayOf(q.From), DayOf(q.To))
		if !q.Everyone {
			tx = tx.Where("usage_daily.user_id = ?", s.UserID())
		}
		return tx.Select("usage_daily.day, COALESCE(users.name, '') AS name, COALESCE(users.email, '') AS email, usage_daily.metric, usage_daily.category, usage_daily.quantity").
			Joins("LEFT JOIN users ON users.id = usage_daily.user_id").
			Order("usage_daily.day, users.name, usage_daily.metric, usage_daily.category").Scan(&rows).Error
	})
	return rows, err
}

// dailyRow is one day's usage of a metric and category.
type dailyRow struct {
	Day      string
	Metric   string
	Category string
	Quantity int64
}
