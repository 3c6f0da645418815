package gateway

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/testenv"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// saslGateway is a gateway whose first listener is SASL_PLAINTEXT (or
// SASL_SSL, with a test CA), with a second, PLAINTEXT listener for
// administration, and its credentials in the backend's coordinator.
type saslGateway struct {
	*testServer
	saslAddr, plainAddr string
	clientTLS           *tls.Config // for SASL_SSL
	saslListener        *countingListener
	reg                 *prometheus.Registry
}

type saslOpts struct {
	ssl        bool
	mechanisms []string
	reauth     time.Duration
	configure  func(*Config)
}

func startSASLGateway(t testing.TB, b *backend, o saslOpts) *saslGateway {
	t.Helper()
	g := &saslGateway{reg: prometheus.NewRegistry()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.saslListener = &countingListener{Listener: ln}
	saslLn := Listener{Name: "CLIENT", Protocol: SASLPlaintext, Listener: g.saslListener}
	if o.ssl {
		ca := testenv.NewCA(t, "strata-test-ca")
		certPEM, keyPEM := ca.Issue(t, "gateway", 2)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		saslLn.Protocol = SASLSSL
		saslLn.Listener = tls.NewListener(g.saslListener, &tls.Config{Certificates: []tls.Certificate{cert}})
		g.clientTLS = ca.ClientConfig(t, "")
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.saslAddr, g.plainAddr = ln.Addr().String(), pln.Addr().String()
	g.testServer = b.gateway(t, serverOpts{
		listeners: []Listener{saslLn, {Name: "ADMIN", Protocol: Plaintext, Listener: pln}},
		configure: func(c *Config) {
			c.Credentials = b.store
			c.SASLMechanisms = o.mechanisms
			c.ConnectionsMaxReauth = o.reauth
			c.Registerer = g.reg
			if o.configure != nil {
				o.configure(c)
			}
		},
	}, 0, "", false)
	return g
}

// plainClient is a client of the PLAINTEXT listener, and admin its admin
// client.
func (g *saslGateway) plainClient(t testing.TB) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.plainAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (g *saslGateway) admin(t testing.TB) *kadm.Client { return kadm.NewClient(g.plainClient(t)) }

// saslClient is a client of the SASL listener logging in with m.
func (g *saslGateway) saslClient(t testing.TB, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(g.saslAddr), kgo.SASL(m), kgo.RetryTimeout(5 * time.Second)}
	if g.clientTLS != nil {
		base = append(base, kgo.DialTLSConfig(g.clientTLS.Clone()))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// requestCounts is how many requests of each api the gateway has decoded,
// by api name.
func (g *saslGateway) requestCounts(t testing.TB) map[string]float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "strata_gateway_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" {
					counts[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}

func upsertUsers(t testing.TB, adm *kadm.Client, users ...kadm.UpsertSCRAM) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, users)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil || len(res) == 0 {
		t.Fatalf("alter user SCRAM credentials: %v (%d results)", err, len(res))
	}
}

// endOffset is the topic's partition 0 end offset, read over PLAINTEXT.
func endOffset(t testing.TB, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

// produceAndConsume writes n records labelled label with m and reads them
// back with m.
func produceAndConsume(t *testing.T, g *saslGateway, m sasl.Mechanism, topic, label string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := g.saslClient(t, m)
	var want []string
	for i := range n {
		v := fmt.Sprintf("%s-%d", label, i)
		want = append(want, v)
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce with %s: %v", m.Name(), err)
		}
	}
	c := g.saslClient(t, m, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < len(want) {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume with %s: %v", m.Name(), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v := string(r.Value); strings.HasPrefix(v, label+"-") {
				got = append(got, v)
			}
		})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %v with %s, want %v", got, m.Name(), want)
	}
}

