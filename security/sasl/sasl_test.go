package sasl

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
)

// memCredentials keeps credentials in a map, and can fail every read: the
// store's I/O failure, which the coordinator cannot produce on demand.
type memCredentials struct {
	mu    sync.Mutex
	creds map[string]Credential // by mechanism and user
	err   error
	reads int
}

func (m *memCredentials) Credential(_ context.Context, user, mechanism string) (Credential, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.err != nil {
		return Credential{}, false, m.err
	}
	c, ok := m.creds[mechanism+"\x00"+user]
	return c, ok, nil
}

func (m *memCredentials) add(tb testing.TB, user, mechanism, password string, iterations int) {
	tb.Helper()
	c, err := NewCredential(mechanism, password, iterations)
	if err != nil {
		tb.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.creds == nil {
		m.creds = map[string]Credential{}
	}
	m.creds[mechanism+"\x00"+user] = c
}

// newTestServer has alice (password "alice-secret") for both SCRAM
// mechanisms and bob ("bob-secret") for SCRAM-SHA-256 only.
func newTestServer(tb testing.TB, mechanisms ...string) (*Server, *memCredentials) {
	tb.Helper()
	creds := &memCredentials{}
	creds.add(tb, "alice", ScramSHA256, "alice-secret", 0)
	creds.add(tb, "alice", ScramSHA512, "alice-secret", 8192)
	creds.add(tb, "bob", ScramSHA256, "bob-secret", 0)
	srv, err := New(Config{Credentials: creds, Mechanisms: mechanisms, Secret: []byte("test secret")})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, creds
}

func TestNewCredential(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mechanism  string
		iterations int
		want       error
		wantIters  int
	}{
		{"sha256 default", ScramSHA256, 0, nil, 4096},
		{"sha512 max", ScramSHA512, 16384, nil, 16384},
		{"too few", ScramSHA256, 4095, ErrInvalidCredential, 0},
		{"too many", ScramSHA512, 16385, ErrInvalidCredential, 0},
		{"plain", Plain, 4096, ErrUnsupportedMechanism, 0},
		{"unknown", "SCRAM-SHA-1", 4096, ErrUnsupportedMechanism, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCredential(tc.mechanism, "pw", tc.iterations)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if c.Iterations != tc.wantIters || len(c.Salt) != saltBytes || c.Validate() != nil {
				t.Fatalf("credential %+v: iterations want %d, salt of %d bytes, validate %v", c, tc.wantIters, len(c.Salt), c.Validate())
			}
			for pw, want := range map[string]bool{"pw": true, "pW": false, "": false} {
				if ok, err := c.Verify(pw); err != nil || ok != want {
					t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
				}
			}
		})
	}
}

// TestFromSaltedPassword checks that a salted password computed as a client
// computes it for AlterUserScramCredentials (franz-go's kadm: PBKDF2 of the
// raw password) gives a credential the password verifies against.
func TestFromSaltedPassword(t *testing.T) {
	salt := []byte("0123456789abcdefghijklmn")
	s256, _ := pbkdf2.Key(sha256.New, "pw", salt, 4096, sha256.Size)
	s512, _ := pbkdf2.Key(sha512.New, "pw", salt, 5000, sha512.Size)
	for mech, salted := range map[string][]byte{ScramSHA256: s256, ScramSHA512: s512} {
		iters := 4096
		if mech == ScramSHA512 {
			iters = 5000
		}
		c, err := FromSaltedPassword(mech, salt, salted, iters)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := c.Verify("pw"); !ok || err != nil {
			t.Errorf("%s: Verify = %v, %v", mech, ok, err)
		}
	}
	if _, err := FromSaltedPassword(ScramSHA256, nil, s256, 4096); !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("empty salt: %v, want ErrInvalidCredential", err)
	}
}

