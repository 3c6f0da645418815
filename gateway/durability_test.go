package gateway

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/wal"
)

// TestDurabilityConfig: strata.durability picks the tier per topic. A wal
// topic's records go through the WAL, an s3 topic's do not; the config is
// described, validated, and a change takes effect on the next produce.
func TestDurabilityConfig(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	s3 := "s3"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"strata.durability": &s3}, "cold"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "hot"); err != nil {
		t.Fatal(err)
	}
	bad := "memory"
	if resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"strata.durability": &bad}, "bad"); !errors.Is(errors.Join(err, resp.Err), kerr.InvalidConfig) {
		t.Fatalf("strata.durability=memory: %v %v, want INVALID_CONFIG", err, resp.Err)
	}
	if v, src := configValue(t, adm, ctx, "hot", "strata.durability"); v != "wal" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("hot: strata.durability = %q (%v), want the default wal", v, src)
	}

	cl := s.client(t)
	produced := map[string]int64{}
	produce := func(topic string) {
		t.Helper()
		produced[topic] += 5
		for range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce to %s: %v", topic, err)
			}
		}
	}
	produce("hot")
	produce("cold")
	if n := s.walRecords(t, "hot"); n == 0 {
		t.Fatal("the wal topic wrote nothing to the WAL")
	}
	if n := s.walRecords(t, "cold"); n != 0 {
		t.Fatalf("the s3 topic wrote %d records to the WAL", n)
	}

	// cold moves to the wal tier.
	walValue := "wal"
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "strata.durability", Value: &walValue}}, "cold")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("alter: %v %v", err, resps)
	}
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		produce("cold")
		if s.walRecords(t, "cold") == 0 {
			return errors.New("cold still skips the WAL")
		}
		return nil
	})
	// Every acknowledged record is there once.
	for topic, n := range produced {
		if end := listEnd(t, adm, ctx, topic); end != n {
			t.Fatalf("%s ends at %d, want %d", topic, end, n)
		}
	}
}

func listEnd(t *testing.T, adm *kadm.Client, ctx context.Context, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

// TestAcksZero: an acks=0 producer is answered with nothing, as Kafka does,
// and what it sent is still written through the WAL, in order, once each.
func TestAcksZero(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "fire"); err != nil {
		t.Fatal(err)
	}
	producer := s.client(t, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("fire"))
	const n = 100
	for i := range n {
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	consumer := s.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fire": {0: kgo.NewOffset().AtStart()}}))
	var got []*kgo.Record
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < n && pctx.Err() == nil {
		fs := consumer.PollFetches(pctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if pctx.Err() == nil {
				t.Fatalf("fetch: %v", err)
			}
		})
		got = append(got, fs.Records()...)
	}
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != strconv.Itoa(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
	if n := s.walRecords(t, "fire"); n == 0 {
		t.Fatal("the WAL holds no record of the partition: the records did not go through it")
	}
}

// walRecords counts the WAL records of topic's partition 0 that are not yet
// purged: on the writer chain its index names, or on its own subject.
func (s *testServer) walRecords(t *testing.T, topic string) int {
	t.Helper()
	p := wal.Partition{TopicID: s.topicID(t, topic), Partition: 0}
	st, _, err := s.store.LoadPartition(t.Context(), index.TopicPartition{TopicID: p.TopicID, Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if st.WALWriter == "" {
		_, err = s.wal.Replay(t.Context(), p, 0, func(uint64, wal.Record) error { n++; return nil })
	} else {
		_, err = s.wal.ReplayChain(t.Context(), st.WALWriter, s.wal.Shard(p), 0, func(_ uint64, e wal.Entry) error {
			if e.Partition == p {
				n++
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}
