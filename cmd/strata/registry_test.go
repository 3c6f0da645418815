package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/stratalog/strata/internal/testenv"
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
// through encoding/json), produces them to topics that validate the schema
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
	for _, c := range []struct {
		topic string
		s     sr.Schema
		enc   func(any) ([]byte, error)
		dec   func([]byte, any) error
	}{
		{"orders-avro", sr.Schema{Schema: avroText}, func(v any) ([]byte, error) { return avro.Marshal(avroSchema, v) }, func(b []byte, v any) error { return avro.Unmarshal(avroSchema, b, v) }},
		{"orders-json", sr.Schema{Schema: jsonText, Type: sr.TypeJSON}, json.Marshal, json.Unmarshal},
	} {
		t.Run(c.topic, func(t *testing.T) {
			ss, err := srcl.CreateSchema(ctx, c.topic+"-value", c.s)
			if err != nil {
				t.Fatal(err)
			}
			createTopicWith(t, broker, c.topic, 1, map[string]string{"confluent.value.schema.validation": "true"})
			var serde sr.Serde
			serde.Register(ss.ID, serdeOrder{}, sr.EncodeFn(c.enc), sr.DecodeFn(c.dec))
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
