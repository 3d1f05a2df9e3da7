package models_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// life is the session lifetime the session tests use.
var life = models.SessionLifetime{Idle: time.Hour, Absolute: 24 * time.Hour}

// reloadUser reads the user's row again.
func reloadUser(t *testing.T, db *gorm.DB, id int64) models.User {
	t.Helper()
	u, err := models.GetUser(t.Context(), db, id)
	dbtest.Must(t, err)
	return u
}

// membershipRole is the user's role in the account, or "" without one.
func membershipRole(t *testing.T, db *gorm.DB, accountID, userID int64) tenancy.Role {
	t.Helper()
	var ms []tenancy.Membership
	dbtest.Must(t, dbtest.Plain(t, db).Where("account_id = ? AND user_id = ?", accountID, userID).Find(&ms).Error)
	if len(ms) == 0 {
		return ""
	}
	return ms[0].Role
}
