package gateway

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	xscram "github.com/xdg-go/scram"
)

// xdgSCRAM is sarama's SCRAM client, made with xdg-go/scram as sarama's
// own examples do.
type xdgSCRAM struct {
	hash xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (c *xdgSCRAM) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *xdgSCRAM) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *xdgSCRAM) Done() bool                            { return c.conv.Done() }

func saramaSASLConfig(version int16, mechanism sarama.SASLMechanism, user, password string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "sarama-sasl-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Metadata.Retry.Max = 0
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Version = version
	// sarama's rule: a v0 handshake is the first request.
	cfg.ApiVersionsRequest = version != sarama.SASLHandshakeV0
	cfg.Net.SASL.Mechanism = mechanism
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, password
	switch mechanism {
	case sarama.SASLTypeSCRAMSHA256:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: xscram.SHA256} }
	case sarama.SASLTypeSCRAMSHA512:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: xscram.SHA512} }
	}
	return cfg
}

// TestSASLSarama logs in with sarama: its default v0 handshake, where the
// tokens travel as bare frames, and the v1 handshake with SaslAuthenticate,
// with PLAIN and both SCRAM mechanisms; each produces and consumes, and a
// wrong password gets no client.
func TestSASLSarama(t *testing.T) {
	g := startSASLGateway(t, newBackend(t, 0), saslOpts{})
	createTestTopic(t, g.testServer, "sarama-sasl", 1, nil)
	adm := g.admin(t)
	upsertUsers(t, adm,
		kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha256, Password: "alice-pw"},
		kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-pw"},
	)
	written := int64(0)
	for _, version := range []int16{sarama.SASLHandshakeV0, sarama.SASLHandshakeV1} {
		for _, mech := range []sarama.SASLMechanism{sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512} {
			t.Run(fmt.Sprintf("v%d/%s", version, mech), func(t *testing.T) {
				wrong := saramaSASLConfig(version, mech, "alice", "wrong")
				if err := wrong.Validate(); err != nil {
					t.Fatal(err)
				}
				if _, err := sarama.NewSyncProducer([]string{g.saslAddr}, wrong); err == nil {
					t.Fatal("a producer with a wrong password connected")
				}
				cfg := saramaSASLConfig(version, mech, "alice", "alice-pw")
				p, err := sarama.NewSyncProducer([]string{g.saslAddr}, cfg)
				if err != nil {
					t.Fatalf("producer: %v", err)
				}
				var want []string
				first := int64(-1)
				for i := range 3 {
					v := fmt.Sprintf("v%d-%s-%d", version, mech, i)
					want = append(want, v)
					_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-sasl", Value: sarama.StringEncoder(v)})
					if err != nil {
						t.Fatalf("send: %v", err)
					}
					if first < 0 {
						first = off
					}
				}
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				written += 3

				c, err := sarama.NewConsumer([]string{g.saslAddr}, cfg)
				if err != nil {
					t.Fatalf("consumer: %v", err)
				}
				defer c.Close()
				pc, err := c.ConsumePartition("sarama-sasl", 0, first)
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				var got []string
				timeout := time.After(30 * time.Second)
				for len(got) < len(want) {
					select {
					case m := <-pc.Messages():
						got = append(got, string(m.Value))
					case err := <-pc.Errors():
						t.Fatalf("consume: %v", err)
					case <-timeout:
						t.Fatalf("consumed %v, want %v", got, want)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("consumed %v, want %v", got, want)
				}
			})
		}
	}
	if got := endOffset(t, adm, "sarama-sasl"); got != written {
		t.Fatalf("end offset %d, want %d", got, written)
	}
}
