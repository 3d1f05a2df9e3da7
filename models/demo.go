package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
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
	if err := db.WithContext(ctx).Model(&User{}).Count(&users).Error; err != nil || users > 0 {
		return Demo{}, false, err
	}
	password := NewToken()[:20]
	verified := now()
	err = System("seed the demo into an empty database").Tx(ctx, db, func(tx *gorm.DB) error {
		owner, personal, err := createUser(ctx, tx, demoName, DemoEmail, hashPassword(password), &verified)
		if err != nil {
			return err
		}
		member, _, err := createUser(ctx, tx, demoMemberName, demoMemberEmail, hashPassword(NewToken()), &verified)
		if err != nil {
			return err
		}
		org, err := CreateOrganization(ctx, tx, owner.ID, demoOrgName)
		if err != nil {
			return err
		}
		if err := tx.Create(&Membership{AccountID: org.ID, UserID: member.ID, Role: RoleMember}).Error; err != nil {
			return err
		}
		if err := seedDemoResources(ctx, tx, owner, member, org); err != nil {
			return err
		}
		return seedDemoUsage(ctx, tx, owner, member, org, personal, now())
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
	visibility Visibility
	videos     map[string]int64
}

// seedDemoResources gives every resource page something to show: indexes
// with videos in both accounts (one of them private), and an S3 integration.
func seedDemoResources(ctx context.Context, tx *gorm.DB, owner, member User, org Account) error {
	personal, err := PersonalScope(ctx, tx, owner.ID)
	if err != nil {
		return err
	}
	ownerOrg, err := ScopeForSession(ctx, tx, owner.ID, org.ID)
	if err != nil {
		return err
	}
	memberOrg, err := ScopeForSession(ctx, tx, member.ID, org.ID)
	if err != nil {
		return err
	}
	plan := []struct {
		scope Scope
		index demoIndex
	}{
		{personal, demoIndex{"Travel clips", []string{ModelMarengo}, VisibilityAccount, map[string]int64{"Lisbon tram ride": 312, "Alps at dawn": 95}}},
		{ownerOrg, demoIndex{"Product demos", []string{ModelMarengo, ModelPegasus}, VisibilityAccount, map[string]int64{
			"Onboarding walkthrough": 754, "Search in 90 seconds": 90, "Release 4.2 highlights": 1265, "Customer webinar": 3540}}},
		{ownerOrg, demoIndex{"Board meeting drafts", []string{ModelPegasus}, VisibilityPrivate, map[string]int64{"Q3 review rehearsal": 1820}}},
		{memberOrg, demoIndex{"Conference talks", []string{ModelMarengo}, VisibilityAccount, map[string]int64{"Keynote": 2710, "Lightning talks": 1500}}},
	}
	for _, p := range plan {
		idx, err := CreateIndex(ctx, tx, p.scope, IndexInput{Name: p.index.name, Models: p.index.models,
			MarengoOptions: ModelOptions, PegasusOptions: ModelOptions, Visibility: string(p.index.visibility)})
		if err != nil {
			return fmt.Errorf("demo index %q: %w", p.index.name, err)
		}
		for title, seconds := range p.index.videos {
			in := VideoInput{Title: title, URL: "https://videos.example.com/" + slugify(title) + ".mp4", DurationSeconds: fmt.Sprint(seconds)}
			if _, err := AddVideo(ctx, tx, p.scope, idx.PublicID, in); err != nil {
				return fmt.Errorf("demo video %q: %w", title, err)
			}
		}
	}
	_, err = CreateIntegration(ctx, tx, ownerOrg, IntegrationInput{Name: "Marketing footage", Bucket: "acme-marketing-footage",
		Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/switchboard-read", Prefix: "videos/"})
	return err
}
