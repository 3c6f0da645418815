package confluentgo

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/hamba/avro/v2"
)

// The versions of one Avro record, as Confluent's schema evolution guide
// walks through them. Each Go type's Schema method gives the avrov2
// serializer its schema.
//
// avrov2's auto-registration registers hamba/avro's String() of the schema,
// which is Avro's Parsing Canonical Form: it drops "default" (and "doc",
// "aliases"). So a change that needs a default on the registry's side (a
// field added under BACKWARD, a field deleted under FORWARD) is registered
// with its text, the way a deployment pipeline registers schemas, and the
// producers that write it use the registered version (use.latest.version,
// no auto-registration), as Confluent recommends for production.
const (
	orderV1Schema = `{"type":"record","name":"Order","namespace":"strata.interop","fields":[
		{"name":"id","type":"long"},
		{"name":"item","type":"string"},
		{"name":"note","type":"string","default":"n/a"}]}`
	// orderForwardSchema adds amount without a default and deletes note,
	// which has one: FORWARD-compatible (a v1 reader ignores amount and
	// takes note's default), not BACKWARD (a v2 reader has no value for
	// amount in v1 data).
	orderForwardSchema = `{"type":"record","name":"Order","namespace":"strata.interop","fields":[
		{"name":"id","type":"long"},
		{"name":"item","type":"string"},
		{"name":"amount","type":"int"}]}`
	// orderBackwardSchema adds priority with a default: BACKWARD-compatible.
	orderBackwardSchema = `{"type":"record","name":"Order","namespace":"strata.interop","fields":[
		{"name":"id","type":"long"},
		{"name":"item","type":"string"},
		{"name":"note","type":"string","default":"n/a"},
		{"name":"priority","type":"int","default":3}]}`
	// orderIncompatibleSchema changes id's type from long to string:
	// compatible under no level.
	orderIncompatibleSchema = `{"type":"record","name":"Order","namespace":"strata.interop","fields":[
		{"name":"id","type":"string"},
		{"name":"item","type":"string"},
		{"name":"note","type":"string","default":"n/a"}]}`
)

type orderV1 struct {
	ID   int64  `avro:"id"`
	Item string `avro:"item"`
	Note string `avro:"note"`
}

func (*orderV1) Schema() avro.Schema { return mustParse(orderV1Schema) }

type orderForward struct {
	ID     int64  `avro:"id"`
	Item   string `avro:"item"`
	Amount int32  `avro:"amount"`
}

func (*orderForward) Schema() avro.Schema { return mustParse(orderForwardSchema) }

type orderBackward struct {
	ID       int64  `avro:"id"`
	Item     string `avro:"item"`
	Note     string `avro:"note"`
	Priority int32  `avro:"priority"`
}

func (*orderBackward) Schema() avro.Schema { return mustParse(orderBackwardSchema) }

type orderIncompatible struct {
	ID   string `avro:"id"`
	Item string `avro:"item"`
	Note string `avro:"note"`
}

func (*orderIncompatible) Schema() avro.Schema { return mustParse(orderIncompatibleSchema) }

// mustParse parses text with a cache of its own: the versions share one
// name, and hamba/avro's default cache is keyed by name.
func mustParse(text string) avro.Schema {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		panic(err) // the schemas above are constants
	}
	return s
}

// registration is how a producer's serializer picks the schema it writes
// with.
type registration int

const (
	// autoRegister is avrov2's default: the serializer registers (or
	// finds) the schema of the type it writes.
	autoRegister registration = iota
	// useLatest writes with the subject's latest registered schema and
	// registers nothing.
	useLatest
)