// TestSASLProduceConsume logs in with each mechanism on SASL_PLAINTEXT and
// SASL_SSL listeners, with credentials made through kadm on the PLAINTEXT
// listener, and produces and consumes records.
func TestSASLProduceConsume(t *testing.T) {
	for _, ssl := range []bool{false, true} {
		name := "SASL_PLAINTEXT"
		if ssl {
			name = "SASL_SSL"
		}
		t.Run(name, func(t *testing.T) {
			g := startSASLGateway(t, newBackend(t, 0), saslOpts{ssl: ssl})
			createTestTopic(t, g.testServer, "orders", 1, nil)
			adm := g.admin(t)
			upsertUsers(t, adm,
				kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-pw"},
				kadm.UpsertSCRAM{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-pw"},
				kadm.UpsertSCRAM{User: "carol", Mechanism: kadm.ScramSha256, Password: "carol-pw"},
				kadm.UpsertSCRAM{User: "carol", Mechanism: kadm.ScramSha512, Password: "carol-pw"},
			)
			described, err := adm.DescribeUserSCRAMs(context.Background())
			if err != nil || described.Error() != nil {
				t.Fatalf("describe: %v, %v", err, described.Error())
			}
			for user, want := range map[string][]kadm.CredInfo{
				"alice": {{Mechanism: kadm.ScramSha256, Iterations: 4096}},
				"bob":   {{Mechanism: kadm.ScramSha512, Iterations: 8192}},
				"carol": {{Mechanism: kadm.ScramSha256, Iterations: 4096}, {Mechanism: kadm.ScramSha512, Iterations: 4096}},
			} {
				if got := described[user].CredInfos; !slices.Equal(got, want) {
					t.Errorf("described %s: %+v, want %+v", user, got, want)
				}
			}
			if len(described) != 3 {
				t.Errorf("described %d users, want 3", len(described))
			}

			produceAndConsume(t, g, scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha256Mechanism(), "orders", "scram256-alice", 3)
			produceAndConsume(t, g, scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism(), "orders", "scram512-bob", 3)
			produceAndConsume(t, g, plain.Auth{User: "carol", Pass: "carol-pw"}.AsMechanism(), "orders", "plain-carol", 3)
			produceAndConsume(t, g, plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism(), "orders", "plain-alice", 3)
			if got := endOffset(t, adm, "orders"); got != 12 {
				t.Fatalf("end offset %d, want 12", got)
			}
		})
	}
}

// TestSASLLoginFailures checks that a wrong password, an unknown user and a
// disabled mechanism fail the login with the Kafka error a client expects,
// and that nothing gets written.
func TestSASLLoginFailures(t *testing.T) {
	b := newBackend(t, 0)
	g := startSASLGateway(t, b, saslOpts{mechanisms: []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}})
	createTestTopic(t, g.testServer, "t", 1, nil)
	adm := g.admin(t)
	upsertUsers(t, adm, kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-pw"})

	for _, tc := range []struct {
		name string
		m    sasl.Mechanism
		want *kerr.Error
	}{
		{"wrong password", scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed},
		{"unknown user", scram.Auth{User: "mallory", Pass: "alice-pw"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed},
		{"no credential for the mechanism", scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha256Mechanism(), kerr.SaslAuthenticationFailed},
		{"disabled mechanism", plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism(), kerr.UnsupportedSaslMechanism},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := g.saslClient(t, tc.m, kgo.RecordDeliveryTimeout(time.Second))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
			if !errors.Is(err, tc.want) {
				t.Fatalf("metadata: %v, want %v", err, tc.want)
			}
			err = cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr()
			if err == nil {
				t.Fatal("produce succeeded")
			}
		})
	}
	if got := endOffset(t, adm, "t"); got != 0 {
		t.Fatalf("end offset %d after failed logins, want 0", got)
	}
}

// rawSASL is a raw connection with requests that report errors rather than
// failing the test, for connections the gateway is expected to close.
type rawSASL struct {
	*rawConn
	clientID string
}

func dialSASL(t testing.TB, addr string) *rawSASL {
	t.Helper()
	return &rawSASL{rawConn: dial(t, addr), clientID: "test"}
}

func (c *rawSASL) send(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	resp, err := c.try(req)
	if err != nil {
		c.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func (c *rawSASL) try(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(c.clientID))
	if _, err := c.conn.Write(f.AppendRequest(nil, req, c.corr)); err != nil {
		return nil, err
	}
	body, err := c.readFrame()
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	return c.decode(body, resp, resp.IsFlexible() && req.Key() != apiVersionsKey), nil
}

// token writes a bare size-prefixed token (after a v0 handshake).
func (c *rawSASL) token(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b)))); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func handshake(version int16, mechanism string) *kmsg.SASLHandshakeRequest {
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mechanism
	return req
}

