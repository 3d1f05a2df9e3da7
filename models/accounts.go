package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// AccountChoice is one account the user belongs to, as the switcher lists it.
type AccountChoice struct {
	tenancy.Account
	Role tenancy.Role
}

// ListAccountsForUser returns every account the user belongs to: the personal
// account first, then organizations by name. One query, whatever the count.
func ListAccountsForUser(ctx context.Context, db *gorm.DB, userID int64) ([]AccountChoice, error) {
	var rows []AccountChoice
	view := tenancy.ViewOf(userID)
	err := view.Read(ctx, db, func(tx *gorm.DB) error {
		return view.Mark(tx.Table("accounts")).
			Select("accounts.*, memberships.role").
			Joins("JOIN memberships ON memberships.account_id = accounts.id AND memberships.user_id = ?", userID).
			Order("CASE WHEN accounts.kind = 'personal' THEN 0 ELSE 1 END, LOWER(accounts.name), accounts.id").
			Find(&rows).Error
	})
	return rows, err
}

// Organization names: 2–64 characters once trimmed.
const (
	OrgNameMin = 2
	OrgNameMax = 64
)

// orgLimitMessage refuses a second organization by the same creator.
const orgLimitMessage = "You have already created an organization. Each person can create one organization and join any number of others by invitation."

func validateOrgName(name string) (string, tenancy.FieldErrors) {
	name = strings.Join(strings.Fields(name), " ")
	// Before the length: a lone invisible character is that, not a short name.
	if msg := tenancy.NameProblem("The name", name); msg != "" {
		return name, tenancy.FieldErrors{"name": msg}
	}
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return name, tenancy.FieldErrors{"name": "Enter a name for the organization."}
	case n < OrgNameMin:
		return name, tenancy.FieldErrors{"name": fmt.Sprintf("The name must be at least %d characters.", OrgNameMin)}
	case n > OrgNameMax:
		return name, tenancy.FieldErrors{"name": fmt.Sprintf("The name must be at most %d characters.", OrgNameMax)}
	}
	return name, nil
}

// CanCreateOrganization reports whether the user may still create their one
// organization.
func CanCreateOrganization(ctx context.Context, db *gorm.DB, userID int64) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Model(&tenancy.Account{}).
		Where("created_by_id = ? AND kind = ?", userID, tenancy.KindOrganization).Count(&n).Error
	return n == 0, err
}

// CreateOrganization creates an organization on the Free plan with the user
// as its administrator. A second organization by the same creator is a
// FieldErrors on "name" wrapping nothing written; the database's partial
// unique index settles races.
func CreateOrganization(ctx context.Context, db *gorm.DB, userID int64, name string) (tenancy.Account, error) {
	name, fe := validateOrgName(name)
	if fe != nil {
		return tenancy.Account{}, fe
	}
	var acct tenancy.Account
	err := tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		base := Slugify(name)
		for attempt := 0; ; attempt++ {
			ok, err := CanCreateOrganization(ctx, tx, userID)
			if err != nil {
				return err
			}
			if !ok {
				return tenancy.FieldErrors{"name": orgLimitMessage}
			}
			slug, err := freeSlug(tx, base)
			if err != nil {
				return err
			}
			if attempt >= 2 {
				// Many people creating the same name at once: stop racing
				// for the next number.
				slug += "-" + tenancy.NewObjectID()[:6]
			}
			acct = tenancy.Account{PublicID: tenancy.NewUUID(), Kind: tenancy.KindOrganization, Name: name, Slug: &slug, Plan: tenancy.PlanFree, CreatedByID: userID}
			// A savepoint, so that a unique-index clash leaves the
			// transaction usable for the retry.
			err = tx.Transaction(func(sp *gorm.DB) error { return sp.Create(&acct).Error })
			if errors.Is(err, gorm.ErrDuplicatedKey) && attempt < 5 {
				// Someone took the slug, or created this user's organization,
				// between our reads and our insert: read again.
				continue
			}
			if err != nil {
				return err
			}
			return tenancy.AddFounder(ctx, tx, acct, userID)
		}
	})
	return acct, err
}

// Slugify turns a name into a URL slug: lower-case ASCII letters and digits
// separated by single hyphens, at most 40 characters. Names with no ASCII
// letters or digits get "org".
func Slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
		default:
			hyphen = true
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "org"
	}
	return s
}

// freeSlug returns base, or base-2, base-3, … whichever no account holds.
// One query reads every taken candidate.
func freeSlug(tx *gorm.DB, base string) (string, error) {
	var taken []string
	err := tx.Model(&tenancy.Account{}).Where("slug = ? OR slug LIKE ?", base, base+"-%").Pluck("slug", &taken).Error
	if err != nil {
		return "", err
	}
	used := make(map[string]bool, len(taken))
	for _, s := range taken {
		used[s] = true
	}
	if !used[base] {
		return base, nil
	}
	for i := 2; ; i++ {
		if s := fmt.Sprintf("%s-%d", base, i); !used[s] {
			return s, nil
		}
	}
}

