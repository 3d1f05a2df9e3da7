package tenancy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/google/uuid"
)

// NewUUID is the opaque public ID of users and accounts.
func NewUUID() string { return uuid.NewString() }

// NewObjectID is the opaque public ID of resources: 24 lower-case hex
// characters (96 random bits), the shape the platform API uses.
func NewObjectID() string { return hex.EncodeToString(RandomBytes(12)) }

// NewToken returns a URL-safe secret with 256 bits of randomness.
func NewToken() string { return base64.RawURLEncoding.EncodeToString(RandomBytes(32)) }

// HashToken is how secrets (session IDs, email links, API keys) are stored:
// SHA-256, hex. The secrets are random, so no salt or slow hash is needed.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RandomBytes returns n bytes from crypto/rand; it panics only if the
// system's random source fails, which it does not on supported platforms.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return b
}
