package tenancy

// Capability is something a member may or may not do in an account.
type Capability string

const (
	CapViewAccount      Capability = "view account and members"
	CapUseResources     Capability = "create, read, update and delete shared resources"
	CapManageOwnKeys    Capability = "manage their own API keys"
	CapManageMembers    Capability = "invite and remove members, change roles"
	CapManageAccount    Capability = "rename or delete the organization, configure SSO"
	CapManageBilling    Capability = "change the plan, view and change billing"
	CapViewAccountUsage Capability = "monitor account-wide usage"
	CapViewAuditLog     Capability = "read the audit log"
)

// Policy is the capability × role table of the product (DESIGN.md): the
// one place role checks are decided. Tests iterate it.
var Policy = map[Capability]map[Role]bool{
	CapViewAccount:      {RoleAdmin: true, RoleMember: true},
	CapUseResources:     {RoleAdmin: true, RoleMember: true},
	CapManageOwnKeys:    {RoleAdmin: true, RoleMember: true},
	CapManageMembers:    {RoleAdmin: true},
	CapManageAccount:    {RoleAdmin: true},
	CapManageBilling:    {RoleAdmin: true},
	CapViewAccountUsage: {RoleAdmin: true},
	CapViewAuditLog:     {RoleAdmin: true},
}

// Can reports whether the scope's role holds the capability. A zero scope can
// do nothing.
func (s Scope) Can(c Capability) bool {
	if s.IsZero() {
		return false
	}
	return Policy[c][s.role]
}

// Require returns ErrForbidden unless the scope holds the capability.
func (s Scope) Require(c Capability) error {
	if s.IsZero() {
		return ErrUnscoped
	}
	if !s.Can(c) {
		return ErrForbidden
	}
	return nil
}
