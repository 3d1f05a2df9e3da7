// Package throttle slows down guessing: sign-in, password-reset and link
// attempts draw from budgets kept in the database or in Redis.
package throttle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// A throttle budget allows a burst of attempts, then refills at a steady
// rate (the generic cell rate algorithm): its whole state is one instant,
// when the budget is full again, and each attempt moves that instant one
// interval later. Attempts further apart than the interval never add up, so
// sparse failures never lock anyone out; a budget whose instant has passed
// is the same as none, so its row or Redis key can go.
type throttleRule struct {
	name  string
	burst int64         // attempts allowed at once, at least 1
	every time.Duration // one attempt's weight drains in this time
}

// The rules. A password sign-in counts against three budgets at once: an
// attacker's failures from one address never spend the budget of another
// address, and the per-email budget, which every address shares, makes
// anyone wait at most its interval.
var (
	// One email from one address: 5 attempts, then one every 10 minutes.
	signInPair = throttleRule{"signin-pair", 5, 10 * time.Minute}
	// One address, whatever the email (spraying many accounts): 20 attempts,
	// then one every 3 minutes.
	signInAddress = throttleRule{"signin-address", 20, 3 * time.Minute}
	// One email, whatever the address (many addresses at one account): 10
	// attempts, then one every 3 seconds.
	signInEmail = throttleRule{"signin-email", 10, 3 * time.Second}
	// Emailed links to one address: a verification link a minute; three
	// reset links, then one every 10 minutes.
	// Second-factor codes of one user, from anywhere: 5 attempts, then one
	// a minute. A six-digit code with three steps accepted leaves a guesser
	// about one chance in 300,000 per attempt: years at this rate.
	secondFactorUser = throttleRule{"2fa-user", 5, time.Minute}
	// Passwordless passkey sign-ins started from one address: 30, then one
	// every 6 seconds. Each leaves a challenge on the server until it
	// expires; this bounds how many one address can leave.
	passkeyAddress = throttleRule{"passkey-address", 30, 6 * time.Second}
	verifyLinks    = throttleRule{"link-verify", 1, time.Minute}
	resetLinks     = throttleRule{"link-reset", 3, 10 * time.Minute}
)

// ThrottleKey is one budget: a rule and what it counts (an email, an
// address). Stores keep only a keyed hash of it.
type ThrottleKey struct {
	rule  throttleRule
	value string
}

// Throttle counts attempts against budgets shared by every server of a
// deployment. Both implementations (DBThrottle, RedisThrottle) store only
// keyed hashes of the keys, and forget a budget once it is full again.
type Throttle interface {
	// Take counts one attempt at at against every key, or against none:
	// when a budget has no room it counts nothing and returns how long
	// until every budget has room. Zero means the attempt was counted.
	Take(ctx context.Context, at time.Time, keys ...ThrottleKey) (wait time.Duration, err error)
	// Refund gives back one attempt to each key.
	Refund(ctx context.Context, at time.Time, keys ...ThrottleKey) error
	// Reset forgets the keys' attempts.
	Reset(ctx context.Context, keys ...ThrottleKey) error
}

func signInPairKey(email, address string) ThrottleKey {
	return ThrottleKey{signInPair, tenancy.NormalizeEmail(email) + "\x00" + address}
}

// ThrottleSignIn counts a password sign-in of email from
// address before the password is checked. Zero lets it proceed; otherwise
// it is how long until it may, and nothing was counted.
func ThrottleSignIn(ctx context.Context, t Throttle, email, address string, at time.Time) (time.Duration, error) {
	return t.Take(ctx, at, signInPairKey(email, address), ThrottleKey{signInAddress, address}, ThrottleKey{signInEmail, tenancy.NormalizeEmail(email)})
}

// SignedIn forgives a sign-in that ThrottleSignIn let through and that
// succeeded: the address and the email get the attempt back (an office
// signing in through one address is not an attack), and the email's
// failures from this address are forgotten. Failures elsewhere stay.
func SignedIn(ctx context.Context, t Throttle, email, address string, at time.Time) error {
	if err := t.Refund(ctx, at, ThrottleKey{signInAddress, address}, ThrottleKey{signInEmail, tenancy.NormalizeEmail(email)}); err != nil {
		return err
	}
	return t.Reset(ctx, signInPairKey(email, address))
}

