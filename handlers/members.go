package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"switchboard/handlers/mail"
	"switchboard/models/billing"
	"switchboard/models/scim"
	"switchboard/models/sso"
	"switchboard/models/tenancy"

	"github.com/labstack/echo/v4"

	"switchboard/models"
	"switchboard/views"
	"switchboard/views/emails"
	"switchboard/views/paths"
)

// Members handles Settings › Members, invitations and the audit log.
type Members struct{ *deps }

type inviteForm struct {
	Emails string `form:"emails"`
	Role   string `form:"role"`
}

// membersState carries a refused form back to the members page.
type membersState struct {
	invite     inviteForm
	inviteErrs tenancy.FieldErrors
	// refused says why a change to a member or an invitation was not made.
	refused string
}

// page renders the members page.
func (h *Members) page(c echo.Context, status int, st membersState) error {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	page := pageOf(c)
	members, total, admins, err := models.ListMembersAndAdmins(ctx, h.db, scope, page)
	if err != nil {
		return err
	}
	plan := scope.Account().Plan
	p := views.MembersPageProps{
		CanManage:   scope.Can(tenancy.CapManageMembers),
		MemberTotal: plural(total, "member", "members"),
		MemberPages: pagination(page, total, false, paths.Members(), nil),
		Emails:      st.invite.Emails, Roles: roleOptions(tenancy.Role(st.invite.Role)), Errors: st.inviteErrs, ActionError: st.refused,
		DailyInvites: thousands(int64(models.InvitationEmailsPerDay(plan))) + " invitation emails a day on the " + plan.Label() + " plan",
	}
	p.Members = memberRows(members, admins, scope.UserID(), p.CanManage)
	if p.CanManage {
		if p.Invitations, p.InviteTotal, err = h.invitationRows(c); err != nil {
			return err
		}
	}
	if p.Shell, err = h.shell(c, "Members", "members"); err != nil {
		return err
	}
	return render(c, status, views.MembersPage(p))
}

// memberRows are the members' rows of the page; each row's role choices
// only for a viewer who may change roles (the page shows badges to others).
func memberRows(members []models.MemberRow, admins, you int64, canManage bool) []views.MemberListRow {
	rows := make([]views.MemberListRow, 0, len(members))
	for _, m := range members {
		row := views.MemberListRow{
			UserID: m.UserPublicID, Name: m.Name, Email: m.Email, Role: string(m.Role), RoleLabel: m.Role.Label(),
			Joined: dateOnly(m.JoinedAt), SignIn: signInMethod(m), IsYou: m.UserID == you, TwoFactor: m.SecondFactor,
			Locked: models.LastAdmin(m.Role, admins), SCIM: m.SCIMManaged,
		}
		if canManage {
			row.Roles = roleOptions(m.Role)
		}
		rows = append(rows, row)
	}
	return rows
}

// invitationRows lists the open invitations (the first 100) and says how
// many there are.
func (h *Members) invitationRows(c echo.Context) ([]views.InvitationListRow, string, error) {
	invitations, n, err := models.ListInvitations(c.Request().Context(), h.db, ScopeFrom(c), tenancy.Page{Number: 1, Size: 100})
	if err != nil {
		return nil, "", err
	}
	var rows []views.InvitationListRow
	for _, inv := range invitations {
		rows = append(rows, views.InvitationListRow{
			ID: inv.PublicID, Email: inv.Email, Role: string(inv.Role), RoleLabel: inv.Role.Label(), InvitedBy: creatorName(inv.InvitedByName),
			Expires: dateOnly(inv.ExpiresAt), Expired: inv.State() == models.InvitationExpired,
		})
	}
	return rows, plural(n, "invitation", "invitations"), nil
}