// login runs a whole exchange with xdg-go's client and returns the user the
// server authenticated, or the server's error.
func loginXDG(t *testing.T, srv *Server, mechanism, user, password string) (string, error) {
	t.Helper()
	h := xscram.SHA256
	if mechanism == ScramSHA512 {
		h = xscram.SHA512
	}
	client, err := h.NewClientUnprepped(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	ex, err := srv.Start(mechanism)
	if err != nil {
		return "", err
	}
	msg, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	for {
		reply, done, got, err := ex.Step(context.Background(), []byte(msg))
		if err != nil {
			return "", err
		}
		msg, err = conv.Step(string(reply))
		if err != nil {
			t.Fatalf("client refused the server's message %q: %v", reply, err)
		}
		if done {
			if !conv.Valid() {
				t.Fatal("client did not verify the server's signature")
			}
			return got, nil
		}
	}
}

// loginFranz runs a whole exchange with franz-go's client, as the gateway's
// users will.
func loginFranz(t *testing.T, srv *Server, mechanism, user, password string) (string, error) {
	t.Helper()
	auth := scram.Auth{User: user, Pass: password}
	m := auth.AsSha256Mechanism()
	if mechanism == ScramSHA512 {
		m = auth.AsSha512Mechanism()
	}
	sess, msg, err := m.Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := srv.Start(mechanism)
	if err != nil {
		return "", err
	}
	for {
		reply, done, got, err := ex.Step(context.Background(), msg)
		if err != nil {
			return "", err
		}
		clientDone, next, err := sess.Challenge(reply)
		if err != nil {
			t.Fatalf("client refused the server's message %q: %v", reply, err)
		}
		if done {
			if !clientDone {
				t.Fatal("server finished before the client")
			}
			return got, nil
		}
		msg = next
	}
}

func TestScramLogin(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		for name, login := range map[string]func(*testing.T, *Server, string, string, string) (string, error){"xdg": loginXDG, "franz": loginFranz} {
			t.Run(mech+"/"+name, func(t *testing.T) {
				if got, err := login(t, srv, mech, "alice", "alice-secret"); err != nil || got != "alice" {
					t.Fatalf("alice: %q, %v", got, err)
				}
				if _, err := login(t, srv, mech, "alice", "wrong"); !errors.Is(err, ErrAuthenticationFailed) {
					t.Fatalf("wrong password: %v, want ErrAuthenticationFailed", err)
				}
				if _, err := login(t, srv, mech, "mallory", "alice-secret"); !errors.Is(err, ErrAuthenticationFailed) {
					t.Fatalf("unknown user: %v, want ErrAuthenticationFailed", err)
				}
			})
		}
	}
	// bob has no SCRAM-SHA-512 credential.
	if _, err := loginFranz(t, srv, ScramSHA512, "bob", "bob-secret"); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("bob with SCRAM-SHA-512: %v, want ErrAuthenticationFailed", err)
	}
}

// serverFirst runs the first step for user and returns the server-first
// message's salt and iteration fields.
func serverFirst(t *testing.T, srv *Server, mechanism, user string) (salt, iters string) {
	t.Helper()
	ex, err := srv.Start(mechanism)
	if err != nil {
		t.Fatal(err)
	}
	reply, done, _, err := ex.Step(context.Background(), []byte("n,,n="+user+",r=clientnonce"))
	if err != nil || done {
		t.Fatalf("first step for %s: done %v, %v", user, done, err)
	}
	fields := strings.Split(string(reply), ",")
	if len(fields) != 3 {
		t.Fatalf("server-first %q", reply)
	}
	return fields[1], fields[2]
}

// TestScramUnknownUser checks that an unknown user cannot be told from a
// known one by the server-first message: a salt of the usual length, the
// default iterations, the same every time it is asked.
func TestScramUnknownUser(t *testing.T) {
	srv, _ := newTestServer(t)
	known, knownIters := serverFirst(t, srv, ScramSHA256, "alice")
	unknown, unknownIters := serverFirst(t, srv, ScramSHA256, "mallory")
	again, _ := serverFirst(t, srv, ScramSHA256, "mallory")
	if unknown != again {
		t.Errorf("unknown user's salt changed between attempts: %s, %s", unknown, again)
	}
	if len(unknown) != len(known) || unknownIters != knownIters {
		t.Errorf("unknown user's %s,%s differs in shape from a known one's %s,%s", unknown, unknownIters, known, knownIters)
	}
	other, _ := serverFirst(t, srv, ScramSHA256, "trudy")
	if other == unknown {
		t.Error("two unknown users got the same salt")
	}
}

// TestScramKafkaRules checks the client-first messages Kafka's
// ScramSaslServer refuses, and those it takes.
func TestScramKafkaRules(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, tc := range []struct {
		msg string
		ok  bool
	}{
		{"n,,n=alice,r=abc", true},
		{"n,a=alice,n=alice,r=abc", true},
		{"n,,n=alice,r=abc,tokenauth=false", true},
		{"y,,n=alice,r=abc", false},
		{"p=tls-unique,,n=alice,r=abc", false},
		{"n,a=bob,n=alice,r=abc", false},
		{"n,,n=alice,r=abc,tokenauth=true", false},
		{"n,,n=alice,r=abc,foo=bar", false},
		{"n,,m=ext,n=alice,r=abc", false},
		{"n,,n=alice,r=", false},
		{"n,,n=alice,r=ab\x01c", false},
		{"n,,n=,r=abc", false},
		{"n,,n=al=ZZice,r=abc", false},
		{"n,,n=alice", false},
		{"n,x,n=alice,r=abc", false},
		{"", false},
		{"n,,n=" + strings.Repeat("a", MaxTokenBytes) + ",r=abc", false},
	} {
		ex, err := srv.Start(ScramSHA256)
		if err != nil {
			t.Fatal(err)
		}
		_, done, _, err := ex.Step(context.Background(), []byte(tc.msg))
		if tc.ok && (err != nil || done) {
			t.Errorf("%.40q: done %v, %v; want the server-first message", tc.msg, done, err)
		}
		if !tc.ok && (!errors.Is(err, ErrAuthenticationFailed) || !done) {
			t.Errorf("%.40q: done %v, %v; want ErrAuthenticationFailed", tc.msg, done, err)
		}
	}
}

