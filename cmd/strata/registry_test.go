package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
)

// TestSchemaRegistryAcrossGateways: two gateways serve the schema registry
// from one coordinator. A schema registered on A is read on B; with A killed
// B keeps serving and registering; after a restart of both on the same data
// every schema keeps its id.
func TestSchemaRegistryAcrossGateways(t *testing.T) {
	nats := testenv.NATS(t)
	dir := t.TempDir()
	kafka := []string{freeLoopbackAddr(t), freeLoopbackAddr(t)}
	registry := []string{freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(i int) []string {
		return []string{"--nats-url", nats.URL, "--nats-monitor-url", nats.MonitorURL, "--node-id", []string{"1", "2"}[i],
			"--schema-registry-listen", registry[i]}
	}
	procs := []*process{startProcess(t, dir, kafka[0], args(0)...), startProcess(t, dir, kafka[1], args(1)...)}
	client := func(i int) *sr.Client {
		cl, err := sr.NewClient(sr.URLs("http://" + registry[i]))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	a, b := client(0), client(1)
	ctx := t.Context()
	s1, err := a.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		_, err := b.SchemaByID(ctx, s1.ID)
		return err
	})

	procs[0].kill(t)
	s2, err := b.CreateSchema(ctx, "payments-value", sr.Schema{Schema: `{"type":"record","name":"Payment","fields":[{"name":"amount","type":"double"}]}`})
	if err != nil {
		t.Fatalf("register on B with A down: %v", err)
	}
	procs[1].stop(t)

	procs[0] = startProcess(t, dir, kafka[0], args(0)...)
	procs[1] = startProcess(t, dir, kafka[1], args(1)...)
	for _, want := range []sr.SubjectSchema{s1, s2} {
		for i, cl := range []*sr.Client{a, b} {
			got, err := cl.SchemaByVersion(ctx, want.Subject, want.Version)
			if err != nil || got.ID != want.ID {
				t.Fatalf("gateway %d after restart: %s v%d is id %d (%v), want %d", i+1, want.Subject, want.Version, got.ID, err, want.ID)
			}
		}
	}
}

// TestSchemaValidation: a topic with confluent.value.schema.validation takes
// only records whose value carries the wire format's magic byte and the id
// of a schema registered under "<topic>-value"; anything else fails the
// whole batch with INVALID_RECORD and appends nothing.
func TestSchemaValidation(t *testing.T) {
	registry := freeLoopbackAddr(t)
	broker := startServe(t, "--schema-registry-listen", registry)
	srcl, err := sr.NewClient(sr.URLs("http://" + registry))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s, err := srcl.CreateSchema(ctx, "checked-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	other, err := srcl.CreateSchema(ctx, "elsewhere-value", sr.Schema{Schema: `"long"`})
	if err != nil {
		t.Fatal(err)
	}
	createTopicWith(t, broker, "checked", 1, map[string]string{"confluent.value.schema.validation": "true"})
	wire := func(id int, payload string) []byte {
		return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, payload...)
	}
	producer := newClient(t, broker, kgo.DefaultProduceTopic("checked"), kgo.RecordRetries(0))
	for _, c := range []struct {
		name  string
		value []byte
		ok    bool
	}{
		{"registered id", wire(s.ID, "\x06abc"), true},
		{"no magic byte", []byte("plain text"), false},
		{"unknown id", wire(424242, "x"), false},
		{"id of another subject", wire(other.ID, "x"), false},
		{"too short", []byte{0, 0}, false},
	} {
		err := producer.ProduceSync(ctx, &kgo.Record{Value: c.value}).FirstErr()
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, kerr.InvalidRecord) {
			t.Errorf("%s: %v, want INVALID_RECORD", c.name, err)
		}
	}
	// A batch with one bad record among good ones is refused whole.
	err = producer.ProduceSync(ctx, &kgo.Record{Value: wire(s.ID, "a")}, &kgo.Record{Value: []byte("bad")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("mixed batch: %v, want INVALID_RECORD", err)
	}
	ends, err := kadm.NewClient(newClient(t, broker)).ListEndOffsets(ctx, "checked")
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup("checked", 0); end.Offset != 1 {
		t.Fatalf("high watermark %d, want 1: only the valid record", end.Offset)
	}
}

