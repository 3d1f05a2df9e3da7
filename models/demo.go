package models

import (
	"context"

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
	err = inTx(ctx, db, func(tx *gorm.DB) error {
		owner, _, err := createUser(ctx, tx, demoName, DemoEmail, hashPassword(password), &verified)
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
		return tx.Create(&Membership{AccountID: org.ID, UserID: member.ID, Role: RoleMember}).Error
	})
	if err != nil {
		return Demo{}, false, err
	}
	return Demo{Email: DemoEmail, Password: password}, true, nil
}
