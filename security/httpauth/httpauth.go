// Package httpauth puts HTTP basic authentication in front of Strata's HTTP
// endpoints (the admin endpoint with /metrics, and the schema registry),
// checked against the same users as the Kafka listeners: the password is
// checked as a SASL/PLAIN login, against the user's salted SCRAM credential.
//
// Checking a password costs a PBKDF2 of the credential's iterations (4096 or
// more), milliseconds of CPU, and HTTP clients send the password with every
// request; so a successful check is remembered for CacheTTL, keyed by a
// SHA-256 of the user name and password (the password itself is never kept).
// A password changed meanwhile is thus still accepted for up to CacheTTL, as
// a Kafka connection authenticated before the change stays open. Failed
// checks are not remembered.
package httpauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stratalog/strata/security/sasl"
)

// DefaultCacheTTL is Config.CacheTTL's default.
const DefaultCacheTTL = 30 * time.Second

// maxCached bounds the remembered logins; beyond it the oldest are dropped.
const maxCached = 10000

// Config configures an Authenticator.
type Config struct {
	// Credentials are the users' SCRAM credentials (the coordinator's).
	// Required.
	Credentials sasl.Credentials
	// Secret keys the made-up credentials of unknown users (see
	// sasl.Config.Secret).
	Secret []byte
	// Realm is named in the WWW-Authenticate challenge. Default "strata".
	Realm string
	// Open, if set, names requests served without a login (/healthz).
	Open func(*http.Request) bool
	// CacheTTL is how long a successful check is remembered. Default
	// DefaultCacheTTL.
	CacheTTL time.Duration
	Logger   *slog.Logger
}

// Authenticator checks HTTP basic credentials.
type Authenticator struct {
	cfg    Config
	logins *sasl.Server
	now    func() time.Time

	mu     sync.Mutex
	cached map[[sha256.Size]byte]time.Time // login hash → expiry
}

// New returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("httpauth: Config.Credentials is required")
	}
	if cfg.Realm == "" {
		cfg.Realm = "strata"
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	logins, err := sasl.New(sasl.Config{Mechanisms: []string{sasl.Plain}, Credentials: cfg.Credentials, Secret: cfg.Secret})
	if err != nil {
		return nil, fmt.Errorf("httpauth: %w", err)
	}
	return &Authenticator{cfg: cfg, logins: logins, now: time.Now, cached: map[[sha256.Size]byte]time.Time{}}, nil
}

type principalKey struct{}

// Principal returns the principal ("User:alice") a request authenticated
// as, and false for a request served without a login.
func Principal(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(principalKey{}).(string)
	return p, ok
}

// Wrap serves next only to requests with valid basic credentials (or that
// Config.Open lets through), with their principal in the request context.
// Others get 401 with a Basic challenge.
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if a.cfg.Open != nil && a.cfg.Open(req) {
			next.ServeHTTP(w, req)
			return
		}
		user, password, ok := req.BasicAuth()
		if ok {
			if err := a.check(req.Context(), user, password); err != nil {
				ok = false
				if !errors.Is(err, sasl.ErrAuthenticationFailed) {
					a.cfg.Logger.Warn("check http credentials", "user", user, "err", err)
				}
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", a.cfg.Realm))
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), principalKey{}, "User:"+user)))
	})
}

// check verifies a user's password, from the cache when it can.
func (a *Authenticator) check(ctx context.Context, user, password string) error {
	key := sha256.Sum256([]byte(user + "\x00" + password))
	now := a.now()
	a.mu.Lock()
	expiry, hit := a.cached[key]
	a.mu.Unlock()
	if hit && now.Before(expiry) {
		return nil
	}
	ex, err := a.logins.Start(sasl.Plain)
	if err != nil {
		return err
	}
	token := append(append([]byte{0}, user...), 0)
	if _, _, _, err := ex.Step(ctx, append(token, password...)); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cached) >= maxCached {
		for k, exp := range a.cached {
			if !now.Before(exp) || len(a.cached) >= maxCached {
				delete(a.cached, k)
			}
		}
	}
	a.cached[key] = now.Add(a.cfg.CacheTTL)
	return nil
}