// ForgetSignInFailures forgets the failures of email from address: whoever
// just reset the password from there may sign in with it at once.
func ForgetSignInFailures(ctx context.Context, t Throttle, email, address string) error {
	return t.Reset(ctx, signInPairKey(email, address))
}

// ThrottleSecondFactor counts a second-factor code of the user (by public
// ID) before it is checked, as ThrottleSignIn does for passwords.
func ThrottleSecondFactor(ctx context.Context, t Throttle, userPublicID string, at time.Time) (time.Duration, error) {
	return t.Take(ctx, at, ThrottleKey{secondFactorUser, userPublicID})
}

// SecondFactorPassed forgets the user's failed codes once one was right.
func SecondFactorPassed(ctx context.Context, t Throttle, userPublicID string) error {
	return t.Reset(ctx, ThrottleKey{secondFactorUser, userPublicID})
}

// ThrottlePasskeySignIn counts a passwordless passkey sign-in started from
// address. Zero lets it start; otherwise it is how long until one may.
func ThrottlePasskeySignIn(ctx context.Context, t Throttle, address string, at time.Time) (time.Duration, error) {
	return t.Take(ctx, at, ThrottleKey{passkeyAddress, address})
}

// ThrottleLink counts one emailed link of the purpose to email.
// Zero lets it be sent; otherwise it is how long until one may be.
func ThrottleLink(ctx context.Context, t Throttle, purpose models.TokenPurpose, email string, at time.Time) (time.Duration, error) {
	rule := verifyLinks
	if purpose == models.PurposeReset {
		rule = resetLinks
	}
	return t.Take(ctx, at, ThrottleKey{rule, tenancy.NormalizeEmail(email)})
}

// throttleHasher names budgets by a keyed hash of what they count, so that
// neither emails nor addresses are stored, nor can be found by hashing
// guesses without the deployment's secret.
type throttleHasher []byte

func newThrottleHasher(secret []byte) throttleHasher {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("switchboard throttle keys"))
	return m.Sum(nil)
}

// name is "RULE:HMAC", hex.
func (h throttleHasher) name(k ThrottleKey) string {
	m := hmac.New(sha256.New, h)
	m.Write([]byte(k.rule.name))
	m.Write([]byte{0})
	m.Write([]byte(k.value))
	return k.rule.name + ":" + hex.EncodeToString(m.Sum(nil))
}

// bucketStore is one budget at a time, as an implementation keeps it.
// Instants are Unix milliseconds.
type bucketStore interface {
	// take counts an attempt if the budget has room; either way it returns
	// when the budget is full again.
	take(ctx context.Context, name string, r throttleRule, now int64) (ok bool, fullAt int64, err error)
	// peek is when the budget is full again (0 for a budget never used).
	peek(ctx context.Context, name string) (fullAt int64, err error)
	refund(ctx context.Context, name string, r throttleRule, now int64) error
	reset(ctx context.Context, names []string) error
}

// roomAt is how much later than now a budget full at fullAt has room for
// one more attempt (0: it has).
func roomAt(r throttleRule, fullAt, now int64) time.Duration {
	wait := time.Duration(fullAt-now)*time.Millisecond - time.Duration(r.burst-1)*r.every
	return max(0, wait)
}

// takeAll implements Throttle.Take on a bucketStore: the budgets are taken
// one by one, and given back when a later one refuses, so that a refused
// attempt counts nowhere.
func takeAll(ctx context.Context, s bucketStore, h throttleHasher, at time.Time, keys []ThrottleKey) (time.Duration, error) {
	now := at.UnixMilli()
	for i, k := range keys {
		ok, fullAt, err := s.take(ctx, h.name(k), k.rule, now)
		if err == nil && ok {
			continue
		}
		for _, done := range keys[:i] {
			if rerr := s.refund(ctx, h.name(done), done.rule, now); rerr != nil && err == nil {
				err = rerr
			}
		}
		if err != nil {
			return 0, fmt.Errorf("throttle: %w", err)
		}
		// Say the longest wait, so that the next try is not refused by
		// another budget.
		wait := max(time.Millisecond, roomAt(k.rule, fullAt, now))
		for _, rest := range keys[i+1:] {
			fullAt, err := s.peek(ctx, h.name(rest))
			if err != nil {
				return 0, fmt.Errorf("throttle: %w", err)
			}
			wait = max(wait, roomAt(rest.rule, fullAt, now))
		}
		return wait, nil
	}
	return 0, nil
}