// refused re-renders the members page saying why a change was not made:
// field errors (a role that does not exist, a resend too soon) with 422, a
// domain rule's refusal with its status. ok is false for any other error.
func (h *Members) refused(c echo.Context, err error) (bool, error) {
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return true, h.page(c, http.StatusUnprocessableEntity, membersState{invite: newInviteForm(), refused: fieldMessages(fe)})
	}
	if status, msg, ok := refusal(err); ok {
		return true, h.page(c, status, membersState{invite: newInviteForm(), refused: msg})
	}
	return false, err
}

func signInMethod(m models.MemberRow) string {
	switch {
	case m.SSOSignedInAt != nil && m.HasPassword:
		return "Single sign-on and password"
	case m.SSOSignedInAt != nil || !m.HasPassword:
		return "Single sign-on"
	}
	return "Password"
}

// MembersPage lists the organization's members (and, for administrators,
// the invite form and pending invitations).
func (h *Members) MembersPage(c echo.Context) error {
	return h.page(c, http.StatusOK, membersState{invite: newInviteForm()})
}

// newInviteForm is the invite form as it first shows.
func newInviteForm() inviteForm { return inviteForm{Role: string(tenancy.RoleMember)} }

// InviteSubmit invites the valid addresses and says what became of each.
func (h *Members) InviteSubmit(c echo.Context) error {
	var f inviteForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	scope := ScopeFrom(c)
	res, err := models.Invite(c.Request().Context(), h.db, scope, f.Emails, tenancy.Role(f.Role), actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.page(c, http.StatusUnprocessableEntity, membersState{invite: f, inviteErrs: fe})
	}
	if err != nil {
		return err
	}
	failed := 0
	for _, inv := range res.Invited {
		if err := h.sendInvitation(c, inv); err != nil {
			failed++
		}
	}
	kind := flashSuccess
	if len(res.Invalid)+len(res.AlreadyInvited)+len(res.AlreadyMembers)+failed > 0 {
		kind = flashNotice
	}
	return h.flashRedirect(c, kind, inviteSummary(res, failed), paths.Members())
}

// inviteSummary says, in one message, what became of every address.
func inviteSummary(res models.InviteResult, failed int) string {
	var parts []string
	add := func(label string, emails []string) {
		if len(emails) > 0 {
			parts = append(parts, label+" "+strings.Join(emails, ", ")+".")
		}
	}
	var invited []string
	for _, inv := range res.Invited {
		invited = append(invited, inv.Email)
	}
	add("Invited", invited)
	add("Already members:", res.AlreadyMembers)
	add("Already invited (use Resend below):", res.AlreadyInvited)
	add("Not valid email addresses:", res.Invalid)
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d invitation emails could not be sent; use Resend to try again.", failed))
	}
	return strings.Join(parts, " ")
}

// sendInvitation emails an invitation's link to its address.
func (h *Members) sendInvitation(c echo.Context, inv models.SentInvitation) error {
	inviter, _ := UserFrom(c)
	e := emails.Invitation{
		BaseURL: h.cfg.BaseURL, Token: inv.Token,
		InviterName: inviter.Name, InviterEmail: inviter.Email,
		Organization: ScopeFrom(c).Account().Name, Role: inv.Role.Label(), Expires: inv.ExpiresAt,
	}
	subject, body, err := emails.RenderInvitation(e)
	if err == nil {
		err = h.mail.Send(c.Request().Context(), mail.Message{To: inv.Email, Subject: subject, Body: body, Link: e.Link()})
	}
	if err != nil {
		LoggerFrom(c).Error("invitation email failed", "to", inv.Email, "err", err)
	}
	return err
}

type roleForm struct {
	Role string `form:"role"`
}

// RoleSubmit changes a member's role.
func (h *Members) RoleSubmit(c echo.Context) error {
	var f roleForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	u, err := models.ChangeRole(c.Request().Context(), h.db, ScopeFrom(c), c.Param("user_id"), tenancy.Role(f.Role), actor(c))
	if done, err := h.refused(c, err); done || err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, u.Name+" is now "+strings.ToLower(tenancy.Role(f.Role).Label())+".", paths.Members())
}

