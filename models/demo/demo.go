// Package demo seeds a demo into an empty database: a user, an
// organization with a member, resources and a history of usage.
package demo

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// Demo is what SeedDemo created, for the start-up log.
type Demo struct {
	Email    string
	Password string
}

// The demo's people and organization.
const (
	DemoEmail       = "demo@example.com"
	demoName        = "Dana Demo"
	demoMemberEmail = "sam@example.com"
	demoMemberName  = "Sam Rivera"
	demoOrgName     = "Acme Video Labs"
)

// SeedDemo fills an empty database with a demo: a user with a personal
// account, and an organization they administer with a second member. It does
// nothing (ok false) when any user exists. The password is random and shown
// only once, in the log of the first start.
func SeedDemo(ctx context.Context, db *gorm.DB) (demo Demo, ok bool, err error) {
	var users int64
	if err := db.WithContext(ctx).Model(&models.User{}).Count(&users).Error; err != nil || users > 0 {
		return Demo{}, false, err
	}
	password := tenancy.NewToken()[:20]
	verified := tenancy.Now()
	err = tenancy.System("seed the demo into an empty database").Tx(ctx, db, func(tx *gorm.DB) error {
		owner, personal, err := models.CreateUser(ctx, tx, demoName, DemoEmail, models.HashPassword(password), &verified)
		if err != nil {
			return err
		}
		member, _, err := models.CreateUser(ctx, tx, demoMemberName, demoMemberEmail, models.HashPassword(tenancy.NewToken()), &verified)
		if err != nil {
			return err
		}
		org, err := models.CreateOrganization(ctx, tx, owner.ID, demoOrgName)
		if err != nil {
			return err
		}
		if err := tx.Create(&tenancy.Membership{AccountID: org.ID, UserID: member.ID, Role: tenancy.RoleMember}).Error; err != nil {
			return err
		}
		if err := seedDemoResources(ctx, tx, owner, member, org); err != nil {
			return err
		}
		return seedDemoUsage(ctx, tx, owner, member, org, personal, tenancy.Now())
	})
	if err != nil {
		return Demo{}, false, err
	}
	return Demo{Email: DemoEmail, Password: password}, true, nil
}

// demoIndex is an index of the demo with its videos' titles and durations.
type demoIndex struct {
	name       string
	models     []string
	visibility models.Visibility
	videos     map[string]int64
}

// seedDemoResources gives every resource page something to show: indexes
// with videos in both accounts (one of them private), and an S3 integration.
func seedDemoResources(ctx context.Context, tx *gorm.DB, owner, member models.User, org tenancy.Account) error {
	personal, err := tenancy.PersonalScope(ctx, tx, owner.ID)
	if err != nil {
		return err
	}
	ownerOrg, err := tenancy.ScopeForSession(ctx, tx, owner.ID, org.ID)
	if err != nil {
		return err
	}
	memberOrg, err := tenancy.ScopeForSession(ctx, tx, member.ID, org.ID)
	if err != nil {
		return err
	}
	plan := []struct {
		scope tenancy.Scope
		index demoIndex
	}{
		{personal, demoIndex{"Travel clips", []string{models.ModelMarengo}, models.VisibilityAccount, map[string]int64{"Lisbon tram ride": 312, "Alps at dawn": 95}}},
		{ownerOrg, demoIndex{"Product demos", []string{models.ModelMarengo, models.ModelPegasus}, models.VisibilityAccount, map[string]int64{
			"Onboarding walkthrough": 754, "Search in 90 seconds": 90, "Release 4.2 highlights": 1265, "Customer webinar": 3540}}},
		{ownerOrg, demoIndex{"Board meeting drafts", []string{models.ModelPegasus}, models.VisibilityPrivate, map[string]int64{"Q3 review rehearsal": 1820}}},
		{memberOrg, demoIndex{"Conference talks", []string{models.ModelMarengo}, models.VisibilityAccount, map[string]int64{"Keynote": 2710, "Lightning talks": 1500}}},
	}
	for _, p := range plan {
		idx, err := models.CreateIndex(ctx, tx, p.scope, models.IndexInput{Name: p.index.name, Models: p.index.models,
			MarengoOptions: models.ModelOptions, PegasusOptions: models.ModelOptions, Visibility: string(p.index.visibility)})
		if err != nil {
			return fmt.Errorf("demo index %q: %w", p.index.name, err)
		}
		for title, seconds := range p.index.videos {
			in := models.VideoInput{Title: title, URL: "https://videos.example.com/" + models.Slugify(title) + ".mp4", DurationSeconds: fmt.Sprint(seconds)}
			if _, err := models.AddVideo(ctx, tx, p.scope, idx.PublicID, in); err != nil {
				return fmt.Errorf("demo video %q: %w", title, err)
			}
		}
	}
	_, err = models.CreateIntegration(ctx, tx, ownerOrg, models.IntegrationInput{Name: "Marketing footage", Bucket: "acme-marketing-footage",
		Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/switchboard-read", Prefix: "videos/"})
	return err
}