func authenticate(version int16, token string) *kmsg.SASLAuthenticateRequest {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, []byte(token)
	return req
}

// loginPlain logs c in as user with PLAIN over v1 handshake and v2
// authenticate, and returns the answer.
func (c *rawSASL) loginPlain(user, password string) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	if resp := c.send(handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
		c.t.Fatalf("handshake: error %d", resp.ErrorCode)
	}
	return c.send(authenticate(2, "\x00"+user+"\x00"+password)).(*kmsg.SASLAuthenticateResponse)
}

func metadata() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 9
	return req
}

// TestSASLRawGate drives the SASL listener's state machine with raw
// requests: the pre-authentication gate and frame cap, the error codes and
// when the connection closes, and the v0 handshake's bare tokens.
func TestSASLRawGate(t *testing.T) {
	g := startSASLGateway(t, newBackend(t, 0), saslOpts{})
	upsertUsers(t, g.admin(t), kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-pw"})

	t.Run("metadata before login closes", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		if resp := c.send(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
			t.Fatalf("ApiVersions before login: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
		}
		if _, err := c.try(metadata()); err == nil {
			t.Fatal("metadata before login was answered")
		}
		c.requireClosed()
	})
	t.Run("oversized frame before login closes", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		// An ApiVersions frame claiming 1 MiB: the gateway must close
		// without reading (or allocating) the body, which never comes.
		head := binary.BigEndian.AppendUint32(nil, 1<<20)
		head = binary.BigEndian.AppendUint16(head, apiVersionsKey)
		head = binary.BigEndian.AppendUint16(head, 3)
		if _, err := c.conn.Write(head); err != nil {
			t.Fatal(err)
		}
		c.requireClosed()
		// The same size after a login is only a (truncated) request.
		c = dialSASL(t, g.saslAddr)
		if resp := c.loginPlain("alice", "alice-pw"); resp.ErrorCode != 0 {
			t.Fatalf("login: %d", resp.ErrorCode)
		}
		if _, err := c.conn.Write(head); err != nil {
			t.Fatal(err)
		}
		if err := c.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		var ne net.Error
		if _, err := c.conn.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("after login, a 1 MiB header was refused at once: %v", err)
		}
	})
	t.Run("authenticate before handshake", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		resp := c.send(authenticate(2, "\x00alice\x00alice-pw")).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("error %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		c.requireClosed()
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		resp := c.send(handshake(1, "GSSAPI")).(*kmsg.SASLHandshakeResponse)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || !slices.Equal(resp.SupportedMechanisms, []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}) {
			t.Fatalf("error %d, mechanisms %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
		c.requireClosed()
	})
	t.Run("second handshake mid-exchange", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		c.send(handshake(1, "SCRAM-SHA-256"))
		if resp := c.send(authenticate(2, "n,,n=alice,r=abcdef")).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != 0 || len(resp.SASLAuthBytes) == 0 {
			t.Fatalf("client-first: error %d, %q", resp.ErrorCode, resp.SASLAuthBytes)
		}
		if resp := c.send(handshake(1, "SCRAM-SHA-256")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: error %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		c.requireClosed()
	})
	t.Run("wrong password", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		resp := c.loginPlain("alice", "nope")
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil ||
			*resp.ErrorMessage != "Authentication failed during authentication due to invalid credentials with SASL mechanism PLAIN" {
			t.Fatalf("error %d, message %v", resp.ErrorCode, resp.ErrorMessage)
		}
		c.requireClosed()
	})
	t.Run("login, then handshake again", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		if resp := c.loginPlain("alice", "alice-pw"); resp.ErrorCode != 0 || resp.SessionLifetimeMillis != 0 {
			t.Fatalf("login: error %d, lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
		}
		c.send(metadata())
		// Logged in for good: as KafkaApis, ILLEGAL_SASL_STATE, and the
		// connection stays.
		if resp := c.send(handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake after login: error %d", resp.ErrorCode)
		}
		if resp := c.send(authenticate(2, "x")).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("authenticate after login: error %d", resp.ErrorCode)
		}
		c.send(metadata())
	})
	t.Run("v0 handshake, bare PLAIN token", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		if resp := c.send(handshake(0, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
			t.Fatalf("handshake v0: error %d", resp.ErrorCode)
		}
		c.token([]byte("\x00alice\x00alice-pw"))
		if err := c.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		var answer [4]byte
		if _, err := io.ReadFull(c.conn, answer[:]); err != nil || answer != [4]byte{} {
			t.Fatalf("answer to the PLAIN token: %v, %v; want an empty token", answer, err)
		}
		if resp := c.send(metadata()).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
			t.Fatalf("metadata after a v0 login: %+v", resp.Brokers)
		}
	})
	t.Run("v0 handshake, wrong password", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		c.send(handshake(0, "PLAIN"))
		c.token([]byte("\x00alice\x00nope"))
		c.requireClosed()
	})
	t.Run("PLAINTEXT listener", func(t *testing.T) {
		c := dialSASL(t, g.plainAddr)
		if resp := c.send(handshake(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake: error %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		if resp := c.send(authenticate(2, "x")).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("authenticate: error %d, want ILLEGAL_SASL_STATE", resp.ErrorCode)
		}
		c.send(metadata())
	})
}

