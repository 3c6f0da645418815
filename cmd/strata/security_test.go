package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/stratalog/strata/internal/testenv"
)

// A secured gateway as the README's example runs it: SASL_SSL, SASL_PLAINTEXT
// and mutual-TLS listeners, users from --add-scram, ACLs enforced with a
// super user, and the schema registry and admin endpoint over HTTPS with
// basic auth. Each client logs in as a user would, and every decision is
// checked by its outcome; the users and ACLs survive a restart.
func TestSecuredGateway(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, "strata-test-ca")
	certFile, keyFile := ca.IssueFiles(t, dir, "gateway", 2)
	caFile := ca.PEMFile(t, dir)
	saslSSL, saslPlain, mtls := freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)
	args := []string{
		"--listeners", "SASL_SSL://" + saslSSL + ",INTERNAL://" + saslPlain + ",SSL://" + mtls,
		"--listener-security-protocol-map", "SASL_SSL:SASL_SSL,INTERNAL:SASL_PLAINTEXT,SSL:SSL",
		"--ssl-cert-file", certFile, "--ssl-key-file", keyFile, "--ssl-client-ca-file", caFile, "--ssl-client-auth", "required",
		"--ssl-principal-mapping-rules", "RULE:^CN=([^,]*)$/$1/,DEFAULT",
		"--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret];SCRAM-SHA-512=[name=alice,password=alice-secret]",
		"--authorizer", "acl", "--super-users", "User:admin",
		"--http-tls", "--http-auth", "basic",
		"--http-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0", "--embedded-nats-listen", "",
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "info",
	}
	httpAddr, registryAddr, stop := startSecured(t, args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	tlsCfg := ca.ClientConfig(t, "")
	scramLogin := func(user, password string) kgo.Opt {
		return kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())
	}
	client := func(seed string, opts ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seed), kgo.RetryTimeout(5 * time.Second)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	admin := kadm.NewClient(client(saslSSL, kgo.DialTLSConfig(tlsCfg), scramLogin("admin", "admin-secret")))
	for _, topic := range []string{"orders", "secret"} {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("admin creates %s: %v", topic, err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpRead, kadm.OpWrite).
		Groups("alice-group-").ResourcePatternType(kadm.ACLPatternPrefixed)
	if res, err := admin.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("create ACLs: %v %+v", err, res)
	}

	// alice over SASL_PLAINTEXT with PLAIN, and over mutual TLS as the
	// certificate CN=alice, writes and reads orders, but not secret.
	aliceClients := map[string]func(...kgo.Opt) *kgo.Client{
		"PLAIN": func(o ...kgo.Opt) *kgo.Client {
			return client(saslPlain, append(o, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))...)
		},
		"mTLS": func(o ...kgo.Opt) *kgo.Client {
			return client(mtls, append(o, kgo.DialTLSConfig(ca.ClientConfig(t, "alice")))...)
		},
	}
	for name, alice := range aliceClients {
		cl := alice()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("by alice over " + name)}).FirstErr(); err != nil {
			t.Errorf("%s: alice produces to orders: %v", name, err)
		}
		// franz-go keeps a record for a topic it may not describe until
		// its context ends (it refreshes metadata, which answers
		// TOPIC_AUTHORIZATION_FAILED); nothing may be written meanwhile.
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		err := cl.ProduceSync(pctx, &kgo.Record{Topic: "secret", Value: []byte("no")}).FirstErr()
		pcancel()
		if err == nil {
			t.Errorf("%s: alice produced to secret", name)
		}
		md, err := kadm.NewClient(cl).Metadata(ctx, "secret")
		if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(md.Topics["secret"].Err, kerr.TopicAuthorizationFailed) {
			t.Errorf("%s: alice's metadata of secret: %v (%v), want TOPIC_AUTHORIZATION_FAILED", name, md.Topics["secret"].Err, err)
		}
		topics, err := kadm.NewClient(cl).ListTopics(ctx)
		if err != nil || !topics.Has("orders") || topics.Has("secret") {
			t.Errorf("%s: alice lists topics %v (%v): want orders and not secret", name, topics.Names(), err)
		}
		consumer := alice(kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("alice-group-"+name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
		fs := consumer.PollFetches(cctx)
		ccancel()
		if err := fs.Err0(); err != nil || fs.NumRecords() == 0 {
			t.Errorf("%s: alice consumes orders: %d records, %v", name, fs.NumRecords(), err)
		}
		consumer.Close()
	}
	if end, err := admin.ListEndOffsets(ctx, "secret"); err != nil || end["secret"][0].Offset != 0 {
		t.Errorf("secret's end offset %+v, %v: want 0", end["secret"][0], err)
	}

	// Logins that must fail, each as the client sees it.
	for name, opts := range map[string][]kgo.Opt{
		"wrong password": {kgo.DialTLSConfig(tlsCfg), scramLogin("alice", "wrong")},
		"unknown user":   {kgo.DialTLSConfig(tlsCfg), scramLogin("mallory", "alice-secret")},
		"no TLS":         {scramLogin("alice", "alice-secret")},
	} {
		cl := client(saslSSL, append(opts, kgo.RequestTimeoutOverhead(5*time.Second))...)
		err := cl.Ping(ctx)
		if err == nil {
			t.Errorf("%s: connected", name)
		} else if name != "no TLS" && !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}
	// A certificate the CA did not sign is refused by the TLS handshake.
	other := testenv.NewCA(t, "another-ca")
	if err := client(mtls, kgo.DialTLSConfig(clientWithCertFrom(t, ca, other))).Ping(ctx); err == nil {
		t.Error("a client certificate from another CA connected")
	}

	// The registry and the admin endpoint, over HTTPS with basic auth.
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	registry := func(user, password string) *sr.Client {
		cl, err := sr.NewClient(sr.URLs("https://"+registryAddr), sr.HTTPClient(httpClient), sr.BasicAuth(user, password))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	schema := sr.Schema{Schema: `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`}
	if _, err := registry("alice", "alice-secret").CreateSchema(ctx, "orders-value", schema); err != nil {
		t.Errorf("alice registers orders-value: %v", err)
	}
	var re *sr.ResponseError
	if _, err := registry("alice", "alice-secret").CreateSchema(ctx, "secret-value", schema); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Errorf("alice registers secret-value: %v, want 403", err)
	}
	if _, err := registry("alice", "wrong").Subjects(ctx); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password at the registry: %v, want 401", err)
	}
	for _, tc := range []struct {
		user, password, path string
		code                 int
	}{
		{"", "", "/healthz", 200},
		{"", "", "/metrics", 401},
		{"alice", "alice-secret", "/metrics", 403},
		{"admin", "admin-secret", "/metrics", 200},
		{"admin", "admin-secret", "/debug/pprof/", 200},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+httpAddr+tc.path, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.password)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s as %q: %d, want %d", tc.path, tc.user, resp.StatusCode, tc.code)
		}
	}

	// After a restart the users and ACLs are still there.
	stop()
	_, _, _ = startSecured(t, args)
	cl := aliceClients["PLAIN"]()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("after the restart")}).FirstErr(); err != nil {
		t.Errorf("alice produces to orders after a restart: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("no")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice produces to secret after a restart: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// startSecured runs serve with args and returns its admin and registry
// addresses and a function that stops it.
func startSecured(t *testing.T, args []string) (httpAddr, registryAddr string, stop func()) {
	t.Helper()
	cfg, err := parseServeFlags(args, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	served, registry := make(chan string, 1), make(chan string, 1)
	cfg.onServing = func(_, http net.Addr) { served <- http.String() }
	cfg.onRegistry = func(a net.Addr) { registry <- a.String() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var log syncBuffer
	go func() { done <- serve(ctx, cfg, &log) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("serve's log:\n%s", log.String())
		}
	})
	for range 2 {
		select {
		case httpAddr = <-served:
		case registryAddr = <-registry:
		case err := <-done:
			stopped = true
			t.Fatalf("serve: %v\n%s", err, log.String())
		case <-time.After(time.Minute):
			t.Fatalf("serve did not start\n%s", log.String())
		}
	}
	return httpAddr, registryAddr, stop
}