// serdeOrder is the record the serde test produces, as Avro and as JSON.
type serdeOrder struct {
	ID     int64  `avro:"id" json:"id"`
	Item   string `avro:"item" json:"item"`
	Amount int32  `avro:"amount" json:"amount"`
}

// TestSerdesThroughStrata: franz-go's sr.Serde encodes records with schemas
// registered in Strata's registry (Avro through hamba/avro, JSON Schema
// through encoding/json, Protobuf through dynamicpb with the message index
// Confluent's format adds), produces them to topics that validate the schema
// id at the broker, and a consumer decodes every one with the schema it
// fetches by id. A record encoded with an id of another subject is refused.
func TestSerdesThroughStrata(t *testing.T) {
	registry := freeLoopbackAddr(t)
	broker := startServe(t, "--schema-registry-listen", registry)
	srcl, err := sr.NewClient(sr.URLs("http://" + registry))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	avroText := `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"amount","type":"int"}]}`
	jsonText := `{"type":"object","properties":{"id":{"type":"integer"},"item":{"type":"string"},"amount":{"type":"integer"}},"required":["id","item"]}`
	avroSchema, err := avro.Parse(avroText)
	if err != nil {
		t.Fatal(err)
	}
	// The Protobuf file holds two messages; records are the second, so
	// the serde writes message index [1] after the id.
	protoText := `syntax = "proto3";
package shop;
message Header { string source = 1; }
message Order { int64 id = 1; string item = 2; int32 amount = 3; }
`
	order := compileMessage(t, protoText, "shop.Order")
	protoEnc := func(v any) ([]byte, error) {
		o := v.(serdeOrder)
		m := dynamicpb.NewMessage(order)
		fields := order.Fields()
		m.Set(fields.ByName("id"), protoreflect.ValueOfInt64(o.ID))
		m.Set(fields.ByName("item"), protoreflect.ValueOfString(o.Item))
		m.Set(fields.ByName("amount"), protoreflect.ValueOfInt32(o.Amount))
		return proto.Marshal(m)
	}
	protoDec := func(b []byte, v any) error {
		m := dynamicpb.NewMessage(order)
		if err := proto.Unmarshal(b, m); err != nil {
			return err
		}
		fields := order.Fields()
		*v.(*serdeOrder) = serdeOrder{
			ID:     m.Get(fields.ByName("id")).Int(),
			Item:   m.Get(fields.ByName("item")).String(),
			Amount: int32(m.Get(fields.ByName("amount")).Int()),
		}
		return nil
	}
	for _, c := range []struct {
		topic string
		s     sr.Schema
		enc   func(any) ([]byte, error)
		dec   func([]byte, any) error
		index []int // Protobuf's message indexes
	}{
		{"orders-avro", sr.Schema{Schema: avroText}, func(v any) ([]byte, error) { return avro.Marshal(avroSchema, v) }, func(b []byte, v any) error { return avro.Unmarshal(avroSchema, b, v) }, nil},
		{"orders-json", sr.Schema{Schema: jsonText, Type: sr.TypeJSON}, json.Marshal, json.Unmarshal, nil},
		{"orders-protobuf", sr.Schema{Schema: protoText, Type: sr.TypeProtobuf}, protoEnc, protoDec, []int{1}},
	} {
		t.Run(c.topic, func(t *testing.T) {
			ss, err := srcl.CreateSchema(ctx, c.topic+"-value", c.s)
			if err != nil {
				t.Fatal(err)
			}
			createTopicWith(t, broker, c.topic, 1, map[string]string{"confluent.value.schema.validation": "true"})
			var serde sr.Serde
			opts := []sr.EncodingOpt{sr.EncodeFn(c.enc), sr.DecodeFn(c.dec)}
			if c.index != nil {
				opts = append(opts, sr.Index(c.index...))
			}
			serde.Register(ss.ID, serdeOrder{}, opts...)
			producer := newClient(t, broker, kgo.DefaultProduceTopic(c.topic), kgo.RecordRetries(0))
			const n = 100
			for i := range n {
				v, err := serde.Encode(serdeOrder{ID: int64(i), Item: "widget", Amount: int32(i * 3)})
				if err != nil {
					t.Fatal(err)
				}
				if err := producer.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: v}).FirstErr(); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			// A consumer that knows no schema: it fetches each by id.
			consumer := newClient(t, broker, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: {0: kgo.NewOffset().AtStart()}}))
			var got []serdeOrder
			for len(got) < n {
				fs := consumer.PollFetches(ctx)
				fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
				for _, r := range fs.Records() {
					id, payload, err := (&sr.Serde{}).DecodeID(r.Value)
					if err != nil {
						t.Fatal(err)
					}
					schema, err := srcl.SchemaByID(ctx, id)
					if err != nil || schema.Schema != c.s.Schema {
						t.Fatalf("schema %d: %q, %v", id, schema.Schema, err)
					}
					if c.index != nil {
						var index []int
						if index, payload, err = (&sr.Serde{}).DecodeIndex(payload, 8); err != nil || !slices.Equal(index, c.index) {
							t.Fatalf("message index %v (%v), want %v", index, err, c.index)
						}
					}
					var o serdeOrder
					if err := c.dec(payload, &o); err != nil {
						t.Fatal(err)
					}
					got = append(got, o)
				}
			}
			for i, o := range got {
				if o.ID != int64(i) || o.Item != "widget" || o.Amount != int32(3*i) {
					t.Fatalf("record %d decoded as %+v", i, o)
				}
			}
		})
	}
	// The Avro topic refuses a record framed with the JSON subject's id.
	jsonID, err := srcl.LookupSchema(ctx, "orders-json-value", sr.Schema{Schema: jsonText, Type: sr.TypeJSON})
	if err != nil {
		t.Fatal(err)
	}
	var serde sr.Serde
	serde.Register(jsonID.ID, serdeOrder{}, sr.EncodeFn(json.Marshal))
	v, err := serde.Encode(serdeOrder{ID: 1, Item: "x"})
	if err != nil {
		t.Fatal(err)
	}
	producer := newClient(t, broker, kgo.DefaultProduceTopic("orders-avro"), kgo.RecordRetries(0))
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("a record with another subject's schema id: %v, want INVALID_RECORD", err)
	}
}

