package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/stratalog/strata/internal/testenv"
)

// securedClients is a gateway secured as TestSecuredGateway's (users admin
// and alice, ACLs with admin as super user, certificates mapped to their
// CN), with a SASL_SSL and a mutual-TLS listener, the topics orders (two
// partitions) and secret, and ACLs letting alice read and write orders and
// read groups prefixed alice-.
type securedClients struct {
	ca            *testenv.CA
	saslSSL, mtls string
	admin         *kadm.Client
}

func startSecuredClients(t *testing.T) *securedClients {
	t.Helper()
	dir := t.TempDir()
	ca := testenv.NewCA(t, "strata-test-ca")
	certFile, keyFile := ca.IssueFiles(t, dir, "gateway", 2)
	caFile := ca.PEMFile(t, dir)
	s := &securedClients{ca: ca, saslSSL: freeLoopbackAddr(t), mtls: freeLoopbackAddr(t)}
	startSecured(t, []string{
		"--listeners", "SASL_SSL://" + s.saslSSL + ",SSL://" + s.mtls,
		"--listener-security-protocol-map", "SASL_SSL:SASL_SSL,SSL:SSL",
		"--ssl-cert-file", certFile, "--ssl-key-file", keyFile, "--ssl-client-ca-file", caFile, "--ssl-client-auth", "required",
		"--ssl-principal-mapping-rules", "RULE:^CN=([^,]*)$/$1/,DEFAULT",
		"--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret];SCRAM-SHA-512=[name=alice,password=alice-secret]",
		"--authorizer", "acl", "--super-users", "User:admin",
		"--http-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0", "--embedded-nats-listen", "",
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "info",
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.saslSSL), kgo.DialTLSConfig(ca.ClientConfig(t, "")),
		kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	s.admin = kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for topic, partitions := range map[string]int32{"orders": 2, "secret": 1} {
		if _, err := s.admin.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatalf("admin creates %s: %v", topic, err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpRead, kadm.OpWrite).
		Groups("alice-").ResourcePatternType(kadm.ACLPatternPrefixed)
	if res, err := s.admin.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("create ACLs: %v %+v", err, res)
	}
	return s
}

// endOffsets returns the sum of topic's end offsets, read as admin.
func (s *securedClients) endOffsets(t *testing.T, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := s.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum
}

// TestExpiredClientCertificate: on an SSL listener that requires client
// certificates, a certificate the CA signed that has expired is refused by
// the TLS handshake, for franz-go and sarama alike, while the same CN with a
// current certificate is served. Nothing is written.
func TestExpiredClientCertificate(t *testing.T) {
	s := startSecuredClients(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	valid, err := kgo.NewClient(kgo.SeedBrokers(s.mtls), kgo.DialTLSConfig(s.ca.ClientConfig(t, "alice")))
	if err != nil {
		t.Fatal(err)
	}
	defer valid.Close()
	if err := valid.Ping(ctx); err != nil {
		t.Fatalf("alice with a current certificate: %v", err)
	}

	// TLS 1.3: the client completes its side of the handshake, and the
	// gateway's alert (certificate_expired) arrives on the first read.
	expired := s.ca.ExpiredClientConfig(t, "alice")
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.mtls), kgo.DialTLSConfig(expired), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	err = cl.Ping(pctx)
	pcancel()
	if err == nil || !strings.Contains(err.Error(), "expired certificate") {
		t.Errorf("franz-go with an expired certificate: Ping = %v, want the TLS alert 'expired certificate'", err)
	}
	pctx, pcancel = context.WithTimeout(ctx, 3*time.Second)
	err = cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte("expired")}).FirstErr()
	pcancel()
	if err == nil {
		t.Error("franz-go with an expired certificate produced to orders")
	}

	cfg := saramaSecuredConfig()
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, expired
	if p, err := sarama.NewSyncProducer([]string{s.mtls}, cfg); err == nil {
		p.Close()
		t.Error("sarama with an expired certificate connected")
	} else if !strings.Contains(err.Error(), "expired certificate") {
		t.Errorf("sarama with an expired certificate: %v, want the TLS alert 'expired certificate'", err)
	}

	if n := s.endOffsets(t, "orders"); n != 0 {
		t.Errorf("orders' end offsets sum to %d, want 0", n)
	}
}

// saramaSCRAM is sarama's SCRAM client, made with xdg-go/scram as sarama's
// own examples do.
type saramaSCRAM struct {
	hash xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (c *saramaSCRAM) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *saramaSCRAM) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *saramaSCRAM) Done() bool                            { return c.conv.Done() }

func saramaSecuredConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "sarama-secured-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Metadata.Retry.Max = 0
	cfg.Net.DialTimeout = 10 * time.Second
	return cfg
}