// RenameOrganization renames the scope's organization; administrators only.
func RenameOrganization(ctx context.Context, db *gorm.DB, s tenancy.Scope, name string, actor tenancy.Actor) (tenancy.Account, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return tenancy.Account{}, err
	}
	if !s.IsOrganization() {
		return tenancy.Account{}, tenancy.ErrNotFound
	}
	name, fe := validateOrgName(name)
	if fe != nil {
		return tenancy.Account{}, fe
	}
	acct := s.Account()
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		// Compare with the row as it is now, not as the scope saw it.
		var err error
		if acct, err = s.LockAs(tx, tenancy.CapManageAccount); err != nil {
			return err
		}
		if name == acct.Name {
			return nil
		}
		old := acct.Name
		acct.Name, acct.UpdatedAt = name, tenancy.Now()
		if err := tx.Model(&tenancy.Account{}).Where("id = ?", acct.ID).
			Updates(map[string]any{"name": acct.Name, "updated_at": acct.UpdatedAt}).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, tenancy.AuditRenamed, old, "renamed to "+name)
	})
	if err != nil {
		return s.Account(), err
	}
	return acct, nil
}

// MemberCount is the number of members of the scope's account.
func MemberCount(ctx context.Context, db *gorm.DB, s tenancy.Scope) (int64, error) {
	var n int64
	err := s.Find(ctx, db, &n, func(tx *gorm.DB) *gorm.DB { return s.Apply(tx.Model(&tenancy.Membership{})).Select("COUNT(*)") })
	return n, err
}

// Initials are what an avatar shows: the first letters of the first and last
// words ("Ada Lovelace" → "AL"), or the first two letters of a single word
// ("Plato" → "PL"), upper-cased in any script; "?" when there are no letters.
func Initials(name string) string {
	var words [][]rune
	for _, w := range strings.Fields(name) {
		var letters []rune
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				letters = append(letters, r)
			}
		}
		if len(letters) > 0 {
			words = append(words, letters)
		}
	}
	var out []rune
	switch {
	case len(words) == 0:
		return "?"
	case len(words) == 1:
		out = words[0]
		if len(out) > 2 {
			out = out[:2]
		}
	default:
		out = []rune{words[0][0], words[len(words)-1][0]}
	}
	return strings.ToUpper(string(out))
}

// AccountName is the name of the account with the internal ID, or "" when it
// no longer exists. It checks no membership: it names what a user just lost.
func AccountName(ctx context.Context, db *gorm.DB, id int64) (string, error) {
	var names []string
	err := db.WithContext(ctx).Model(&tenancy.Account{}).Where("id = ?", id).Limit(1).Pluck("name", &names).Error
	if err != nil || len(names) == 0 {
		return "", err
	}
	return names[0], nil
}

// UpdateOrganization renames the organization and turns its two-factor
// policy on or off, in one transaction; administrators only. Turning the
// policy on takes an administrator who has a second factor themselves, so
// that the switch cannot shut its own user out. Each change is audited;
// invalid input writes nothing.
func UpdateOrganization(ctx context.Context, db *gorm.DB, s tenancy.Scope, name string, require2FA bool, actor tenancy.Actor) (tenancy.Account, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return tenancy.Account{}, err
	}
	if !s.IsOrganization() {
		return tenancy.Account{}, tenancy.ErrNotFound
	}
	name, fe := validateOrgName(name)
	if require2FA && !s.HasSecondFactor() && !s.Account().Require2FA {
		if fe == nil {
			fe = tenancy.FieldErrors{}
		}
		fe["require_2fa"] = "Set up two-factor authentication for yourself first (Settings › Security): the policy applies to administrators too."
	}
	if fe != nil {
		return tenancy.Account{}, fe
	}
	acct := s.Account()
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		// Compare with the row as it is now, not as the scope saw it.
		var err error
		if acct, err = s.LockAs(tx, tenancy.CapManageAccount); err != nil {
			return err
		}
		changes := map[string]any{}
		if name != acct.Name {
			changes["name"] = name
			if err := tenancy.RecordAudit(tx, s, actor, tenancy.AuditRenamed, acct.Name, "renamed to "+name); err != nil {
				return err
			}
		}
		if require2FA != acct.Require2FA {
			changes["require_2fa"] = require2FA
			action, details := tenancy.AuditRequire2FAOn, "members without a second factor are kept out"
			if !require2FA {
				action, details = tenancy.AuditRequire2FAOff, "a second factor is optional"
			}
			if err := tenancy.RecordAudit(tx, s, actor, action, name, details); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return nil
		}
		acct.Name, acct.Require2FA, acct.UpdatedAt = name, require2FA, tenancy.Now()
		changes["updated_at"] = acct.UpdatedAt
		return tx.Model(&tenancy.Account{}).Where("id = ?", acct.ID).Updates(changes).Error
	})
	if err != nil {
		return s.Account(), err
	}
	return acct, nil
}

// MembersWithoutSecondFactor counts the organization's members who have no
// second factor: those a require_2fa policy shuts out (unless they sign in
// through the organization's IdP).
func MembersWithoutSecondFactor(ctx context.Context, db *gorm.DB, s tenancy.Scope) (int64, error) {
	var n int64
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx.Model(&tenancy.Membership{})).Joins("JOIN users ON users.id = memberships.user_id").
			Where("NOT " + tenancy.SecondFactorColumn).Count(&n).Error
	})
	return n, err
}
