package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
)

// The mechanisms, by their IANA names.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Iteration counts of SCRAM credentials, as Kafka bounds them
// (ScramMechanism.minIterations, and the 16384 maximum that
// AlterUserScramCredentials enforces).
const (
	MinIterations     = 4096
	MaxIterations     = 16384
	DefaultIterations = MinIterations
)

// saltBytes is the length of the salts NewCredential makes, and of those
// made up for unknown users: 24 bytes, as franz-go's kadm makes them, so a
// made-up salt looks like most real ones.
const saltBytes = 24

// maxSaltBytes caps a stored salt. RFC 5802 sets no bound; this keeps a
// credential (and the server-first message that carries its salt) small.
const maxSaltBytes = 1024

// Credential is one user's salted credential for one SCRAM mechanism
// (RFC 5802 §3): what the server needs to check a proof and to prove itself,
// never the password. Byte fields are base64 in JSON.
type Credential struct {
	Mechanism  string `json:"mechanism"`
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// hashFor returns the hash of a SCRAM mechanism, nil for any other.
func hashFor(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// IsScram reports whether mechanism is one of the SCRAM mechanisms.
func IsScram(mechanism string) bool { return hashFor(mechanism) != nil }

// NewCredential salts password for mechanism (SCRAM-SHA-256 or
// SCRAM-SHA-512) with a random salt and iterations rounds of PBKDF2;
// iterations 0 means DefaultIterations. The password is used as its UTF-8
// bytes, without SASLprep, as Kafka's ScramFormatter and franz-go do.
func NewCredential(mechanism, password string, iterations int) (Credential, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	h := hashFor(mechanism)
	if h == nil {
		return Credential{}, fmt.Errorf("%w %q", ErrUnsupportedMechanism, mechanism)
	}
	if err := checkIterations(iterations); err != nil {
		return Credential{}, err
	}
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return Credential{}, fmt.Errorf("sasl: make a salt: %w", err)
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return Credential{}, fmt.Errorf("sasl: salt the password: %w", err)
	}
	return FromSaltedPassword(mechanism, salt, salted, iterations)
}

// FromSaltedPassword makes the credential whose salted password
// (PBKDF2 of the password with salt and iterations, as a client computes it
// for AlterUserScramCredentials) is salted.
func FromSaltedPassword(mechanism string, salt, salted []byte, iterations int) (Credential, error) {
	h := hashFor(mechanism)
	if h == nil {
		return Credential{}, fmt.Errorf("%w %q", ErrUnsupportedMechanism, mechanism)
	}
	if err := checkIterations(iterations); err != nil {
		return Credential{}, err
	}
	if len(salt) == 0 || len(salt) > maxSaltBytes || len(salted) == 0 {
		return Credential{}, fmt.Errorf("%w: salt of %d bytes (want 1..%d) and salted password of %d",
			ErrInvalidCredential, len(salt), maxSaltBytes, len(salted))
	}
	stored, server := keys(h, salted)
	return Credential{
		Mechanism:  mechanism,
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored,
		ServerKey:  server,
	}, nil
}

// Validate checks that c can take part in a login: a SCRAM mechanism,
// iterations in range, and keys of its hash's size.
func (c Credential) Validate() error {
	h := hashFor(c.Mechanism)
	if h == nil {
		return fmt.Errorf("%w %q", ErrUnsupportedMechanism, c.Mechanism)
	}
	if err := checkIterations(c.Iterations); err != nil {
		return err
	}
	size := h().Size()
	if len(c.Salt) == 0 || len(c.Salt) > maxSaltBytes || len(c.StoredKey) != size || len(c.ServerKey) != size {
		return fmt.Errorf("%w: %s credential with a salt of %d bytes and keys of %d and %d",
			ErrInvalidCredential, c.Mechanism, len(c.Salt), len(c.StoredKey), len(c.ServerKey))
	}
	return nil
}

// Verify reports whether password is the one c was made from: it salts
// password as the credential's was and compares the StoredKey it yields, in
// constant time. It costs c.Iterations rounds of PBKDF2.
func (c Credential) Verify(password string) (bool, error) {
	if err := c.Validate(); err != nil {
		return false, err
	}
	h := hashFor(c.Mechanism)
	salted, err := pbkdf2.Key(h, password, c.Salt, c.Iterations, h().Size())
	if err != nil {
		return false, fmt.Errorf("sasl: salt the password: %w", err)
	}
	stored, _ := keys(h, salted)
	return subtle.ConstantTimeCompare(stored, c.StoredKey) == 1, nil
}

// keys derives StoredKey = H(HMAC(salted, "Client Key")) and ServerKey =
// HMAC(salted, "Server Key") (RFC 5802 §3).
func keys(h func() hash.Hash, salted []byte) (stored, server []byte) {
	clientKey := mac(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return sum.Sum(nil), mac(h, salted, "Server Key")
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func checkIterations(n int) error {
	if n < MinIterations || n > MaxIterations {
		return fmt.Errorf("%w: %d iterations, want %d..%d", ErrInvalidCredential, n, MinIterations, MaxIterations)
	}
	return nil
}