func refundAll(ctx context.Context, s bucketStore, h throttleHasher, at time.Time, keys []ThrottleKey) error {
	for _, k := range keys {
		if err := s.refund(ctx, h.name(k), k.rule, at.UnixMilli()); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
	}
	return nil
}

func resetAll(ctx context.Context, s bucketStore, h throttleHasher, keys []ThrottleKey) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = h.name(k)
	}
	if err := s.reset(ctx, names); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// DBThrottle keeps the budgets in the main database, one row each in
// throttle_buckets, taken with one conditional upsert, so that every
// server sharing the database counts together. DeleteFullThrottleBuckets
// sweeps the rows that no longer count.
type DBThrottle struct {
	db   *gorm.DB
	hash throttleHasher
}

// NewDBThrottle counts in db, naming budgets by a hash keyed with secret,
// which every server of the deployment must share.
func NewDBThrottle(db *gorm.DB, secret []byte) DBThrottle {
	return DBThrottle{db: db, hash: newThrottleHasher(secret)}
}

// Take implements Throttle.
func (t DBThrottle) Take(ctx context.Context, at time.Time, keys ...ThrottleKey) (time.Duration, error) {
	return takeAll(ctx, t, t.hash, at, keys)
}

// Refund implements Throttle.
func (t DBThrottle) Refund(ctx context.Context, at time.Time, keys ...ThrottleKey) error {
	return refundAll(ctx, t, t.hash, at, keys)
}

// Reset implements Throttle.
func (t DBThrottle) Reset(ctx context.Context, keys ...ThrottleKey) error {
	return resetAll(ctx, t, t.hash, keys)
}

// throttleTakeSQL: arguments name, now + every, now, every, now + (burst-1)
// × every. A budget full in the past counts from now; the update happens
// only while the budget has room, and answers no row otherwise.
const throttleTakeSQL = `INSERT INTO throttle_buckets (key_hash, full_at) VALUES (?, ?)
ON CONFLICT (key_hash) DO UPDATE SET
	full_at = CASE WHEN throttle_buckets.full_at > ? THEN throttle_buckets.full_at + ? ELSE excluded.full_at END
WHERE throttle_buckets.full_at <= ?
RETURNING full_at`

func (t DBThrottle) take(ctx context.Context, name string, r throttleRule, now int64) (bool, int64, error) {
	every := r.every.Milliseconds()
	var fullAt int64
	err := tenancy.ScanRow(t.db.WithContext(ctx).Raw(throttleTakeSQL, name, now+every, now, every, now+(r.burst-1)*every), &fullAt)
	if err == nil {
		return true, fullAt, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, 0, err
	}
	fullAt, err = t.peek(ctx, name)
	return false, fullAt, err
}

func (t DBThrottle) peek(ctx context.Context, name string) (int64, error) {
	var fullAt int64
	err := tenancy.ScanRow(t.db.WithContext(ctx).Raw(`SELECT full_at FROM throttle_buckets WHERE key_hash = ?`, name), &fullAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return fullAt, err
}

func (t DBThrottle) refund(ctx context.Context, name string, r throttleRule, _ int64) error {
	return t.db.WithContext(ctx).Exec(`UPDATE throttle_buckets SET full_at = full_at - ? WHERE key_hash = ?`, r.every.Milliseconds(), name).Error
}

func (t DBThrottle) reset(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	return t.db.WithContext(ctx).Exec(`DELETE FROM throttle_buckets WHERE key_hash IN ?`, names).Error
}

// DeleteFullThrottleBuckets removes the budgets that are full again at at:
// a missing row means the same.
func DeleteFullThrottleBuckets(ctx context.Context, db *gorm.DB, at time.Time) (int64, error) {
	res := db.WithContext(ctx).Exec(`DELETE FROM throttle_buckets WHERE full_at <= ?`, at.UnixMilli())
	return res.RowsAffected, res.Error
}
