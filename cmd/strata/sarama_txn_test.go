package main

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaTxnConfig is a sarama transactional producer's config at version v:
// sarama requires idempotence, acks from all replicas and one request in
// flight per connection for it.
func saramaTxnConfig(v sarama.KafkaVersion, id string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "sarama-txn-test"
	cfg.Producer.Transaction.ID = id
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	return cfg
}

// saramaConsumeValues reads partition 0 of topic from the oldest offset with
// a sarama consumer at isolation until it has want records or the wait runs
// out, and returns their values in order.
func saramaConsumeValues(t *testing.T, broker, topic string, v sarama.KafkaVersion, isolation sarama.IsolationLevel, want int) []string {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = v
	cfg.ClientID = "sarama-txn-test"
	cfg.Consumer.IsolationLevel = isolation
	cfg.Consumer.Return.Errors = true
	c, err := sarama.NewConsumer([]string{broker}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("close sarama consumer: %v", err)
		}
	}()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pc.Close(); err != nil {
			t.Errorf("close sarama partition consumer: %v", err)
		}
	}()
	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < want {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			t.Fatalf("sarama consume %s: %v", topic, err)
		case <-timeout:
			return got
		}
	}
	return got
}

// TestSaramaTransactions: sarama's transactional producer commits a
// transaction, aborts one and commits another; franz-go and sarama
// consumers with read_committed read exactly the committed records, in
// order, and read_uncommitted ones read them all.
func TestSaramaTransactions(t *testing.T) {
	broker := startServe(t)
	for _, v := range []sarama.KafkaVersion{sarama.V2_5_0_0, sarama.MaxVersion} {
		t.Run(v.String(), func(t *testing.T) {
			topic := "sarama-txn-" + v.String()
			createTopic(t, broker, topic, 1)
			p, err := sarama.NewSyncProducer([]string{broker}, saramaTxnConfig(v, topic))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := p.Close(); err != nil {
					t.Errorf("close sarama producer: %v", err)
				}
			}()

			var committed, all []string
			round := func(name string, n int, commit bool) {
				t.Helper()
				if err := p.BeginTxn(); err != nil {
					t.Fatalf("begin %s: %v", name, err)
				}
				msgs := make([]*sarama.ProducerMessage, n)
				for i := range msgs {
					v := fmt.Sprintf("%s-%d", name, i)
					msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(fmt.Sprint(i % 3)), Value: sarama.StringEncoder(v)}
					all = append(all, v)
					if commit {
						committed = append(committed, v)
					}
				}
				if err := p.SendMessages(msgs); err != nil {
					t.Fatalf("send %s: %v", name, err)
				}
				end := p.CommitTxn
				if !commit {
					end = p.AbortTxn
				}
				if err := end(); err != nil {
					t.Fatalf("end %s (commit %v): %v", name, commit, err)
				}
				if s := p.TxnStatus(); s&sarama.ProducerTxnFlagReady == 0 {
					t.Fatalf("after %s the producer's transaction status is %v, want ready", name, s)
				}
			}
			round("commit1", 40, true)
			round("abort", 25, false)
			round("commit2", 15, true)

			got := consumeValues(t, broker, topic, len(committed), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
			if !slices.Equal(got, committed) {
				t.Fatalf("franz-go read_committed read %q, want %q", got, committed)
			}
			got = saramaConsumeValues(t, broker, topic, v, sarama.ReadCommitted, len(committed))
			if !slices.Equal(got, committed) {
				t.Fatalf("sarama read_committed read %q, want %q", got, committed)
			}
			got = saramaConsumeValues(t, broker, topic, v, sarama.ReadUncommitted, len(all))
			if !slices.Equal(got, all) {
				t.Fatalf("sarama read_uncommitted read %q, want %q", got, all)
			}
		})
	}
}
