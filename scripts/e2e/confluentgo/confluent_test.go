package confluentgo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/jsonschema"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// records is how many records each round trip produces.
const records = 200

// order is the record the Avro and JSON Schema round trips write. The Avro
// serializer derives its schema from the avro tags, JSON Schema's from the
// json tags (invopop/jsonschema).
type order struct {
	ID     int64    `avro:"id" json:"id"`
	Item   string   `avro:"item" json:"item"`
	Amount int32    `avro:"amount" json:"amount"`
	Price  float64  `avro:"price" json:"price"`
	Tags   []string `avro:"tags" json:"tags"`
}

func newOrder(i int) order {
	return order{ID: int64(i), Item: fmt.Sprintf("item-%d", i), Amount: int32(i % 7), Price: float64(i) / 4, Tags: []string{"t", fmt.Sprint(i)}}
}

// checkRegistered checks what each format's test expects once records are
// produced and read back: every value carries the one id registered under
// "<topic>-value", the registry knows it as that subject's latest version,
// and the subject is listed.
func checkRegistered(t *testing.T, sr schemaregistry.Client, topic, schemaType string, values [][]byte) {
	t.Helper()
	subject := topic + "-value"
	latest, err := sr.GetLatestSchemaMetadata(subject)
	if err != nil {
		t.Fatalf("latest of %s: %v", subject, err)
	}
	if latest.Version != 1 || latest.SchemaType != schemaType {
		t.Fatalf("latest of %s: version %d, type %q; want version 1, type %q", subject, latest.Version, latest.SchemaType, schemaType)
	}
	for i, v := range values {
		if id := schemaID(t, v); id != latest.ID {
			t.Fatalf("record %d carries schema id %d, want %d (latest of %s)", i, id, latest.ID, subject)
		}
	}
	byID, err := sr.GetBySubjectAndID(subject, latest.ID)
	if err != nil {
		t.Fatalf("schema %d of %s: %v", latest.ID, subject, err)
	}
	if byID.Schema != latest.Schema || byID.SchemaType != schemaType {
		t.Fatalf("schema %d by id is %q (%q), by version %q (%q)", latest.ID, byID.Schema, byID.SchemaType, latest.Schema, latest.SchemaType)
	}
	subjects, err := sr.GetAllSubjects()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(subjects, subject) {
		t.Fatalf("subjects %v lack %s", subjects, subject)
	}
}

// TestAvroRoundTrip: an idempotent acks=all producer writes structs through
// the avrov2 serializer, which registers the schema it derives from the
// struct; a consumer group reads every record back in order and the avrov2
// deserializer decodes each with the schema it fetches by id.
func TestAvroRoundTrip(t *testing.T) {
	s := startStrata(t)
	sr := s.registryClient(t)
	const topic = "orders-avro"
	s.createTopic(t, topic)

	ser, err := avrov2.NewSerializer(sr, serde.ValueSerde, avrov2.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]order, records)
	values := make([][]byte, records)
	for i := range want {
		want[i] = newOrder(i)
		if values[i], err = ser.Serialize(topic, &want[i]); err != nil {
			t.Fatalf("serialize record %d: %v", i, err)
		}
	}
	produceOK(t, s.newProducer(t), topic, values...)

	got := s.consumeGroup(t, "avro-readers", topic, records)
	deser, err := avrov2.NewDeserializer(sr, serde.ValueSerde, avrov2.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		var o order
		if err := deser.DeserializeInto(topic, v, &o); err != nil {
			t.Fatalf("deserialize record %d: %v", i, err)
		}
		if !reflect.DeepEqual(o, want[i]) {
			t.Fatalf("record %d: got %+v, want %+v", i, o, want[i])
		}
	}
	// Confluent leaves schemaType out for AVRO, and the client reads it as "".
	checkRegistered(t, sr, topic, "", got)

	// The topic validates schema ids: the broker refuses a value without
	// the wire format's magic byte, and one whose id is not registered,
	// with INVALID_RECORD, and appends nothing.
	unknownID := append([]byte{0, 0, 0x7f, 0xff, 0xff}, values[0][5:]...)
	errs := produce(t, s.newProducer(t), topic, []byte("no magic byte"), unknownID)
	for i, err := range errs {
		var kerr kafka.Error
		if !errors.As(err, &kerr) || kerr.Code() != kafka.ErrInvalidRecord {
			t.Errorf("invalid value %d: %v, want INVALID_RECORD", i, err)
		}
	}
	if end := s.highWatermark(t, topic); end != records {
		t.Fatalf("high watermark %d after the refused values, want %d", end, records)
	}
}

