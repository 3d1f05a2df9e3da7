package handlers

import (
	"switchboard/models/tenancy"
	"switchboard/views"
)

// formRoles are the roles a form offers, in the order it lists them.
var formRoles = []tenancy.Role{tenancy.RoleMember, tenancy.RoleAdmin}

// roleOptions lists the roles for a role select, current selected; when
// current is none of them, nothing is, and the first role shows.
func roleOptions(current tenancy.Role) []views.Option {
	opts := make([]views.Option, 0, len(formRoles))
	for _, r := range formRoles {
		opts = append(opts, views.Option{Value: string(r), Label: r.Label(), Selected: r == current})
	}
	return opts
}