// saramaSCRAMConfig logs in over SASL_SSL with SCRAM-SHA-512 and the given
// SaslHandshake version (v0: bare token frames, sarama's default; v1:
// SaslAuthenticate).
func saramaSCRAMConfig(tlsCfg *tls.Config, version int16, user, password string) *sarama.Config {
	cfg := saramaSecuredConfig()
	cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tlsCfg
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Version = version
	// sarama's rule: a v0 handshake is the first request.
	cfg.ApiVersionsRequest = version != sarama.SASLHandshakeV0
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, password
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: xscram.SHA512} }
	return cfg
}

// TestSecuredGatewaySarama: sarama, as alice, over SASL_SSL with
// SCRAM-SHA-512 (both handshake versions) and over mutual TLS with the
// certificate CN=alice, produces keyed records to orders and reads them all
// back; a wrong password gets no client, and secret, which alice has no ACL
// for, is refused with TOPIC_AUTHORIZATION_FAILED. The end offsets, read as
// admin, count exactly what was acknowledged.
func TestSecuredGatewaySarama(t *testing.T) {
	s := startSecuredClients(t)
	serverTLS := s.ca.ClientConfig(t, "")
	mtls := saramaSecuredConfig()
	mtls.Net.TLS.Enable, mtls.Net.TLS.Config = true, s.ca.ClientConfig(t, "alice")
	cases := []struct {
		name, addr string
		cfg        *sarama.Config
		wrong      *sarama.Config // a login that must fail, if any
		wrongErr   error          // its error; nil: any
	}{
		// After a v0 handshake a failed login is closed without an
		// answer, as Kafka does, so sarama sees only the connection end.
		{"SCRAM-SHA-512/v0", s.saslSSL, saramaSCRAMConfig(serverTLS, sarama.SASLHandshakeV0, "alice", "alice-secret"),
			saramaSCRAMConfig(serverTLS, sarama.SASLHandshakeV0, "alice", "wrong"), nil},
		{"SCRAM-SHA-512/v1", s.saslSSL, saramaSCRAMConfig(serverTLS, sarama.SASLHandshakeV1, "alice", "alice-secret"),
			saramaSCRAMConfig(serverTLS, sarama.SASLHandshakeV1, "alice", "wrong"), sarama.ErrSASLAuthenticationFailed},
		{"mTLS", s.mtls, mtls, nil, nil},
	}
	const n = 50
	var written int64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			if tc.wrong != nil {
				if p, err := sarama.NewSyncProducer([]string{tc.addr}, tc.wrong); err == nil {
					p.Close()
					t.Error("a producer with a wrong password connected")
				} else if tc.wrongErr != nil && !errors.Is(err, tc.wrongErr) {
					t.Errorf("a wrong password: %v, want %v", err, tc.wrongErr)
				}
			}
			p, err := sarama.NewSyncProducer([]string{tc.addr}, tc.cfg)
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			want := map[string]string{} // value → key
			first := map[int32]int64{}  // partition → first offset
			for i := range n {
				k, v := fmt.Sprintf("%s-k%d", tc.name, i%7), fmt.Sprintf("%s-v%03d", tc.name, i)
				part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "orders", Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(v)})
				if err != nil {
					t.Fatalf("send %s: %v", v, err)
				}
				written++
				want[v] = k
				if f, ok := first[part]; !ok || off < f {
					first[part] = off
				}
			}
			_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "secret", Value: sarama.StringEncoder("no")})
			if !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
				t.Errorf("alice produces to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if got := saramaReadBack(t, tc.addr, tc.cfg, first, tc.name); !maps.Equal(got, want) {
				t.Errorf("read back %d records %v, want the %d produced", len(got), got, len(want))
			}
		})
	}
	if got := s.endOffsets(t, "orders"); got != written {
		t.Errorf("orders' end offsets sum to %d, want the %d records acknowledged", got, written)
	}
	if got := s.endOffsets(t, "secret"); got != 0 {
		t.Errorf("secret's end offset is %d, want 0", got)
	}
}

// saramaReadBack reads each partition of orders in first from its offset
// there up to its high watermark, and returns the records whose value starts
// with prefix, value → key.
func saramaReadBack(t *testing.T, addr string, cfg *sarama.Config, first map[int32]int64, prefix string) map[string]string {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer c.Close()
	got := map[string]string{}
	for part, off := range first {
		pc, err := c.ConsumePartition("orders", part, off)
		if err != nil {
			t.Fatalf("consume partition %d: %v", part, err)
		}
		timeout := time.After(20 * time.Second)
	read:
		for {
			select {
			case m := <-pc.Messages():
				if v := string(m.Value); strings.HasPrefix(v, prefix+"-") {
					got[v] = string(m.Key)
				}
				if m.Offset+1 >= pc.HighWaterMarkOffset() {
					break read
				}
			case err := <-pc.Errors():
				t.Fatalf("consume partition %d: %v", part, err)
			case <-timeout:
				t.Fatalf("partition %d: not read to its end within 20s", part)
			}
		}
		if err := pc.Close(); err != nil {
			t.Errorf("close partition consumer: %v", err)
		}
	}
	return got
}
