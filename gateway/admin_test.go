package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func adminClient(t *testing.T, s *testServer) (*kadm.Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return kadm.NewClient(s.client(t)), ctx
}

func TestCreateTopicsValidation(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	bad := "bad"
	for _, tc := range []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		topic      string
		want       error
	}{
		{"name", 1, 1, nil, "no/slash", kerr.InvalidTopicException},
		{"partitions", 0, 1, nil, "zero", kerr.InvalidPartitions},
		{"replication factor", 1, 0, nil, "rf0", kerr.InvalidReplicationFactor},
		{"unknown config", 1, 1, map[string]*string{"no.such.config": &bad}, "cfg1", kerr.InvalidConfig},
		{"bad value", 1, 1, map[string]*string{"retention.ms": &bad}, "cfg2", kerr.InvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// kadm returns a lone topic's error both ways.
			resp, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.topic)
			if !errors.Is(err, tc.want) || !errors.Is(resp.Err, tc.want) {
				t.Fatalf("error %v / %v, want %v", err, resp.Err, tc.want)
			}
			if _, ok := s.store.Topic(tc.topic); ok {
				t.Fatal("refused topic was created")
			}
		})
	}
	if _, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "dry"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.store.Topic("dry"); ok {
		t.Fatal("ValidateOnly created the topic")
	}
	resp, err := adm.CreateTopic(ctx, 3, -1, nil, "real")
	if err != nil || resp.Err != nil || resp.NumPartitions != 3 {
		t.Fatalf("create: %+v %v", resp, err)
	}
	again, _ := adm.CreateTopic(ctx, 3, 1, nil, "real")
	if !errors.Is(again.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v", again.Err)
	}
}

func configValue(t *testing.T, adm *kadm.Client, ctx context.Context, topic, name string) (string, kmsg.ConfigSource) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c.MaybeValue(), c.Source
		}
	}
	t.Fatalf("config %s not described", name)
	return "", 0
}

func TestTopicConfigs(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "c"); err != nil {
		t.Fatal(err)
	}
	// Kafka's defaults, as Kafka describes them.
	for name, want := range map[string]string{
		"retention.ms":      "604800000",
		"cleanup.policy":    "delete",
		"max.message.bytes": "1048588",
		"segment.bytes":     "1073741824",
		"retention.bytes":   "-1",
	} {
		if v, src := configValue(t, adm, ctx, "c", name); v != want || src != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s = %q (source %v), want default %q", name, v, src, want)
		}
	}

	set := func(op kadm.IncrementalOp, name, value string) error {
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: name, Value: &value}}, "c")
		if err != nil {
			return err
		}
		return resps[0].Err
	}
	if err := set(kadm.SetConfig, "retention.ms", "1000"); err != nil {
		t.Fatal(err)
	}
	if v, src := configValue(t, adm, ctx, "c", "retention.ms"); v != "1000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("after SET: %q %v", v, src)
	}
	if err := set(kadm.AppendConfig, "cleanup.policy", "compact"); err != nil {
		t.Fatal(err)
	}
	if v, _ := configValue(t, adm, ctx, "c", "cleanup.policy"); v != "delete,compact" {
		t.Fatalf("after APPEND: %q", v)
	}
	if err := set(kadm.SubtractConfig, "cleanup.policy", "delete"); err != nil {
		t.Fatal(err)
	}
	if v, _ := configValue(t, adm, ctx, "c", "cleanup.policy"); v != "compact" {
		t.Fatalf("after SUBTRACT: %q", v)
	}
	if err := set(kadm.AppendConfig, "retention.ms", "5"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("APPEND to a non-list config: %v, want INVALID_CONFIG", err)
	}
	if err := set(kadm.SetConfig, "max.message.bytes", "-7"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v, want INVALID_CONFIG", err)
	}
	if err := set(kadm.DeleteConfig, "retention.ms", ""); err != nil {
		t.Fatal(err)
	}
	if v, src := configValue(t, adm, ctx, "c", "retention.ms"); v != "604800000" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after DELETE: %q %v", v, src)
	}

	// AlterConfigs (non-incremental) replaces the whole set of overrides.
	v := "2000"
	if _, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: &v}}, "c"); err != nil {
		t.Fatal(err)
	}
	if got, _ := configValue(t, adm, ctx, "c", "retention.bytes"); got != "2000" {
		t.Fatalf("retention.bytes after AlterConfigs = %q", got)
	}
	if got, src := configValue(t, adm, ctx, "c", "cleanup.policy"); got != "delete" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy after AlterConfigs replaced the set = %q %v", got, src)
	}
}

