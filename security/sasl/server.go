package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"slices"
)

// Limits on what a client sends, each with its reason.
const (
	// MaxTokenBytes caps one client token. The largest a real client sends
	// is a SCRAM client-first message with a user name of MaxUserBytes,
	// each byte escaped to three ("=2C"), plus a nonce: under 4 KiB.
	MaxTokenBytes = 8 << 10
	// MaxUserBytes caps a user name. RFC 4616 asks servers to accept 255
	// octets; 1 KiB leaves room for any real name and keeps every user's
	// coordinator key well inside a NATS protocol line.
	MaxUserBytes = 1024
	// maxPasswordBytes caps a PLAIN password, which PBKDF2 hashes on every
	// round; RFC 4616 asks for 255 octets.
	maxPasswordBytes = 1024
)

var (
	// ErrUnsupportedMechanism is returned by Start for a mechanism that is
	// not enabled, and by the credential functions for one that is not
	// SCRAM.
	ErrUnsupportedMechanism = errors.New("sasl: unsupported mechanism")
	// ErrAuthenticationFailed is returned by Exchange.Step for a wrong
	// password, an unknown user, a malformed or oversized token or a
	// request Kafka's rules refuse. All look the same to the client; the
	// wrapping error says which it was, for the server's log only.
	ErrAuthenticationFailed = errors.New("sasl: authentication failed")
	// ErrInvalidCredential is returned for a credential outside Kafka's
	// limits (iterations, empty salt) or with keys of the wrong size.
	ErrInvalidCredential = errors.New("sasl: invalid credential")
	// ErrExchangeDone is returned by Exchange.Step once the exchange has
	// finished: a bug in the caller.
	ErrExchangeDone = errors.New("sasl: exchange already finished")
)

// Credentials is where a Server reads users' credentials.
type Credentials interface {
	// Credential returns user's credential for a SCRAM mechanism, or false
	// when the user has none. An error means the store could not be
	// read; the login then fails with that error rather than
	// ErrAuthenticationFailed.
	Credential(ctx context.Context, user, mechanism string) (Credential, bool, error)
}

// Exchange is the server side of one login. Step takes each token the
// client sends, in order, and returns the token to answer with; done reports
// that the exchange is over, and user is set once it succeeded. After done
// or an error, Step returns ErrExchangeDone. Not safe for concurrent use.
type Exchange interface {
	Step(ctx context.Context, token []byte) (reply []byte, done bool, user string, err error)
}

// Config configures a Server.
type Config struct {
	// Mechanisms are the mechanisms Start accepts (Kafka's
	// sasl.enabled.mechanisms), of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
	// Default: DefaultMechanisms.
	Mechanisms []string
	// Credentials are the users' credentials. Required.
	Credentials Credentials
	// Secret keys the salts made up for unknown users. Give every server of
	// a cluster the same secret, so that an unknown user gets the same salt
	// from each, as a real one does. Default: random, fine for one server.
	Secret []byte
}

// DefaultMechanisms returns the mechanisms enabled by default.
func DefaultMechanisms() []string { return []string{ScramSHA256, ScramSHA512, Plain} }

// Server starts logins. It is safe for concurrent use; each Exchange it
// returns belongs to one connection.
type Server struct {
	cfg Config
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("sasl: Config.Credentials is required")
	}
	if len(cfg.Mechanisms) == 0 {
		cfg.Mechanisms = DefaultMechanisms()
	}
	cfg.Mechanisms = slices.Clone(cfg.Mechanisms)
	for i, m := range cfg.Mechanisms {
		if m != Plain && !IsScram(m) {
			return nil, fmt.Errorf("%w %q (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", ErrUnsupportedMechanism, m)
		}
		if slices.Contains(cfg.Mechanisms[:i], m) {
			return nil, fmt.Errorf("sasl: mechanism %s listed twice", m)
		}
	}
	if len(cfg.Secret) == 0 {
		cfg.Secret = make([]byte, 32)
		if _, err := rand.Read(cfg.Secret); err != nil {
			return nil, fmt.Errorf("sasl: make a secret: %w", err)
		}
	}
	return &Server{cfg: cfg}, nil
}

// Mechanisms returns the enabled mechanisms, in configuration order.
func (s *Server) Mechanisms() []string { return slices.Clone(s.cfg.Mechanisms) }

// Start begins a login with mechanism; ErrUnsupportedMechanism when it is
// not enabled.
func (s *Server) Start(mechanism string) (Exchange, error) {
	if !slices.Contains(s.cfg.Mechanisms, mechanism) {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedMechanism, mechanism)
	}
	if mechanism == Plain {
		return &plainExchange{srv: s}, nil
	}
	return &scramExchange{srv: s, mechanism: mechanism}, nil
}

// lookup returns user's credential for mechanism, with known false and a
// made-up credential when there is none, so that the caller goes through
// the same steps for a user that does not exist.
func (s *Server) lookup(ctx context.Context, user, mechanism string) (Credential, bool, error) {
	if user == "" || len(user) > MaxUserBytes {
		return s.madeUp(user, mechanism), false, nil
	}
	c, ok, err := s.cfg.Credentials.Credential(ctx, user, mechanism)
	if err != nil {
		return Credential{}, false, fmt.Errorf("sasl: read the %s credential of %q: %w", mechanism, user, err)
	}
	if !ok {
		return s.madeUp(user, mechanism), false, nil
	}
	if c.Mechanism != mechanism {
		return Credential{}, false, fmt.Errorf("sasl: the %s credential of %q is for %s: %w", mechanism, user, c.Mechanism, ErrInvalidCredential)
	}
	if err := c.Validate(); err != nil {
		return Credential{}, false, fmt.Errorf("sasl: the %s credential of %q: %w", mechanism, user, err)
	}
	return c, true, nil
}

// madeUp is the credential an unknown user gets: its salt is keyed by the
// secret, so it is the same every time the user is tried, and its keys are
// bytes no password maps to (finding one means inverting the hash).
func (s *Server) madeUp(user, mechanism string) Credential {
	size := hashFor(mechanism)().Size()
	derive := func(label string) []byte {
		m := hmac.New(sha512.New, s.cfg.Secret)
		m.Write([]byte(label + "\x00" + mechanism + "\x00" + user))
		return m.Sum(nil)
	}
	return Credential{
		Mechanism:  mechanism,
		Salt:       derive("salt")[:saltBytes],
		Iterations: DefaultIterations,
		StoredKey:  derive("stored-key")[:size],
		ServerKey:  derive("server-key")[:size],
	}
}

// failf wraps ErrAuthenticationFailed with the reason.
func failf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAuthenticationFailed, fmt.Sprintf(format, args...))
}
