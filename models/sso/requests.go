package sso

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models/tenancy"
)

// SP key ----------------------------------------------------------------

// SPKey is the service provider's signing key and certificate, generated
// once per deployment and shared by every server through the database.
type SPKey struct {
	ID        int64
	KeyPEM    string `gorm:"column:key_pem"`
	CertPEM   string `gorm:"column:cert_pem"`
	CreatedAt time.Time
}

// TableName is sp_keys.
func (SPKey) TableName() string { return "sp_keys" }

// LoadSPKey returns the service provider's key pair, creating it on first use.
func LoadSPKey(ctx context.Context, db *gorm.DB) (*rsa.PrivateKey, *x509.Certificate, error) {
	var k SPKey
	err := db.WithContext(ctx).Take(&k, 1).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		created, cerr := newSPKey()
		if cerr != nil {
			return nil, nil, cerr
		}
		// Two servers may race to create it: the first one wins, both read it.
		if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&created).Error; err != nil {
			return nil, nil, err
		}
		err = db.WithContext(ctx).Take(&k, 1).Error
	}
	if err != nil {
		return nil, nil, err
	}
	return parseSPKey(k)
}

func newSPKey() (SPKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return SPKey{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return SPKey{}, err
	}
	t := tenancy.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Switchboard SAML service provider"},
		NotBefore:    t.Add(-time.Hour),
		NotAfter:     t.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return SPKey{}, err
	}
	return SPKey{
		ID:        1,
		KeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		CertPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CreatedAt: t,
	}, nil
}

func parseSPKey(k SPKey) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, _ := pem.Decode([]byte(k.KeyPEM))
	cb, _ := pem.Decode([]byte(k.CertPEM))
	if kb == nil || cb == nil {
		return nil, nil, errors.New("the stored SAML service provider key is damaged")
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	return key, cert, err
}

// Requests and replays --------------------------------------------------

// SSO request purposes.
const (
	SSOLogin   = "login"
	SSOTest    = "test"
	SSOLinking = "link" // a sign-in that links the identity to the user who started it
)

// SSORequestTTL is how long an IdP has to answer an AuthnRequest.
const SSORequestTTL = 10 * time.Minute

// SSORequest is an AuthnRequest this service provider issued.
type SSORequest struct {
	ID         string `gorm:"primaryKey"`
	AccountID  int64
	Purpose    string
	UserID     *int64
	Result     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt *time.Time
}

// TableName is sso_requests.
func (SSORequest) TableName() string { return "sso_requests" }

// RecordSSORequest remembers an AuthnRequest of the organization so that
// only responses to it are accepted. userID is who started it: the
// administrator running a connection test, the member linking an identity.
func RecordSSORequest(ctx context.Context, db *gorm.DB, sa SSOAccount, id, purpose string, userID *int64) error {
	t := tenancy.Now()
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Create(&SSORequest{ID: id, Purpose: purpose, UserID: userID, CreatedAt: t, ExpiresAt: t.Add(SSORequestTTL)}).Error
	})
}

// OpenSSORequest returns an unanswered, unexpired request of the
// organization; ErrNotFound for one this SP never issued, for another
// organization, or already answered.
func OpenSSORequest(ctx context.Context, db *gorm.DB, sa SSOAccount, id string) (SSORequest, error) {
	var r SSORequest
	s := sa.sys()
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, tenancy.Now()).Take(&r).Error
	})
	return r, tenancy.NotFound(err)
}

// ConsumeSSORequest marks a request answered, with the outcome of a
// connection test; a request answered concurrently is ErrNotFound.
func ConsumeSSORequest(ctx context.Context, db *gorm.DB, sa SSOAccount, id, result string) error {
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		res := s.Apply(tx.Model(&SSORequest{})).
			Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, tenancy.Now()).
			Updates(map[string]any{"consumed_at": tenancy.Now(), "result": result})
		if res.Error == nil && res.RowsAffected != 1 {
			return tenancy.ErrNotFound
		}
		return res.Error
	})
}

// SSOTestResult returns the outcome of a connection test run by the user.
func SSOTestResult(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string) (SSORequest, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return SSORequest{}, err
	}
	var r SSORequest
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Where("id = ? AND purpose = ? AND user_id = ?", id, SSOTest, s.UserID()).Take(&r).Error
	})
	return r, tenancy.NotFound(err)
}

// ReplayCache records the assertions accepted, shared by every server
// through the database, and refuses one seen before.
type ReplayCache struct{ DB *gorm.DB }

// Consume implements saml.AssertionReplayCache.
func (c ReplayCache) Consume(assertionID string, expiresAt time.Time) error {
	err := c.DB.Exec("INSERT INTO sso_replays (assertion_id, expires_at) VALUES (?, ?)", assertionID, expiresAt.UTC()).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) || (err != nil && strings.Contains(strings.ToLower(err.Error()), "unique")) {
		return saml.ErrAssertionReplayed
	}
	return err
}

// BindSSOLogin remembers which browser started a sign-in: the hash of a
// nonce its cookie carries.
func BindSSOLogin(ctx context.Context, db *gorm.DB, sa SSOAccount, requestID, browserHash string) error {
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx.Model(&SSORequest{})).Where("id = ?", requestID).Update("browser_hash", browserHash).Error
	})
}

// FinishSSOLogin records, with the request answered, who the IdP signed in;
// the browser that started the sign-in takes the session next.
func FinishSSOLogin(ctx context.Context, db *gorm.DB, sa SSOAccount, requestID string, userID int64) error {
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		res := s.Apply(tx.Model(&SSORequest{})).
			Where("id = ? AND consumed_at IS NULL AND expires_at > ?", requestID, tenancy.Now()).
			Updates(map[string]any{"consumed_at": tenancy.Now(), "outcome_user_id": userID})
		if res.Error == nil && res.RowsAffected != 1 {
			return tenancy.ErrNotFound
		}
		return res.Error
	})
}

// ErrSSOOtherBrowser: the sign-in was finished in a browser that did not
// start it (a login CSRF), or was already taken.
var ErrSSOOtherBrowser = errors.New("this sign-in was started in another browser or already finished")

// TakeSSOLogin hands a finished sign-in to the browser that started it,
// once: it returns who to sign in.
func TakeSSOLogin(ctx context.Context, db *gorm.DB, sa SSOAccount, requestID, browserHash string) (int64, error) {
	var r struct {
		OutcomeUserID *int64
		BrowserHash   string
	}
	s := sa.sys()
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		err := s.Apply(tx.Model(&SSORequest{})).Select("outcome_user_id, browser_hash").
			Where("id = ? AND purpose IN ? AND consumed_at > ? AND taken_at IS NULL", requestID, []string{SSOLogin, SSOLinking}, tenancy.Now().Add(-5*time.Minute)).
			Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && (r.OutcomeUserID == nil || r.BrowserHash == "" || browserHash == "" ||
			subtle.ConstantTimeCompare([]byte(r.BrowserHash), []byte(browserHash)) != 1)) {
			return ErrSSOOtherBrowser
		}
		if err != nil {
			return err
		}
		res := s.Apply(tx.Model(&SSORequest{})).Where("id = ? AND taken_at IS NULL", requestID).Update("taken_at", tenancy.Now())
		if res.Error == nil && res.RowsAffected != 1 {
			return ErrSSOOtherBrowser
		}
		return res.Error
	})
	if err != nil {
		return 0, err
	}
	return *r.OutcomeUserID, nil
}
