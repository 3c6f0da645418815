package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/internal/testenv"
)

// saramaHandler records every message it is given and marks it consumed.
type saramaHandler struct{ got *seen }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.got.mu.Lock()
		h.got.counts[string(msg.Value)]++
		h.got.mu.Unlock()
		sess.MarkMessage(msg, "")
	}
	return nil
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "sarama-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // sarama's rule for idempotent producers
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	return cfg
}

// runSaramaMember consumes topic in group until the returned stop is called.
func runSaramaMember(t *testing.T, addr, group, topic string, got *seen) (stop func()) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, saramaHandler{got}); err != nil && ctx.Err() == nil {
				t.Logf("sarama consume (retried): %v", err)
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		if err := cg.Close(); err != nil {
			t.Errorf("close sarama group: %v", err)
		}
	}
}

// TestSaramaConsumerGroup runs the group scenario with a second client
// library: sarama's idempotent producer and two sarama group members read each
// record once in a stable group, and a later member resumes from the commits.
func TestSaramaConsumerGroup(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "sarama", 4, nil)

	got := &seen{counts: map[string]int{}}
	stops := []func(){
		runSaramaMember(t, s.addr, "sg", "sarama", got),
		runSaramaMember(t, s.addr, "sg", "sarama", got),
	}
	adm := kadm.NewClient(s.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		dg, err := adm.DescribeGroups(ctx, "sg")
		if err != nil {
			return err
		}
		if g := dg["sg"]; g.State != "Stable" || len(g.Members) != 2 {
			return fmt.Errorf("group %s with %d members", g.State, len(g.Members))
		}
		return nil
	})

	producer, err := sarama.NewSyncProducer([]string{s.addr}, saramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	send := func(from, n int) {
		msgs := make([]*sarama.ProducerMessage, n)
		for i := range msgs {
			msgs[i] = &sarama.ProducerMessage{Topic: "sarama", Key: sarama.StringEncoder(fmt.Sprint((from + i) % 7)), Value: sarama.StringEncoder(fmt.Sprintf("s%05d", from+i))}
		}
		if err := producer.SendMessages(msgs); err != nil {
			t.Fatal(err)
		}
	}
	send(0, 400)
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return got.check(t, 400) })
	for _, stop := range stops {
		stop()
	}
	for v, n := range got.counts {
		if n != 1 {
			t.Fatalf("%s read %d times in a stable group", v, n)
		}
	}

	send(400, 40)
	fresh := &seen{counts: map[string]int{}}
	stop := runSaramaMember(t, s.addr, "sg", "sarama", fresh)
	testenv.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error { return fresh.check(t, 40) })
	stop()
	for v := range fresh.counts {
		if v < "s00400" {
			t.Fatalf("resumed member re-read committed record %s", v)
		}
	}
}