// TestJSONSchemaRoundTrip: as TestAvroRoundTrip, with the jsonschema serde
// registering the JSON Schema it reflects from the struct and validating
// every record against it before writing. (The deserializer's
// EnableValidation hands the decoded struct, not generic JSON, to the
// validator, which refuses it with "invalid jsonType" in v2.11.1, so the
// read side checks content by comparison instead.)
func TestJSONSchemaRoundTrip(t *testing.T) {
	s := startStrata(t)
	sr := s.registryClient(t)
	const topic = "orders-json"
	s.createTopic(t, topic)

	serConf := jsonschema.NewSerializerConfig()
	serConf.EnableValidation = true
	ser, err := jsonschema.NewSerializer(sr, serde.ValueSerde, serConf)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]order, records)
	values := make([][]byte, records)
	for i := range want {
		want[i] = newOrder(i)
		if values[i], err = ser.Serialize(topic, &want[i]); err != nil {
			t.Fatalf("serialize record %d: %v", i, err)
		}
	}
	produceOK(t, s.newProducer(t), topic, values...)

	got := s.consumeGroup(t, "json-readers", topic, records)
	deser, err := jsonschema.NewDeserializer(sr, serde.ValueSerde, jsonschema.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		var o order
		if err := deser.DeserializeInto(topic, v, &o); err != nil {
			t.Fatalf("deserialize record %d: %v", i, err)
		}
		if !reflect.DeepEqual(o, want[i]) {
			t.Fatalf("record %d: got %+v, want %+v", i, o, want[i])
		}
	}
	checkRegistered(t, sr, topic, "JSON", got)
}

// orderProto is the Protobuf schema of the Protobuf round trip. protoc is
// not needed: protocompile builds its descriptor when the test runs, and the
// records are dynamicpb messages of it, which Confluent's serde takes like
// generated ones (it reads any proto.Message's descriptor).
const orderProto = `syntax = "proto3";
package strata.interop;

message Order {
  int64 id = 1;
  string item = 2;
  int32 amount = 3;
  double price = 4;
  repeated string tags = 5;
  Status status = 6;

  enum Status {
    NEW = 0;
    PAID = 1;
  }
}
`

// orderDescriptor compiles orderProto.
func orderDescriptor(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	c := protocompile.Compiler{Resolver: &protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"strata/interop/order.proto": orderProto}),
	}}
	files, err := c.Compile(context.Background(), "strata/interop/order.proto")
	if err != nil {
		t.Fatal(err)
	}
	return files[0].Messages().ByName("Order")
}

func newProtoOrder(md protoreflect.MessageDescriptor, i int) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	f := md.Fields()
	m.Set(f.ByName("id"), protoreflect.ValueOfInt64(int64(i)))
	m.Set(f.ByName("item"), protoreflect.ValueOfString(fmt.Sprintf("item-%d", i)))
	m.Set(f.ByName("amount"), protoreflect.ValueOfInt32(int32(i%7)))
	m.Set(f.ByName("price"), protoreflect.ValueOfFloat64(float64(i)/4))
	tags := m.Mutable(f.ByName("tags")).List()
	tags.Append(protoreflect.ValueOfString("t"))
	tags.Append(protoreflect.ValueOfString(fmt.Sprint(i)))
	m.Set(f.ByName("status"), protoreflect.ValueOfEnum(protoreflect.EnumNumber(i%2)))
	return m
}

// TestProtobufRoundTrip: as TestAvroRoundTrip, with the protobuf serde
// registering the .proto it prints from the message's descriptor and
// writing message indexes after the schema id.
func TestProtobufRoundTrip(t *testing.T) {
	s := startStrata(t)
	sr := s.registryClient(t)
	const topic = "orders-proto"
	s.createTopic(t, topic)
	md := orderDescriptor(t)

	ser, err := protobuf.NewSerializer(sr, serde.ValueSerde, protobuf.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]*dynamicpb.Message, records)
	values := make([][]byte, records)
	for i := range want {
		want[i] = newProtoOrder(md, i)
		if values[i], err = ser.Serialize(topic, want[i]); err != nil {
			t.Fatalf("serialize record %d: %v", i, err)
		}
	}
	produceOK(t, s.newProducer(t), topic, values...)

	got := s.consumeGroup(t, "proto-readers", topic, records)
	deser, err := protobuf.NewDeserializer(sr, serde.ValueSerde, protobuf.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The deserializer makes messages of the types in its registry, found by
	// the name the schema id and message indexes point at.
	if err := deser.ProtoRegistry.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		m, err := deser.Deserialize(topic, v)
		if err != nil {
			t.Fatalf("deserialize record %d: %v", i, err)
		}
		pm, ok := m.(proto.Message)
		if !ok || !proto.Equal(pm, want[i]) {
			t.Fatalf("record %d: got %v, want %v", i, m, want[i])
		}
	}
	checkRegistered(t, sr, topic, "PROTOBUF", got)
}