// TestSASLPeerMarkersSkipLogin checks that another gateway's WriteTxnMarkers
// (its client id carries the cluster secret) is served on a SASL first
// listener without a login, and that the same request from anyone else
// closes the connection.
func TestSASLPeerMarkersSkipLogin(t *testing.T) {
	b := newBackend(t, 0)
	g := startSASLGateway(t, b, saslOpts{configure: func(c *Config) {
		c.Transactions, c.ClusterSecret = b.store, "test-secret"
	}})
	markers := func() *kmsg.WriteTxnMarkersRequest {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Version = 1
		return req
	}
	peer := dialSASL(t, g.saslAddr)
	peer.clientID = peerClientIDPrefix + "test-secret"
	if _, err := peer.try(markers()); err != nil {
		t.Fatalf("markers from a gateway: %v", err)
	}
	other := dialSASL(t, g.saslAddr)
	other.clientID = peerClientIDPrefix + "guess"
	if _, err := other.try(markers()); err == nil {
		t.Fatal("markers from a client were answered before a login")
	}
	other.requireClosed()
}

// TestSASLReauthenticationFranz has franz-go produce for three session
// lifetimes: it logs in again on its connections by itself, from
// session_lifetime_ms, and never needs a new connection.
func TestSASLReauthenticationFranz(t *testing.T) {
	g := startSASLGateway(t, newBackend(t, 0), saslOpts{reauth: 2 * time.Second})
	createTestTopic(t, g.testServer, "t", 1, nil)
	upsertUsers(t, g.admin(t), kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-pw"})

	cl := g.saslClient(t, scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	conns, handshakes := g.saslListener.accepted.Load(), g.requestCounts(t)[kmsg.NameForKey(saslHandshakeKey)]
	n := 1
	for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); n++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
	}
	if got := g.saslListener.accepted.Load(); got != conns {
		t.Errorf("%d connections after the first produce, %d after six seconds: re-authentication opened new ones", conns, got)
	}
	if got := g.requestCounts(t)[kmsg.NameForKey(saslHandshakeKey)] - handshakes; got < 3 {
		t.Errorf("%v handshakes in six seconds of 2 s sessions, want at least 3", got)
	}
	if got := endOffset(t, g.admin(t), "t"); got != int64(n) {
		t.Fatalf("end offset %d, want %d", got, n)
	}
}

