package export

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/stratalog/strata/replay"
)

// decodeAll writes values through a Job with dec and returns the rows'
// value column as parquet-go reads it back, after checking field ids.
func decodeAll(t *testing.T, dec *Decoder, values [][]byte) []map[string]any {
	t.Helper()
	j, dir := testJob(t, dec, 0)
	f := &partitionFile{job: j}
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, v := range values {
		if err := f.add(t.Context(), replay.Record{Offset: int64(i), Timestamp: at.UnixMilli(), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.finish(t.Context()); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "t", "date=*", "*.parquet"))
	if len(paths) != 1 {
		t.Fatalf("files %v", paths)
	}
	checkFieldIDs(t, paths[0])
	return readRows(t, paths[0])
}

const (
	jsonV1 = `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}}}`
	jsonV2 = `{"type":"object","$defs":{"addr":{"type":"object","properties":{"city":{"type":"string"}}}},
		"properties":{"id":{"type":"integer"},"name":{"type":"string"},"score":{"type":["number","null"]},
		"ok":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string"}},"addr":{"$ref":"#/$defs/addr"},
		"kind":{"enum":["a","b"]},"extra":{"type":"object"}}}`
)

// TestDecodeJSONSchema: JSON values of two versions become the latest's
// typed columns; an object without properties is kept as JSON text.
func TestDecodeJSONSchema(t *testing.T) {
	reg := registry{
		1: {Subject: "t-value", Version: 1, ID: 1, Schema: sr.Schema{Type: sr.TypeJSON, Schema: jsonV1}},
		2: {Subject: "t-value", Version: 2, ID: 2, Schema: sr.Schema{Type: sr.TypeJSON, Schema: jsonV2}},
	}
	dec, err := NewDecoder(t.Context(), reg, "t-value")
	if err != nil {
		t.Fatal(err)
	}
	wireJSON := func(id byte, s string) []byte { return append([]byte{0, 0, 0, 0, id}, s...) }
	rows := decodeAll(t, dec, [][]byte{
		wireJSON(1, `{"id":1,"name":"one"}`),
		wireJSON(2, `{"id":2,"name":"two","score":2.5,"ok":true,"tags":["x","y"],"addr":{"city":"Oslo"},"kind":"b","extra":{"k":[1,2]}}`),
		wireJSON(2, `{"id":0,"name":"","score":0,"ok":false,"tags":[]}`),
	})
	if v := rows[2]["value"].(map[string]any); v["id"] != int64(0) || v["name"] != "" || v["score"] != 0.0 || v["ok"] != false || v["addr"] != nil {
		t.Fatalf("zero values: %v", v)
	}
	got := fmt.Sprint(rows[0]["value"], " | ", rows[1]["value"])
	t.Log(got)
	v0, v1 := rows[0]["value"].(map[string]any), rows[1]["value"].(map[string]any)
	if v0["id"] != int64(1) || v0["name"] != "one" || v0["score"] != nil {
		t.Fatalf("v1: %s", got)
	}
	if v1["id"] != int64(2) || v1["score"] != 2.5 || v1["ok"] != true || fmt.Sprint(v1["tags"]) != "[x y]" ||
		fmt.Sprint(v1["addr"]) != "map[city:Oslo]" || v1["kind"] != "b" || v1["extra"] != `{"k":[1,2]}` {
		t.Fatalf("v2: %s", got)
	}
	if _, _, err := dec.Decode(t.Context(), wireJSON(2, `{"id":"x"}`)); err == nil {
		t.Fatal("a string for an integer decoded")
	}
}

const protoOrder = `syntax = "proto3";
package shop;
message Order {
  int64 id = 1;
  string item = 2;
  optional double price = 3;
  repeated string tags = 4;
  map<string, int32> attrs = 5;
  Ship ship = 6;
  Status status = 7;
  uint32 qty = 8;
  bytes blob = 9;
}
message Ship { string city = 1; }
enum Status { NEW = 0; PAID = 1; }
`

// TestDecodeProtobuf: a Protobuf message, with nested messages, maps,
// repeated fields, enums and an optional field, becomes typed columns; the
// message indexes of the wire format pick the message.
func TestDecodeProtobuf(t *testing.T) {
	reg := registry{1: {Subject: "t-value", Version: 1, ID: 1, Schema: sr.Schema{Type: sr.TypeProtobuf, Schema: protoOrder}}}
	dec, err := NewDecoder(t.Context(), reg, "t-value")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := parseProtobuf(protoOrder, nil)
	if err != nil {
		t.Fatal(err)
	}
	md := ps.(protoSchema).file.Messages().Get(0)
	m := dynamicpb.NewMessage(md)
	set := func(name string, v protoreflect.Value) { m.Set(md.Fields().ByName(protoreflect.Name(name)), v) }
	set("id", protoreflect.ValueOfInt64(9))
	set("item", protoreflect.ValueOfString("ink"))
	set("price", protoreflect.ValueOfFloat64(1.5))
	set("status", protoreflect.ValueOfEnum(1))
	set("qty", protoreflect.ValueOfUint32(3))
	tags := m.Mutable(md.Fields().ByName("tags")).List()
	tags.Append(protoreflect.ValueOfString("a"))
	attrs := m.Mutable(md.Fields().ByName("attrs")).Map()
	attrs.Set(protoreflect.ValueOfString("x").MapKey(), protoreflect.ValueOfInt32(4))
	ship := m.Mutable(md.Fields().ByName("ship")).Message()
	ship.Set(ship.Descriptor().Fields().ByName("city"), protoreflect.ValueOfString("Oslo"))
	full, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	empty := dynamicpb.NewMessage(md)
	set2 := func(name string, v protoreflect.Value) { empty.Set(md.Fields().ByName(protoreflect.Name(name)), v) }
	set2("id", protoreflect.ValueOfInt64(10))
	sparse, err := proto.Marshal(empty)
	if err != nil {
		t.Fatal(err)
	}
	rows := decodeAll(t, dec, [][]byte{
		append([]byte{0, 0, 0, 0, 1, 0}, full...),      // message indexes [0], short form
		append([]byte{0, 0, 0, 0, 1, 2, 0}, sparse...), // [0] in full
	})
	got := fmt.Sprint(rows[0]["value"], " | ", rows[1]["value"])
	t.Log(got)
	v0, v1 := rows[0]["value"].(map[string]any), rows[1]["value"].(map[string]any)
	if v0["id"] != int64(9) || v0["item"] != "ink" || v0["price"] != 1.5 || v0["status"] != "PAID" || fmt.Sprint(v0["tags"]) != "[a]" ||
		fmt.Sprint(v0["ship"]) != "map[city:Oslo]" || fmt.Sprint(v0["qty"]) != "3" {
		t.Fatalf("full message: %s", got)
	}
	if v1["id"] != int64(10) || v1["price"] != nil || v1["ship"] != nil || v1["status"] != "NEW" || v1["item"] != "" || fmt.Sprint(v1["qty"]) != "0" {
		t.Fatalf("sparse message: %s", got)
	}
	if _, _, err := dec.Decode(t.Context(), []byte{0, 0, 0, 0, 1, 2, 8, 1}); err == nil {
		t.Fatal("message index 4 of a file with 2 messages decoded")
	}
}
