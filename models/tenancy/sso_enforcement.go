package tenancy

// AdmitsSession reports whether a session may act in the scope's account,
// given the organization whose IdP signed the session in (0 when none did):
// yes, unless the organization requires single sign-on of this member
// (RequiresSSO) and the session came in another way.
func (s Scope) AdmitsSession(ssoAccountID int64) bool {
	return !s.RequiresSSO() || ssoAccountID == s.account.ID
}

// LacksRequiredSecondFactor reports whether the organization requires a
// second factor of its members (every member, administrators too) and the
// user has none.
func (s Scope) LacksRequiredSecondFactor() bool {
	return s.IsOrganization() && s.account.Require2FA && !s.secondFactor
}

// HasSecondFactor reports whether the scope's user has a second factor.
func (s Scope) HasSecondFactor() bool { return s.secondFactor }

// SecondFactorAdmits reports whether the organization's two-factor policy
// lets a session act in the scope's account: the user has a second factor,
// or the session signed in through this organization's IdP (which does its
// own MFA), or the organization requires none.
func (s Scope) SecondFactorAdmits(ssoAccountID int64) bool {
	return !s.LacksRequiredSecondFactor() || ssoAccountID == s.account.ID
}

// KeysNeedSecondFactorSession reports whether creating or regenerating API
// keys in the scope's account takes a session that passed a second factor
// (or signed in through the organization's IdP).
func (s Scope) KeysNeedSecondFactorSession() bool {
	return s.IsOrganization() && s.account.Require2FA
}
