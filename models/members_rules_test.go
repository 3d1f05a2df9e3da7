package models_test

import (
	"testing"

	"switchboard/models"
)

func TestLastAdmin(t *testing.T) {
	cases := []struct {
		role   models.Role
		admins int64
		want   bool
	}{
		{models.RoleAdmin, 1, true},
		{models.RoleAdmin, 0, true}, // a count that lags behind still protects
		{models.RoleAdmin, 2, false},
		{models.RoleMember, 1, false},
		{models.RoleMember, 0, false},
	}
	for _, tc := range cases {
		if got := models.LastAdmin(tc.role, tc.admins); got != tc.want {
			t.Errorf("LastAdmin(%s, %d) = %v, want %v", tc.role, tc.admins, got, tc.want)
		}
	}
}
