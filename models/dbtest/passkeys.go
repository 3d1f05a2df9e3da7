package dbtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// Authenticator is a software WebAuthn authenticator for tests: one P-256
// key (ES256), "none" attestation, a discoverable credential with user
// verification. Its fields let a test misbehave on purpose.
type Authenticator struct {
	// Origin is what clientDataJSON claims the page's origin is.
	Origin string
	// RPID is the relying party ID whose hash leads authenticatorData;
	// empty: the one the options name.
	RPID string
	// Counter is the signature counter the next answer carries (it is
	// incremented before each assertion unless FixedCounter is set).
	Counter      uint32
	FixedCounter bool
	// NoUserVerification clears the UV flag.
	NoUserVerification bool

	key *ecdsa.PrivateKey
	// CredentialID and UserHandle are learned at creation.
	CredentialID []byte
	UserHandle   []byte
	rpID         string
}

// NewAuthenticator makes an authenticator for pages at origin.
func NewAuthenticator(t testing.TB, origin string) *Authenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Must(t, err)
	id := make([]byte, 16)
	_, err = rand.Read(id)
	Must(t, err)
	return &Authenticator{Origin: origin, key: key, CredentialID: id}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	Must(t, err)
	return b
}

// cbor encodings of the few shapes WebAuthn needs.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
}

func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }

// coseKey is the public key as COSE_Key: kty EC2, alg ES256, crv P-256.
func (a *Authenticator) coseKey() []byte {
	pub, _ := a.key.PublicKey.Bytes() // 0x04 || x || y
	out := []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21}
	out = append(out, cborBytes(pub[1:33])...)
	out = append(out, 0x22)
	return append(out, cborBytes(pub[33:65])...)
}

func (a *Authenticator) authData(rpID string, attested bool) []byte {
	if a.RPID != "" {
		rpID = a.RPID
	}
	h := sha256.Sum256([]byte(rpID))
	flags := byte(0x01) // user present
	if !a.NoUserVerification {
		flags |= 0x04
	}
	if attested {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.Counter)
	if attested {
		out = append(out, make([]byte, 16)...) // AAGUID: none
		out = binary.BigEndian.AppendUint16(out, uint16(len(a.CredentialID)))
		out = append(out, a.CredentialID...)
		out = append(out, a.coseKey()...)
	}
	return out
}

func (a *Authenticator) clientData(kind, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": kind, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

// Create answers navigator.credentials.create options (the server's JSON)
// with a new credential, as the browser's JSON.
func (a *Authenticator) Create(t testing.TB, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	Must(t, json.Unmarshal(options, &o))
	a.rpID, a.UserHandle = o.PublicKey.RP.ID, unb64(t, o.PublicKey.User.ID)
	att := []byte{0xa3}
	att = append(att, cborText("fmt")...)
	att = append(att, cborText("none")...)
	att = append(att, cborText("attStmt")...)
	att = append(att, 0xa0)
	att = append(att, cborText("authData")...)
	att = append(att, cborBytes(a.authData(a.rpID, true))...)
	out, err := json.Marshal(map[string]any{
		"id": b64(a.CredentialID), "rawId": b64(a.CredentialID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	Must(t, err)
	return out
}

// Get answers navigator.credentials.get options with an assertion signed
// by the key.
func (a *Authenticator) Get(t testing.TB, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	Must(t, json.Unmarshal(options, &o))
	if !a.FixedCounter {
		a.Counter++
	}
	auth := a.authData(o.PublicKey.RPID, false)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	Must(t, err)
	out, err := json.Marshal(map[string]any{
		"id": b64(a.CredentialID), "rawId": b64(a.CredentialID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64(cd), "authenticatorData": b64(auth), "signature": b64(sig), "userHandle": b64(a.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	Must(t, err)
	return out
}