func TestPlain(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, tc := range []struct {
		name, token string
		user        string // "" when the login must fail
	}{
		{"alice", "\x00alice\x00alice-secret", "alice"},
		{"authzid is the user", "alice\x00alice\x00alice-secret", "alice"},
		{"bob, SCRAM-SHA-256 only", "\x00bob\x00bob-secret", "bob"},
		{"wrong password", "\x00alice\x00alice-secreT", ""},
		{"unknown user", "\x00mallory\x00alice-secret", ""},
		{"other authzid", "bob\x00alice\x00alice-secret", ""},
		{"two fields", "alice\x00alice-secret", ""},
		{"four fields", "\x00alice\x00alice-secret\x00", ""},
		{"no user", "\x00\x00alice-secret", ""},
		{"no password", "\x00alice\x00", ""},
		{"not UTF-8", "\x00alice\x00\xff", ""},
		{"long user", "\x00" + strings.Repeat("a", MaxUserBytes+1) + "\x00pw", ""},
		{"oversized", "\x00alice\x00" + strings.Repeat("a", MaxTokenBytes), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := srv.Start(Plain)
			if err != nil {
				t.Fatal(err)
			}
			reply, done, user, err := ex.Step(context.Background(), []byte(tc.token))
			if !done {
				t.Fatal("PLAIN is one step")
			}
			if tc.user == "" {
				if !errors.Is(err, ErrAuthenticationFailed) || user != "" {
					t.Fatalf("user %q, %v; want ErrAuthenticationFailed", user, err)
				}
				return
			}
			if err != nil || user != tc.user || len(reply) != 0 {
				t.Fatalf("user %q, reply %q, %v; want %q and an empty reply", user, reply, err, tc.user)
			}
			if _, _, _, err := ex.Step(context.Background(), []byte(tc.token)); !errors.Is(err, ErrExchangeDone) {
				t.Fatalf("second step: %v, want ErrExchangeDone", err)
			}
		})
	}
}

// TestPlainReadsAlike checks that PLAIN reads the store the same number of
// times for a known and an unknown user.
func TestPlainReadsAlike(t *testing.T) {
	srv, creds := newTestServer(t)
	reads := func(token string) int {
		creds.mu.Lock()
		creds.reads = 0
		creds.mu.Unlock()
		ex, _ := srv.Start(Plain)
		_, _, _, _ = ex.Step(context.Background(), []byte(token))
		creds.mu.Lock()
		defer creds.mu.Unlock()
		return creds.reads
	}
	known, unknown := reads("\x00alice\x00wrong"), reads("\x00mallory\x00wrong")
	if known != unknown {
		t.Fatalf("%d reads for a known user, %d for an unknown one", known, unknown)
	}
}

func TestMechanisms(t *testing.T) {
	srv, _ := newTestServer(t, ScramSHA512)
	for _, m := range []string{Plain, ScramSHA256, "GSSAPI", ""} {
		if _, err := srv.Start(m); !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("Start(%q) = %v, want ErrUnsupportedMechanism", m, err)
		}
	}
	if got := srv.Mechanisms(); len(got) != 1 || got[0] != ScramSHA512 {
		t.Errorf("Mechanisms() = %v", got)
	}
	for _, ms := range [][]string{{"SCRAM-SHA-1"}, {Plain, Plain}} {
		if _, err := New(Config{Credentials: &memCredentials{}, Mechanisms: ms}); err == nil {
			t.Errorf("New with mechanisms %v: no error", ms)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without Credentials: no error")
	}
}

// TestLookupError checks that a store that cannot be read fails the login
// with its error, not as a wrong password.
func TestLookupError(t *testing.T) {
	srv, creds := newTestServer(t)
	creds.err = errors.New("store down")
	for _, mech := range []string{ScramSHA256, Plain} {
		ex, _ := srv.Start(mech)
		token := "n,,n=alice,r=abc"
		if mech == Plain {
			token = "\x00alice\x00alice-secret"
		}
		_, done, _, err := ex.Step(context.Background(), []byte(token))
		if !done || err == nil || errors.Is(err, ErrAuthenticationFailed) || !errors.Is(err, creds.err) {
			t.Errorf("%s: done %v, %v; want the store's error", mech, done, err)
		}
	}
}