// serialize encodes each of msgs with a fresh avrov2 serializer, as an
// application starting up does.
func serialize[T any](t *testing.T, sr schemaregistry.Client, topic string, how registration, msgs ...*T) [][]byte {
	t.Helper()
	conf := avrov2.NewSerializerConfig()
	if how == useLatest {
		conf.AutoRegisterSchemas = false
		conf.UseLatestVersion = true
		// A starting application has no cached latest version.
		if err := sr.ClearLatestCaches(); err != nil {
			t.Fatal(err)
		}
	}
	ser, err := avrov2.NewSerializer(sr, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	values := make([][]byte, len(msgs))
	for i, m := range msgs {
		if values[i], err = ser.Serialize(topic, m); err != nil {
			t.Fatalf("serialize %+v: %v", *m, err)
		}
	}
	return values
}

// checkVersions fails unless subject's versions are want and its latest is
// the last of them with id latestID.
func checkVersions(t *testing.T, sr schemaregistry.Client, subject string, want []int, latestID int) {
	t.Helper()
	// The client keeps a subject's latest version until told otherwise,
	// even across its own registrations.
	if err := sr.ClearLatestCaches(); err != nil {
		t.Fatal(err)
	}
	versions, err := sr.GetAllVersions(subject)
	if err != nil {
		t.Fatalf("versions of %s: %v", subject, err)
	}
	if !slices.Equal(versions, want) {
		t.Fatalf("versions of %s: %v, want %v", subject, versions, want)
	}
	latest, err := sr.GetLatestSchemaMetadata(subject)
	if err != nil {
		t.Fatalf("latest of %s: %v", subject, err)
	}
	if latest.Version != want[len(want)-1] || latest.ID != latestID {
		t.Fatalf("latest of %s: version %d id %d, want version %d id %d", subject, latest.Version, latest.ID, want[len(want)-1], latestID)
	}
}

// setCompatibility sets subject's level and reads it back.
func setCompatibility(t *testing.T, sr schemaregistry.Client, subject string, level schemaregistry.Compatibility) {
	t.Helper()
	got, err := sr.UpdateCompatibility(subject, level)
	if err != nil || got != level {
		t.Fatalf("set %s to %s: got %s, %v", subject, level.String(), got.String(), err)
	}
	if got, err = sr.GetCompatibility(subject); err != nil || got != level {
		t.Fatalf("%s is %s (%v) after setting it to %s", subject, got.String(), err, level.String())
	}
}

// TestProducerFirstEvolutionForward: under FORWARD the producer upgrades
// first. Version 1 is registered with note's default and written by a
// producer using the latest version. Version 2 adds amount without a
// default and deletes note: BACKWARD refuses that, FORWARD allows it, and
// the upgraded producer registers it by auto-registration. Consumers still
// on version 1 read both versions' records.
func TestProducerFirstEvolutionForward(t *testing.T) {
	s := startStrata(t)
	sr := s.registryClient(t)
	const topic = "orders-forward"
	subject := topic + "-value"
	s.createTopic(t, topic)
	p := s.newProducer(t)

	id1, err := sr.Register(subject, schemaregistry.SchemaInfo{Schema: orderV1Schema}, false)
	if err != nil {
		t.Fatalf("register v1: %v", err)
	}
	v1 := []*orderV1{{1, "apple", "first"}, {2, "pear", "second"}, {3, "plum", "third"}}
	produceOK(t, p, topic, serialize(t, sr, topic, useLatest, v1...)...)

	next := schemaregistry.SchemaInfo{Schema: orderForwardSchema}
	if ok, err := sr.TestSubjectCompatibility(subject, next); err != nil || ok {
		t.Fatalf("v2 under the default BACKWARD: compatible %v, %v; want false", ok, err)
	}
	setCompatibility(t, sr, subject, schemaregistry.Forward)
	if ok, err := sr.TestSubjectCompatibility(subject, next); err != nil || !ok {
		t.Fatalf("v2 under FORWARD: compatible %v, %v; want true", ok, err)
	}

	v2 := []*orderForward{{4, "fig", 40}, {5, "kiwi", 50}, {6, "lime", 60}}
	produceOK(t, p, topic, serialize(t, sr, topic, autoRegister, v2...)...)
	if err := sr.ClearLatestCaches(); err != nil {
		t.Fatal(err)
	}
	latest, err := sr.GetLatestSchemaMetadata(subject)
	if err != nil {
		t.Fatal(err)
	}
	id2 := latest.ID
	if id2 == id1 {
		t.Fatalf("v2 registered with v1's id %d", id1)
	}
	checkVersions(t, sr, subject, []int{1, 2}, id2)

	// The consumer has not upgraded: it decodes into the v1 struct.
	got := s.consumeGroup(t, "forward-readers", topic, 6)
	deser, err := avrov2.NewDeserializer(sr, serde.ValueSerde, avrov2.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		wantID, want := id1, *v1[min(i, 2)]
		if i >= 3 {
			wantID, want = id2, orderV1{ID: v2[i-3].ID, Item: v2[i-3].Item}
		}
		if id := schemaID(t, v); id != wantID {
			t.Fatalf("record %d written with schema %d, want %d", i, id, wantID)
		}
		var o orderV1
		if err := deser.DeserializeInto(topic, v, &o); err != nil {
			t.Fatalf("v1 consumer, record %d: %v", i, err)
		}
		// With no reader schema configured the deserializer decodes with
		// the writer's schema: v2's amount is skipped, and note, which v2
		// lacks, stays empty.
		if o != want {
			t.Fatalf("v1 consumer, record %d: got %+v, want %+v", i, o, want)
		}
	}

	// A consumer whose reader schema is v1 resolves v2 data against it, as
	// Avro specifies: amount is skipped, note takes its default.
	reader, err := sr.GetSchemaMetadata(subject, 1)
	if err != nil {
		t.Fatal(err)
	}
	writer, err := sr.GetBySubjectAndID(subject, id2)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := avro.NewSchemaCompatibility().Resolve(mustParse(reader.Schema), mustParse(writer.Schema))
	if err != nil {
		t.Fatalf("resolve v2 against v1: %v", err)
	}
	for i, v := range got[3:] {
		var o orderV1
		if err := avro.Unmarshal(resolved, v[5:], &o); err != nil {
			t.Fatalf("v1 reader, record %d: %v", i+3, err)
		}
		if want := (orderV1{ID: v2[i].ID, Item: v2[i].Item, Note: "n/a"}); o != want {
			t.Fatalf("v1 reader, record %d: got %+v, want %+v", i+3, o, want)
		}
	}
}

// TestConsumerFirstEvolutionBackward: under BACKWARD the consumer upgrades
// first. Version 2 adds priority with a default and is registered before
// the consumer deploys; records the old producer keeps writing with version
// 1 (its auto-registration finds version 1's id) read as version 2 with the
// default filled in, and once the producer upgrades its records carry the
// field.
func TestConsumerFirstEvolutionBackward(t *testing.T) {
	s := startStrata(t)
	sr := s.registryClient(t)
	const topic = "orders-backward"
	subject := topic + "-value"
	s.createTopic(t, topic)
	setCompatibility(t, sr, subject, schemaregistry.Backward)
	p := s.newProducer(t)

	v1 := []*orderV1{{1, "apple", "a"}, {2, "pear", "b"}, {3, "plum", "c"}}
	produceOK(t, p, topic, serialize(t, sr, topic, autoRegister, v1[:2]...)...)
	latest, err := sr.GetLatestSchemaMetadata(subject)
	if err != nil {
		t.Fatal(err)
	}
	id1 := latest.ID

	id2, err := sr.Register(subject, schemaregistry.SchemaInfo{Schema: orderBackwardSchema}, false)
	if err != nil {
		t.Fatalf("register v2: %v", err)
	}
	checkVersions(t, sr, subject, []int{1, 2}, id2)
	// The producer, not upgraded yet, restarts and registers v1 again: the
	// registry answers with v1's id and adds no version.
	produceOK(t, p, topic, serialize(t, sr, topic, autoRegister, v1[2:]...)...)
	checkVersions(t, sr, subject, []int{1, 2}, id2)
	v2 := []*orderBackward{{4, "fig", "d", 7}}
	produceOK(t, p, topic, serialize(t, sr, topic, useLatest, v2...)...)
	checkVersions(t, sr, subject, []int{1, 2}, id2)

	// The upgraded consumer reads with the subject's latest schema.
	conf := avrov2.NewDeserializerConfig()
	conf.UseLatestVersion = true
	deser, err := avrov2.NewDeserializer(sr, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	got := s.consumeGroup(t, "backward-readers", topic, 4)
	for i, v := range got {
		wantID, want := id1, orderBackward{ID: v1[min(i, 2)].ID, Item: v1[min(i, 2)].Item, Note: v1[min(i, 2)].Note, Priority: 3}
		if i == 3 {
			wantID, want = id2, *v2[0]
		}
		if id := schemaID(t, v); id != wantID {
			t.Fatalf("record %d written with schema %d, want %d", i, id, wantID)
		}
		var o orderBackward
		if err := deser.DeserializeInto(topic, v, &o); err != nil {
			t.Fatalf("v2 consumer, record %d: %v", i, err)
		}
		if o != want {
			t.Fatalf("v2 consumer, record %d: got %+v, want %+v", i, o, want)
		}
	}
}

// TestIncompatibleSchemaRefused: under BACKWARD, changing a field's type is
// refused with Confluent's 409, whether registered directly or by a
// serializer's auto-registration, and the subject keeps its one version.
func TestIncompatibleSchemaRefused(t *testing.T) {
	s := startStrata(t)
	sr := s.registryClient(t)
	const topic = "orders-refused"
	subject := topic + "-value"
	setCompatibility(t, sr, subject, schemaregistry.Backward)
	id1, err := sr.Register(subject, schemaregistry.SchemaInfo{Schema: orderV1Schema}, false)
	if err != nil {
		t.Fatal(err)
	}

	bad := schemaregistry.SchemaInfo{Schema: orderIncompatibleSchema}
	_, err = sr.Register(subject, bad, false)
	checkConflict(t, "register", err)
	ser, err := avrov2.NewSerializer(sr, serde.ValueSerde, avrov2.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = ser.Serialize(topic, &orderIncompatible{ID: "1", Item: "apple"})
	checkConflict(t, "auto-register", err)

	if ok, err := sr.TestSubjectCompatibility(subject, bad); err != nil || ok {
		t.Fatalf("compatibility check: compatible %v, %v; want false", ok, err)
	}
	checkVersions(t, sr, subject, []int{1}, id1)
	byID, err := sr.GetBySubjectAndID(subject, id1)
	if err != nil {
		t.Fatal(err)
	}
	if mustParse(byID.Schema).Fingerprint() != mustParse(orderV1Schema).Fingerprint() {
		t.Fatalf("schema %d is now %s, want v1", id1, byID.Schema)
	}
}

// checkConflict fails unless err is the registry's 409: the schema is
// incompatible with the subject's versions under its level.
func checkConflict(t *testing.T, what string, err error) {
	t.Helper()
	var rerr *rest.Error
	if !errors.As(err, &rerr) || rerr.Code != http.StatusConflict {
		t.Fatalf("%s an incompatible schema: %v, want error code 409", what, err)
	}
	t.Logf("%s an incompatible schema: %v", what, err)
}
