package tenancy

// AdmitsSession reports whether a session may act in the scope's account,
// given the organization whose IdP signed the session in (0 when none did):
// yes, unless the organization requires single sign-on of this member
// (RequiresSSO) and the session came in another way.
func (s Scope) AdmitsSession(ssoAccountID int64) bool {
	return !s.RequiresSSO() || ssoAccountID == s.account.ID
}