// TestSASLReauthenticationRaw checks KIP-368 from the wire: the session
// lifetime in the answer, a re-login on the same connection, a re-login as
// someone else or with another mechanism refused, and a connection that
// does not log in again closed at its first request after expiry.
func TestSASLReauthenticationRaw(t *testing.T) {
	g := startSASLGateway(t, newBackend(t, 0), saslOpts{reauth: time.Second})
	upsertUsers(t, g.admin(t),
		kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-pw"},
		kadm.UpsertSCRAM{User: "bob", Mechanism: kadm.ScramSha256, Password: "bob-pw"},
	)
	login := func(c *rawSASL, user, password string) {
		t.Helper()
		resp := c.loginPlain(user, password)
		if resp.ErrorCode != 0 || resp.SessionLifetimeMillis != 1000 {
			t.Fatalf("login as %s: error %d, lifetime %d ms; want 1000", user, resp.ErrorCode, resp.SessionLifetimeMillis)
		}
	}
	// closedByExpiry polls with metadata requests until the gateway
	// closes the connection; before expiry each is answered.
	closedByExpiry := func(c *rawSASL) {
		t.Helper()
		testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
			if _, err := c.try(metadata()); err != nil {
				return nil
			}
			return errors.New("still served")
		})
	}

	t.Run("re-login keeps the connection", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		login(c, "alice", "alice-pw")
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			c.send(metadata())
			login(c, "alice", "alice-pw")
		}
		c.send(metadata())
	})
	t.Run("after expiry, a handshake still logs in again", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		login(c, "alice", "alice-pw")
		// Wait out the session without a request the gateway would
		// close on: ApiVersions before login only.
		expired := time.Now().Add(1100 * time.Millisecond)
		testenv.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
			if time.Now().Before(expired) {
				return errors.New("session not expired yet")
			}
			return nil
		})
		login(c, "alice", "alice-pw")
		c.send(metadata())
	})
	t.Run("someone else", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		login(c, "alice", "alice-pw")
		resp := c.loginPlain("bob", "bob-pw")
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != "Cannot change principals during re-authentication from User.alice: User.bob" {
			t.Fatalf("re-login as bob: error %d, %v", resp.ErrorCode, resp.ErrorMessage)
		}
		c.requireClosed()
	})
	t.Run("another mechanism", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		login(c, "alice", "alice-pw")
		c.send(handshake(1, "SCRAM-SHA-256"))
		resp := c.send(authenticate(2, "n,,n=alice,r=abc")).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("re-login with SCRAM: error %d", resp.ErrorCode)
		}
		c.requireClosed()
	})
	t.Run("no re-login", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		login(c, "alice", "alice-pw")
		closedByExpiry(c)
	})
	t.Run("no re-login after a v0 login", func(t *testing.T) {
		c := dialSASL(t, g.saslAddr)
		c.send(handshake(0, "PLAIN"))
		c.token([]byte("\x00alice\x00alice-pw"))
		if _, err := c.readFrame(); err != nil {
			t.Fatal(err)
		}
		closedByExpiry(c)
	})
}

// TestSASLCredentialsPersist makes a user through one gateway and logs in
// through another on the same coordinator.
func TestSASLCredentialsPersist(t *testing.T) {
	b := newBackend(t, 0)
	g1 := startSASLGateway(t, b, saslOpts{})
	upsertUsers(t, g1.admin(t), kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-pw"})
	g2 := startSASLGateway(t, b, saslOpts{})
	createTestTopic(t, g2.testServer, "t2", 1, nil)
	produceAndConsume(t, g2, scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha512Mechanism(), "t2", "scram", 2)
	produceAndConsume(t, g2, plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism(), "t2", "plain", 2)
}

// TestSASLConfig checks New's checks of the SASL fields.
func TestSASLConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := startServer(t, serverOpts{})
	base := func() Config {
		return Config{ClusterID: "c", Topics: s.store, TopicAdmin: s.store, ProducerIDs: s.store, Logs: s.log, Offsets: s.store,
			Listeners: []Listener{{Name: "CLIENT", Protocol: SASLPlaintext, Listener: ln}}}
	}
	for name, change := range map[string]func(*Config){
		"no credentials with a SASL listener": func(*Config) {},
		"unknown mechanism":                   func(c *Config) { c.Credentials, c.SASLMechanisms = s.store, []string{"GSSAPI"} },
		"negative reauth":                     func(c *Config) { c.Credentials, c.ConnectionsMaxReauth = s.store, -time.Second },
	} {
		cfg := base()
		change(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	cfg := base()
	cfg.Credentials = s.store
	if _, err := New(cfg); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
