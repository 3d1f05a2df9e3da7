package models

import "switchboard/models/tenancy"

// LastAdmin reports whether a member with role is the one administrator the
// organization must keep, given how many administrators it has: their role
// cannot be taken away, and they can neither be removed nor leave
// (ErrLastAdmin).
func LastAdmin(role tenancy.Role, admins int64) bool { return role == tenancy.RoleAdmin && admins <= 1 }
