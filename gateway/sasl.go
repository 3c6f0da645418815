package gateway

// SaslHandshake: v0-v1
// SaslAuthenticate: v0-v2
//
// Behavior, after Kafka's SaslServerAuthenticator (KIP-43, KIP-152, KIP-368):
//   - On a SASL_PLAINTEXT or SASL_SSL listener a connection is served only
//     ApiVersions, SaslHandshake and SaslAuthenticate until a login
//     succeeds; any other request closes it. The exception is a
//     WriteTxnMarkers request from another gateway (its client id carries
//     the cluster secret, see peers.go): gateways send those to one
//     another's first listener without logging in.
//   - Before a login, a frame over maxPreAuthFrameBytes closes the
//     connection before anything is allocated for it.
//   - SaslHandshake names a mechanism and is answered with the enabled
//     ones (Config.SASLMechanisms). One not enabled gets
//     UNSUPPORTED_SASL_MECHANISM, and the connection is closed once the
//     answer is written; so does ILLEGAL_SASL_STATE for a handshake while
//     an exchange is under way, or a SaslAuthenticate before any handshake.
//   - After a v1 handshake the tokens travel in SaslAuthenticate requests.
//     After a v0 handshake they come as bare size-prefixed frames, with no
//     request header, and go back the same way (sarama's default); a v0
//     login that fails is closed without an answer, as in Kafka.
//   - A wrong password, an unknown user or a malformed token gets
//     SASL_AUTHENTICATION_FAILED with Kafka's message, which does not say
//     which it was, and the connection is closed once it is written.
//   - A login makes the connection's principal "User:<name>".
//   - KIP-368: with Config.ConnectionsMaxReauth set, the SaslAuthenticate
//     that completes a login (v1+) carries session_lifetime_ms. The client
//     logs in again on the same connection, between requests, with a new
//     SaslHandshake and SaslAuthenticate; the mechanism and the principal
//     must stay the same, else SASL_AUTHENTICATION_FAILED and a close. Once
//     the session has expired, any request but SaslHandshake closes the
//     connection (Kafka's SocketServer: "Disconnecting expired channel").
//     Requests in flight keep their principal, which cannot change.
//   - On a listener without SASL, and on a connection logged in for good
//     (no ConnectionsMaxReauth), SaslHandshake and SaslAuthenticate get
//     ILLEGAL_SASL_STATE and the connection stays open, as in KafkaApis.
//
// Deviations: mechanisms are PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 only,
// and PLAIN checks passwords against the users' SCRAM credentials (see
// security/sasl); Kafka refuses a re-authentication within a second of the
// last one, Strata does not.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/security/sasl"
)

// API keys the SASL gate needs by name.
const (
	saslHandshakeKey    = 17
	writeTxnMarkersKey  = 27
	saslAuthenticateKey = 36
)

// maxPreAuthFrameBytes caps a frame before a SASL login. ApiVersions, the
// handshake and tokens of at most sasl.MaxTokenBytes fit in a few KiB; the
// cap bounds what a client that has not proven who it is can make the
// gateway allocate, across MaxConnections connections. (Kafka's
// sasl.server.max.receive.size is 512 KiB.)
const maxPreAuthFrameBytes = 64 << 10

// Credentials keeps the users' salted SCRAM credentials (KIP-554);
// coordinator.Store implements it. Each write is a compare-and-swap in the
// coordinator.
type Credentials interface {
	// UserCredential returns user's credential for mechanism, or false
	// when there is none.
	UserCredential(ctx context.Context, user, mechanism string) (coordinator.UserCredential, bool, error)
	// UserCredentials returns the given users' credentials, or every
	// user's when none is given, sorted by user and mechanism.
	UserCredentials(ctx context.Context, users ...string) ([]coordinator.UserCredential, error)
	// PutUserCredential creates or replaces a credential.
	PutUserCredential(ctx context.Context, c coordinator.UserCredential) error
	// DeleteUserCredential removes a credential and reports whether
	// there was one.
	DeleteUserCredential(ctx context.Context, user, mechanism string) (bool, error)
}

var _ Credentials = (*coordinator.Store)(nil)

// saslServer is what the handshake needs of security/sasl's Server.
type saslServer interface {
	Mechanisms() []string
	Start(mechanism string) (sasl.Exchange, error)
}

// saslCredentials gives security/sasl the stored credentials.
type saslCredentials struct{ Credentials }