// RemovePage asks to confirm a member's removal, naming its effects.
func (h *Members) RemovePage(c echo.Context) error {
	scope := ScopeFrom(c)
	m, err := models.GetMember(c.Request().Context(), h.db, scope, c.Param("user_id"))
	if err != nil {
		return err
	}
	if m.UserID == scope.UserID() {
		// Removing yourself is leaving: that page names what leaving does.
		return redirect(c, paths.LeaveOrganization())
	}
	shell, err := h.shell(c, "Remove "+m.Name, "members")
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ConfirmPage(views.ConfirmPageProps{
		Shell: shell,
		Title: "Remove " + m.Name + " from " + scope.Account().Name + "?",
		Consequence: m.Name + " (" + m.Email + ") loses access at once: their next page is in their personal account, " +
			"their API keys for this organization stop working, and their private indexes pass to you and stay private.",
		Action:     paths.RemoveMember(m.UserPublicID),
		Button:     "Remove " + m.Name,
		CancelHref: paths.Members(),
		Warning:    "Removal takes effect at once",
	}))
}

// RemoveSubmit removes a member.
func (h *Members) RemoveSubmit(c echo.Context) error {
	u, err := models.RemoveMember(c.Request().Context(), h.db, ScopeFrom(c), c.Param("user_id"), actor(c))
	if done, err := h.refused(c, err); done || err != nil {
		return err
	}
	LoggerFrom(c).Info("member removed", "member", u.PublicID)
	if u.ID == ScopeFrom(c).UserID() {
		// The members page is no longer theirs: the next request puts them
		// in their personal account with a notice.
		return redirect(c, "/")
	}
	return h.flashRedirect(c, flashSuccess, "Removed "+u.Name+" from the organization.", paths.Members())
}

// ResendSubmit sends an invitation again with a new link.
func (h *Members) ResendSubmit(c echo.Context) error {
	inv, err := models.ResendInvitation(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), actor(c))
	if done, err := h.refused(c, err); done || err != nil {
		return err
	}
	if err := h.sendInvitation(c, inv); err != nil {
		return h.flashRedirect(c, flashError, "The invitation to "+inv.Email+" could not be sent. Try again in a moment.", paths.Members())
	}
	return h.flashRedirect(c, flashSuccess, "Sent the invitation to "+inv.Email+" again; the new link is valid for 7 days.", paths.Members())
}

// RevokeSubmit withdraws an invitation.
func (h *Members) RevokeSubmit(c echo.Context) error {
	inv, err := models.RevokeInvitation(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), actor(c))
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Revoked the invitation of "+inv.Email+".", paths.Members())
}

// InvitationPage shows what an invitation link offers, changing nothing:
// mail scanners open links.
func (h *Members) InvitationPage(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	p := views.InvitationPageProps{Token: token, AuthShell: views.AuthShell{Title: "Invitation", CSRF: csrfToken(c)}}
	status := http.StatusOK
	v, err := models.LookupInvitation(ctx, h.db, token)
	switch {
	case errors.Is(err, models.ErrInvitationNotFound):
		p.State, status = "invalid", http.StatusNotFound
	case err != nil:
		return err
	default:
		p.State = string(v.State())
		p.OrgName, p.InviterName, p.RoleLabel, p.Email = v.AccountName, creatorName(v.InviterName), v.Role.Label(), v.Email
		if p.State != string(models.InvitationPending) {
			status = http.StatusGone
		}
	}
	if user, ok := UserFrom(c); ok {
		p.SignedInAs = user.Email
		shell, err := h.shell(c, "Invitation to "+p.OrgName, "")
		if err != nil {
			return err
		}
		p.Shell = &shell
	} else if p.State == string(models.InvitationPending) {
		_, err := models.FindUserByEmail(ctx, h.db, v.Email)
		p.HasAccount = err == nil
	}
	return render(c, status, views.InvitationPage(p))
}

