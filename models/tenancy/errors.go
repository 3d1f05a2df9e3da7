package tenancy

import (
	"errors"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors; callers match them with errors.Is.
var (
	// ErrNotFound: no such row, or one the scope may not see. The two are
	// deliberately the same, so that a foreign ID behaves like a missing one.
	ErrNotFound = errors.New("not found")
	// ErrNotMember: the user does not belong to the account.
	ErrNotMember = errors.New("not a member of this account")
	// ErrForbidden: the user belongs to the account but their role may not act.
	ErrForbidden = errors.New("your role does not allow this")
	// ErrUnscoped: a query touched an account-owned table without a scope.
	ErrUnscoped = errors.New("query on an account-owned table without an account scope")
	// ErrUnavailable: the database does not answer.
	ErrUnavailable = errors.New("database unavailable")
	// ErrBadCredentials: unknown email or wrong password; never says which.
	ErrBadCredentials = errors.New("email or password is incorrect")
	// ErrTokenInvalid: an email link that is unknown, expired or used.
	ErrTokenInvalid = errors.New("this link is invalid or has expired")
)

// FieldErrors maps a form field's name to what is wrong with its value. It is
// returned by functions that validate input; nothing has been written when a
// function returns it.
type FieldErrors map[string]string

func (fe FieldErrors) Error() string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+fe[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// OrNil returns fe as an error, or nil when it holds nothing.
func (fe FieldErrors) OrNil() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// AsFieldErrors extracts FieldErrors from err.
func AsFieldErrors(err error) (FieldErrors, bool) {
	var fe FieldErrors
	ok := errors.As(err, &fe)
	return fe, ok
}

// PlainText reports whether s is valid UTF-8 without control characters
// (which PostgreSQL may refuse outright, as it does NUL, and which no name,
// title or path needs).
func PlainText(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}