// SASLCredentials gives security/sasl the credentials c stores, for other
// logins against the same users (the HTTP endpoints' basic auth).
func SASLCredentials(c Credentials) sasl.Credentials { return saslCredentials{c} }

func (c saslCredentials) Credential(ctx context.Context, user, mechanism string) (sasl.Credential, bool, error) {
	uc, ok, err := c.UserCredential(ctx, user, mechanism)
	if err != nil || !ok {
		return sasl.Credential{}, false, err
	}
	return sasl.Credential{Mechanism: uc.Mechanism, Salt: uc.Salt, Iterations: uc.Iterations, StoredKey: uc.StoredKey, ServerKey: uc.ServerKey}, true, nil
}

// saslDefaults fills and checks Config's SASL fields; ensureDefaults calls
// it.
func (c *Config) saslDefaults() error {
	if len(c.SASLMechanisms) == 0 {
		c.SASLMechanisms = sasl.DefaultMechanisms()
	}
	for _, m := range c.SASLMechanisms {
		if m != sasl.Plain && !sasl.IsScram(m) {
			return fmt.Errorf("gateway: SASL mechanism %q: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
	}
	if c.ConnectionsMaxReauth < 0 {
		return errors.New("gateway: Config.ConnectionsMaxReauth is negative")
	}
	if c.Credentials == nil && slices.ContainsFunc(c.Listeners, func(l Listener) bool { return l.Protocol.SASL() }) {
		return errors.New("gateway: Config.Credentials is required with a SASL_PLAINTEXT or SASL_SSL listener")
	}
	return nil
}

// newSASLServer builds the SASL server of c's mechanisms over its
// credentials; nil without credentials.
func newSASLServer(c Config) (saslServer, error) {
	if c.Credentials == nil {
		return nil, nil
	}
	// The cluster secret, the same on every gateway, keys the salts made up
	// for unknown users, so that every gateway makes up the same one (a
	// random key when there is no secret: fine for a single gateway).
	srv, err := sasl.New(sasl.Config{Mechanisms: c.SASLMechanisms, Credentials: saslCredentials{c.Credentials}, Secret: []byte(c.ClusterSecret)})
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return srv, nil
}

// saslState is a connection's SASL login. Only the read loop touches it:
// the gate, the bare-token reads and the in-order part of the SaslHandshake
// and SaslAuthenticate handlers run there.
type saslState struct {
	// mechanism is the last handshake's, and exchange the login under way
	// since then; nil when none is.
	mechanism string
	exchange  sasl.Exchange
	// raw is set by a v0 handshake: the exchange's tokens come and go as
	// bare size-prefixed frames.
	raw bool
	// user is the logged-in user, "" before the first login, and session
	// the mechanism it logged in with.
	user, session string
	// expires is when the login lapses (KIP-368); zero when it does not.
	expires time.Time
	// closing, once set, closes the connection after the replies enqueued
	// so far are written: how Kafka ends a failed login.
	closing error
}

// preAuth reports whether the connection must still log in.
func (c *conn) preAuth() bool { return c.ln.Protocol.SASL() && c.sasl.user == "" }

// saslGate decides, from the api key alone and before the request is
// decoded, whether the connection's SASL state lets it be served. An error
// closes the connection, as Kafka's authenticator does.
func (c *conn) saslGate(key int16) error {
	if !c.ln.Protocol.SASL() {
		return nil
	}
	if key == writeTxnMarkersKey && c.s.txns != nil && c.s.txns.peers.isPeer(c.clientID) {
		return nil
	}
	st := &c.sasl
	switch {
	case st.user == "":
		if key == apiVersionsKey || key == saslHandshakeKey || key == saslAuthenticateKey {
			return nil
		}
		return fmt.Errorf("%s before SASL authentication", kmsg.NameForKey(key))
	case st.exchange != nil:
		if key == saslAuthenticateKey || key == saslHandshakeKey {
			return nil
		}
		return fmt.Errorf("%s during SASL re-authentication", kmsg.NameForKey(key))
	case !st.expires.IsZero() && !c.s.now().Before(st.expires):
		if key == saslHandshakeKey {
			return nil
		}
		return fmt.Errorf("%s after the SASL session of User:%s expired", kmsg.NameForKey(key), st.user)
	}
	return nil
}

func (s *Server) handleSASLHandshake(_ context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	st := &c.sasl
	if !c.ln.Protocol.SASL() || st.user != "" && st.exchange == nil && st.expires.IsZero() {
		// KafkaApis.handleSaslHandshakeRequest: nothing to authenticate.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return respond(resp), nil
	}
	resp.SupportedMechanisms = s.sasl.Mechanisms()
	if st.exchange != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		st.closing = errors.New("SaslHandshake during a SASL exchange")
		return respond(resp), nil
	}
	ex, err := s.sasl.Start(req.Mechanism)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		st.closing = fmt.Errorf("SaslHandshake: %w", err)
		return respond(resp), nil
	}
	st.mechanism, st.exchange, st.raw = req.Mechanism, ex, req.Version == 0
	return respond(resp), nil
}