// InvitationAcceptSubmit joins the organization and makes it the active
// account.
func (h *Members) InvitationAcceptSubmit(c echo.Context) error {
	user, _ := UserFrom(c)
	scope, err := models.AcceptInvitation(c.Request().Context(), h.db, c.Param("token"), user, clientIP(c.Request()))
	if errors.Is(err, models.ErrInvitationNotFound) || errors.Is(err, models.ErrInvitationClosed) || errors.Is(err, models.ErrInvitationForSomeoneElse) {
		// The page explains; nothing changed.
		return h.InvitationPage(c)
	}
	if err != nil {
		return err
	}
	setActive(SessionFrom(c), scope.AccountID(), scope.Role())
	LoggerFrom(c).Info("invitation accepted", "organization", scope.Account().PublicID)
	return h.flashRedirect(c, flashSuccess, "Welcome to "+scope.Account().Name+". You joined as "+strings.ToLower(scope.Role().Label())+".", "/")
}

// AuditLogPage lists the organization's audit events, newest first.
func (h *Members) AuditLogPage(c echo.Context) error {
	page := pageOf(c)
	events, total, err := tenancy.ListAuditEvents(c.Request().Context(), h.db, ScopeFrom(c), page)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Audit log", "audit-log")
	if err != nil {
		return err
	}
	p := views.AuditLogPageProps{Shell: shell, Pages: pagination(page, total, false, paths.AuditLog(), nil)}
	for _, ev := range events {
		p.Rows = append(p.Rows, views.AuditRow{
			When: ev.CreatedAt.UTC().Format("Jan 2, 2006 15:04") + " UTC", Actor: creatorName(ev.ActorName),
			Action: auditLabel(ev.Action), Target: ev.Target, Details: ev.Details, IP: ev.IP,
		})
	}
	return render(c, http.StatusOK, views.AuditLogPage(p))
}

// auditLabel says an audit action the way the log shows it.
func auditLabel(a tenancy.AuditAction) string {
	labels := map[tenancy.AuditAction]string{
		tenancy.AuditRenamed:          "Renamed the organization",
		tenancy.AuditRequire2FAOn:     "Required two-factor authentication",
		tenancy.AuditRequire2FAOff:    "Made two-factor authentication optional",
		models.AuditInvited:           "Invited a member",
		models.AuditInvitationResent:  "Resent an invitation",
		models.AuditInvitationRevoked: "Revoked an invitation",
		models.AuditJoined:            "Joined",
		models.AuditRoleChanged:       "Changed a role",
		models.AuditRemoved:           "Removed a member",
		models.AuditLeft:              "Left the organization",
		models.AuditSecurityChanged:   "Changed their sign-in security",
		sso.AuditSSOConfigured:        "Changed single sign-on",
		sso.AuditSSODomainVerified:    "Verified a domain",
		sso.AuditSSOSignedIn:          "Signed in with SSO",
		sso.AuditSSOSHA1Allowed:       "Allowed SHA-1 signatures for single sign-on",
		sso.AuditSSOSHA1Refused:       "Refused SHA-1 signatures for single sign-on again",
		scim.AuditTokenCreated:        "Created a SCIM token",
		scim.AuditTokenRevoked:        "Revoked a SCIM token",
		scim.AuditProvisioned:         "Provisioned a user (SCIM)",
		scim.AuditUpdated:             "Updated a provisioned user (SCIM)",
		scim.AuditReactivated:         "Reactivated a provisioned user (SCIM)",
		scim.AuditGroups:              "Chose the SCIM administrators group",
		billing.AuditPlanChanged:      "Changed the plan",
		billing.AuditBillingContact:   "Changed the billing contact",
		billing.AuditEnterprise:       "Requested Enterprise",
	}
	if l, ok := labels[a]; ok {
		return l
	}
	return string(a)
}