// compileMessage compiles one .proto file and returns the message named
// name, for dynamicpb: the test needs no generated code.
func compileMessage(t *testing.T, text, name string) protoreflect.MessageDescriptor {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"test.proto": text}),
	})}
	files, err := c.Compile(t.Context(), "test.proto")
	if err != nil {
		t.Fatal(err)
	}
	md := files[0].Messages().ByName(protoreflect.FullName(name).Name())
	if md == nil {
		t.Fatalf("no message %s", name)
	}
	return md
}

// TestSubjectNameStrategies: with RecordNameStrategy a record's schema id
// must be registered under its record's name (an Avro schema's full name, a
// JSON Schema's title, the Protobuf message the record's message indexes
// pick), with TopicRecordNameStrategy under "<topic>-<name>". A refused
// batch names its first bad record in Produce's record_errors.
func TestSubjectNameStrategies(t *testing.T) {
	const (
		recordName      = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
		topicRecordName = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
	)
	registry := freeLoopbackAddr(t)
	broker := startServe(t, "--schema-registry-listen", registry)
	srcl, err := sr.NewClient(sr.URLs("http://" + registry))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	register := func(subject string, s sr.Schema) int {
		t.Helper()
		ss, err := srcl.CreateSchema(ctx, subject, s)
		if err != nil {
			t.Fatalf("register %s: %v", subject, err)
		}
		return ss.ID
	}
	order := sr.Schema{Schema: `{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"}]}`}
	orderID := register("com.acme.Order", order)
	if id := register("by-topic-record-com.acme.Order", order); id != orderID {
		t.Fatalf("the same schema under another subject got id %d, want %d", id, orderID)
	}
	paymentID := register("Payment", sr.Schema{Type: sr.TypeJSON, Schema: `{"title":"Payment","type":"object"}`})
	untitledID := register("by-record-value", sr.Schema{Type: sr.TypeJSON, Schema: `{"type":"object","properties":{"x":{"type":"string"}}}`})
	innerID := register("acme.B.Inner", sr.Schema{Type: sr.TypeProtobuf, Schema: `syntax = "proto3";
package acme;
message A { string a = 1; }
message B { message Inner { int32 x = 1; } string b = 1; }
`})
	createTopicWith(t, broker, "by-record", 1, map[string]string{"confluent.value.schema.validation": "true", "confluent.value.subject.name.strategy": recordName})
	createTopicWith(t, broker, "by-topic-record", 1, map[string]string{"confluent.value.schema.validation": "true", "confluent.value.subject.name.strategy": topicRecordName})

	wire := func(id int, rest ...byte) []byte {
		return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, rest...)
	}
	producer := newClient(t, broker, kgo.RecordRetries(0))
	accepted := map[string]int64{}
	for _, c := range []struct {
		name, topic string
		value       []byte
		ok          bool
	}{
		{"avro full name", "by-record", wire(orderID, 2), true},
		{"json title", "by-record", wire(paymentID, '{', '}'), true},
		// Message indexes [1 0] (count 2, then 1 and 0, zig-zag): acme.B.Inner.
		{"protobuf nested message", "by-record", wire(innerID, 4, 2, 0, 8, 1), true},
		{"protobuf message not registered by its name", "by-record", wire(innerID, 0, 10, 1), false},
		{"protobuf index past the file's messages", "by-record", wire(innerID, 2, 10), false},
		{"json schema without a title", "by-record", wire(untitledID, '{', '}'), false},
		{"unknown id", "by-record", wire(999999, 0), false},
		{"topic and record name", "by-topic-record", wire(orderID, 2), true},
		{"record name not under this topic", "by-topic-record", wire(paymentID, '{', '}'), false},
	} {
		err := producer.ProduceSync(ctx, &kgo.Record{Topic: c.topic, Value: c.value}).FirstErr()
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !c.ok && !errors.Is(err, kerr.InvalidRecord):
			t.Errorf("%s: %v, want INVALID_RECORD", c.name, err)
		case c.ok:
			accepted[c.topic]++
		}
	}
	ends, err := kadm.NewClient(newClient(t, broker)).ListEndOffsets(ctx, "by-record", "by-topic-record")
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range accepted {
		if end, _ := ends.Lookup(topic, 0); end.Offset != want {
			t.Errorf("%s: high watermark %d, want %d (the accepted records)", topic, end.Offset, want)
		}
	}

	// A batch whose third record is bad: Produce v8+ names it.
	records, err := batch.Encode(batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: []batch.Record{
		{Timestamp: 1, Value: wire(orderID, 2)}, {Timestamp: 1, Value: wire(paymentID, '{', '}')}, {Timestamp: 1, Value: []byte("plain")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "by-record"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, producer)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != kerr.InvalidRecord.Code || len(p.ErrorRecords) != 1 || p.ErrorRecords[0].RelativeOffset != 2 || p.ErrorRecords[0].ErrorMessage == nil {
		t.Fatalf("error %d, record errors %+v; want INVALID_RECORD naming record 2", p.ErrorCode, p.ErrorRecords)
	}
	t.Logf("record error: %s", *p.ErrorRecords[0].ErrorMessage)
}