func (s *Server) handleSASLAuthenticate(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	st := &c.sasl
	switch {
	case !c.ln.Protocol.SASL() || st.user != "" && st.exchange == nil:
		// KafkaApis.handleSaslAuthenticateRequest.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate request received after successful authentication")
		return respond(resp), nil
	case st.exchange == nil:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate request received before SaslHandshake")
		st.closing = errors.New("SaslAuthenticate before SaslHandshake")
		return respond(resp), nil
	}
	token, lifetime, msg := c.saslStep(ctx, req.SASLAuthBytes)
	if msg != "" {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &msg
		return respond(resp), nil
	}
	resp.SASLAuthBytes = token
	resp.SessionLifetimeMillis = lifetime.Milliseconds()
	return respond(resp), nil
}

// saslStep hands the client's token to the exchange under way and returns
// the answer. When the exchange completes, it logs the connection in and
// returns the session's lifetime (0: unlimited). When the login fails, it
// returns the message for the client, logs why, and closes the connection
// once the answer is written.
func (c *conn) saslStep(ctx context.Context, token []byte) (reply []byte, lifetime time.Duration, failure string) {
	st := &c.sasl
	reauth := st.user != ""
	fail := func(msg string, err error) ([]byte, time.Duration, string) {
		c.s.cfg.Logger.Debug("sasl authentication failed", "remote", c.remote, "mechanism", st.mechanism, "reauthentication", reauth, "err", err)
		st.exchange, st.raw = nil, false
		st.closing = fmt.Errorf("SASL authentication: %w", err)
		return nil, 0, msg
	}
	if reauth && st.mechanism != st.session {
		// SaslServerAuthenticator.ReauthInfo.saslMechanismUnchanged.
		msg := fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", st.mechanism, st.session)
		return fail(msg, errors.New(msg))
	}
	reply, done, user, err := st.exchange.Step(ctx, token)
	if err != nil {
		what := "authentication"
		if reauth {
			what = "re-authentication"
		}
		// Kafka's answer to any failed credential check: it does not say
		// whether the user exists.
		return fail(fmt.Sprintf("Authentication failed during %s due to invalid credentials with SASL mechanism %s", what, st.mechanism), err)
	}
	if !done {
		return reply, 0, ""
	}
	if reauth && user != st.user {
		// ReauthInfo.ensurePrincipalUnchanged.
		msg := fmt.Sprintf("Cannot change principals during re-authentication from User.%s: User.%s", st.user, user)
		return fail(msg, errors.New(msg))
	}
	st.exchange, st.raw = nil, false
	st.user, st.session = user, st.mechanism
	c.setPrincipal("User:" + user)
	st.expires = time.Time{}
	if d := c.s.cfg.ConnectionsMaxReauth; d > 0 {
		st.expires, lifetime = c.s.now().Add(d), d
	}
	return reply, lifetime, ""
}

// saslToken reads a bare token of size bytes (after a v0 SaslHandshake) and
// answers it the same way. A failed login has no answer in this framing, so
// the connection just closes, as in Kafka.
func (c *conn) saslToken(ctx context.Context, size int32) (err error) {
	if size < 0 || size > sasl.MaxTokenBytes {
		return fmt.Errorf("SASL token of %d bytes, limit %d", size, sasl.MaxTokenBytes)
	}
	token := make([]byte, size)
	if _, err := io.ReadFull(c.nc, token); err != nil {
		return err
	}
	// As start does for requests: a panic closes only this connection.
	defer func() {
		if v := recover(); v != nil {
			c.s.cfg.Logger.Error("panic serving request", "remote", c.remote, "api", "SASL token", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic serving a SASL token: %v", v)
		}
	}()
	reply, _, failure := c.saslStep(ctx, token)
	if failure != "" {
		return c.sasl.closing
	}
	return c.enqueueToken(ctx, reply)
}