func TestPartitionsAndDeletion(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	resps, err := adm.UpdatePartitions(ctx, 5, "grow")
	if err != nil || resps["grow"].Err != nil {
		t.Fatalf("grow: %v %v", err, resps)
	}
	md, err := adm.Metadata(ctx, "grow")
	if err != nil || len(md.Topics["grow"].Partitions) != 5 {
		t.Fatalf("metadata after grow: %v %+v", err, md.Topics["grow"])
	}
	resps, _ = adm.UpdatePartitions(ctx, 3, "grow")
	if !errors.Is(resps["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v, want INVALID_PARTITIONS", resps["grow"].Err)
	}

	// Data, delete, recreate: the new topic starts empty at offset 0.
	cl := s.client(t, kgo.DefaultProduceTopic("grow"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dresp, err := adm.DeleteTopics(ctx, "grow")
	if err != nil || dresp["grow"].Err != nil {
		t.Fatalf("delete: %v %v", err, dresp)
	}
	if _, ok := s.store.Topic("grow"); ok {
		t.Fatal("topic still there after delete")
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("grow", 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("recreated topic ends at %d (%v), want 0", o.Offset, o.Err)
	}
}

func TestListOffsets(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "lo"); err != nil {
		t.Fatal(err)
	}
	cl := s.client(t, kgo.DefaultProduceTopic("lo"), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	// Timestamps out of order, across several batches.
	for _, ts := range []int64{1000, 3000, 2000, 5000, 4000} {
		r := &kgo.Record{Value: []byte("x"), Timestamp: time.UnixMilli(ts)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, "lo")
	if o, _ := starts.Lookup("lo", 0); err != nil || o.Offset != 0 {
		t.Fatalf("earliest: %d %v", o.Offset, err)
	}
	ends, err := adm.ListEndOffsets(ctx, "lo")
	if o, _ := ends.Lookup("lo", 0); err != nil || o.Offset != 5 {
		t.Fatalf("latest: %d %v", o.Offset, err)
	}
	for _, tc := range []struct {
		ts, offset int64
	}{{0, 0}, {1000, 0}, {1500, 1}, {2500, 1}, {3500, 3}, {5000, 3}, {6000, 5}} {
		got, err := adm.ListOffsetsAfterMilli(ctx, tc.ts, "lo")
		if err != nil {
			t.Fatal(err)
		}
		// No record at or after the timestamp: Kafka answers -1, and kadm
		// reports the end offset in its place.
		if o, _ := got.Lookup("lo", 0); o.Offset != tc.offset {
			t.Errorf("offset for timestamp %d = %d, want %d", tc.ts, o.Offset, tc.offset)
		}
	}
	// Max timestamp (KIP-734): the record with the largest timestamp.
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = maxTimestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 3 || p.Timestamp != 5000 {
		t.Fatalf("max timestamp: offset %d timestamp %d error %d, want offset 3 at 5000", p.Offset, p.Timestamp, p.ErrorCode)
	}
}

func TestClusterAndProducerIDs(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || meta.Cluster != "test-cluster" || len(meta.Brokers) != 1 {
		t.Fatalf("cluster: %+v %v", meta, err)
	}
	cl := s.client(t)
	ids := map[int64]bool{}
	for range 3 {
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 || resp.ProducerEpoch != 0 {
			t.Fatalf("InitProducerID: %+v %v", resp, err)
		}
		if ids[resp.ProducerID] {
			t.Fatalf("producer id %d handed out twice", resp.ProducerID)
		}
		ids[resp.ProducerID] = true
	}
	// kgo would look for a transaction coordinator first; ask directly.
	txn := kmsg.NewPtrInitProducerIDRequest()
	id := "txn"
	txn.TransactionalID = &id
	resp := dial(t, s.addr).request(txn).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional InitProducerID: error %d, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", resp.ErrorCode)
	}
}

// TestInternalTopics: Metadata lists __consumer_offsets and
// __transaction_state as internal topics; they read as empty, refuse
// produce, and cannot be created.
func TestInternalTopics(t *testing.T) {
	s := startServer(t, serverOpts{})
	cl := s.client(t)
	ctx := t.Context()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"__consumer_offsets", "__transaction_state"} {
		d, ok := topics[name]
		if !ok || !d.IsInternal || len(d.Partitions) != 50 {
			t.Fatalf("%s: %+v (listed %v), want internal with 50 partitions", name, d, ok)
		}
	}
	if listed, err := adm.ListTopics(ctx); err != nil || listed.Has("__consumer_offsets") {
		t.Fatalf("ListTopics without internal topics: %v, %v", listed.Names(), err)
	}
	ends, err := adm.ListEndOffsets(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := ends.Lookup("__consumer_offsets", 7); e.Err != nil || e.Offset != 0 {
		t.Fatalf("end offset of an internal partition: %+v", e)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to an internal topic: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := configs.On("__consumer_offsets", nil); err != nil || c.Err != nil {
		t.Fatalf("configs of an internal topic: %v, %v", c.Err, err)
	} else {
		policy := ""
		for _, cv := range c.Configs {
			if cv.Key == "cleanup.policy" {
				policy = cv.MaybeValue()
			}
		}
		if policy != "compact" {
			t.Fatalf("cleanup.policy of __consumer_offsets: %q, want compact", policy)
		}
	}
	created, err := adm.CreateTopics(ctx, 1, 1, nil, "__transaction_state")
	if err != nil {
		t.Fatal(err)
	}
	if r := created["__transaction_state"]; !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create an internal topic: %v, want TOPIC_ALREADY_EXISTS", r.Err)
	}
}
