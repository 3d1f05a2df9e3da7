package demo

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// BenchSpec is the data set the HTTP benchmark measures: one organization
// with Members members (the measured user among them, a regular member) and
// Indexes indexes, and OtherOrgs more organizations the measured user is a
// regular member of.
type BenchSpec struct {
	Members   int
	Indexes   int
	OtherOrgs int
}

// Bench is what SeedBench created: the measured user's sign-in, the
// organization they land in, and an API key of theirs for it.
type Bench struct {
	Email, Password string
	OrgPublicID     string
	APIKey          string
}

// BenchEmail is the measured user's email.
const BenchEmail = "bench@example.com"

// SeedBench fills an empty database with the benchmark's data set. It
// refuses a database that has users: it is for a database of its own.
func SeedBench(ctx context.Context, db *gorm.DB, spec BenchSpec) (Bench, error) {
	var users int64
	if err := db.WithContext(ctx).Model(&models.User{}).Count(&users).Error; err != nil {
		return Bench{}, err
	}
	if users > 0 {
		return Bench{}, fmt.Errorf("seed the benchmark: the database has %d users; use an empty one", users)
	}
	password := tenancy.NewToken()[:20]
	hash := models.HashPassword(password) // one hash for everyone: argon2id is slow on purpose
	verified := tenancy.Now()
	out := Bench{Email: BenchEmail, Password: password}
	var measuredScope tenancy.Scope
	err := tenancy.System("seed the HTTP benchmark's data set into an empty database").Tx(ctx, db, func(tx *gorm.DB) error {
		me, _, err := models.CreateUser(ctx, tx, "Bea Bench", BenchEmail, hash, &verified)
		if err != nil {
			return err
		}
		owner, _, err := models.CreateUser(ctx, tx, "Olive Owner", "owner@bench.example.com", hash, &verified)
		if err != nil {
			return err
		}
		org, err := models.CreateOrganization(ctx, tx, owner.ID, "Bench Video Lab")
		if err != nil {
			return err
		}
		out.OrgPublicID = org.PublicID
		creators := []models.User{owner, me}
		if err := tx.Create(&tenancy.Membership{AccountID: org.ID, UserID: me.ID, Role: tenancy.RoleMember}).Error; err != nil {
			return err
		}
		for i := 3; i <= spec.Members; i++ {
			u, _, err := models.CreateUser(ctx, tx, fmt.Sprintf("Member %03d", i), fmt.Sprintf("member%03d@bench.example.com", i), hash, &verified)
			if err != nil {
				return err
			}
			role := tenancy.RoleMember
			if i%10 == 0 {
				role = tenancy.RoleAdmin
			}
			if err := tx.Create(&tenancy.Membership{AccountID: org.ID, UserID: u.ID, Role: role}).Error; err != nil {
				return err
			}
			if len(creators) < 10 {
				creators = append(creators, u)
			}
		}
		for i := 1; i <= spec.OtherOrgs; i++ {
			o, _, err := models.CreateUser(ctx, tx, fmt.Sprintf("Other Owner %d", i), fmt.Sprintf("other%d@bench.example.com", i), hash, &verified)
			if err != nil {
				return err
			}
			other, err := models.CreateOrganization(ctx, tx, o.ID, fmt.Sprintf("Other Org %d", i))
			if err != nil {
				return err
			}
			if err := tx.Create(&tenancy.Membership{AccountID: other.ID, UserID: me.ID, Role: tenancy.RoleMember}).Error; err != nil {
				return err
			}
		}
		s := tenancy.System("seed the HTTP benchmark's data set into an empty database").In(org)
		if err := seedBenchIndexes(tx, s, creators, spec.Indexes); err != nil {
			return err
		}
		measuredScope, err = tenancy.ScopeForSession(ctx, tx, me.ID, org.ID)
		return err
	})
	if err != nil {
		return Bench{}, err
	}
	key, err := models.CreateAPIKey(ctx, db, measuredScope, "HTTP benchmark", models.DefaultAPIKeyTTL)
	if err != nil {
		return Bench{}, err
	}
	out.APIKey = key.Secret
	return out, nil
}

// seedBenchIndexes inserts n shared indexes into the scope's account, a
// minute apart, in batches, created by creators in turn.
func seedBenchIndexes(tx *gorm.DB, s tenancy.Scope, creators []models.User, n int) error {
	const batch = 500
	start := tenancy.Now()
	for from := 0; from < n; from += batch {
		rows := make([]models.Index, 0, min(batch, n-from))
		for i := from; i < min(from+batch, n); i++ {
			name := fmt.Sprintf("Index %06d", i+1)
			at := start.Add(-time.Duration(n-1-i) * time.Minute)
			creator := creators[i%len(creators)].ID
			videos := int64(i % 7)
			rows = append(rows, models.Index{PublicID: tenancy.NewObjectID(), Name: name, NameKey: strings.ToLower(name),
				MarengoOptions: "visual,audio", Visibility: models.VisibilityAccount, CreatedByID: &creator,
				VideoCount: videos, TotalDuration: videos * 95, CreatedAt: at, UpdatedAt: at})
		}
		if err := s.Apply(tx).Create(&rows).Error; err != nil {
			return fmt.Errorf("seed indexes: %w", err)
		}
	}
	return nil
}

// Analyze refreshes the database's statistics, as a benchmark needs after
// seeding (autovacuum may be off, and SQLite has none), and settles what
// the seeding left for later: on PostgreSQL, VACUUM sets the new rows' hint
// bits and visibility map (else the first reads write them, and autovacuum
// comes for the new rows mid-measurement); on SQLite, a checkpoint moves the
// write-ahead log into the database.
func Analyze(ctx context.Context, db *gorm.DB) error {
	settle := "PRAGMA wal_checkpoint(TRUNCATE)"
	if tenancy.DialectOfDB(db) == tenancy.Postgres {
		settle = "VACUUM"
	}
	return tenancy.System("settle the benchmark's seeded data and refresh the planner's statistics").Do(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Exec(settle).Error; err != nil {
			return err
		}
		return tx.Exec("ANALYZE").Error
	})
}

// NewBenchDatabase makes an empty PostgreSQL database named name on the
// server adminURL points at (dropping one left by an earlier run), and
// returns its URL and a function that drops it.
func NewBenchDatabase(ctx context.Context, adminURL, name string) (dsn string, drop func() error, err error) {
	admin, err := gorm.Open(postgres.Open(adminURL), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return "", nil, err
	}
	sqlDB, err := admin.DB()
	if err != nil {
		return "", nil, err
	}
	quoted := pgx.Identifier{name}.Sanitize()
	dropIt := func() error {
		return admin.WithContext(context.WithoutCancel(ctx)).Exec("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)").Error
	}
	if err := dropIt(); err != nil {
		sqlDB.Close()
		return "", nil, err
	}
	if err := admin.WithContext(ctx).Exec("CREATE DATABASE " + quoted).Error; err != nil {
		sqlDB.Close()
		return "", nil, err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		sqlDB.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() error {
		defer sqlDB.Close()
		return dropIt()
	}, nil
}
