package models_test

import (
	"testing"

	"switchboard/models"
	"switchboard/models/tenancy"
)

func TestLastAdmin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		role   tenancy.Role
		admins int64
		want   bool
	}{
		{tenancy.RoleAdmin, 1, true},
		{tenancy.RoleAdmin, 0, true}, // a count that lags behind still protects
		{tenancy.RoleAdmin, 2, false},
		{tenancy.RoleMember, 1, false},
		{tenancy.RoleMember, 0, false},
	}
	for _, tc := range cases {
		if got := models.LastAdmin(tc.role, tc.admins); got != tc.want {
			t.Errorf("LastAdmin(%s, %d) = %v, want %v", tc.role, tc.admins, got, tc.want)
		}
	}
}
