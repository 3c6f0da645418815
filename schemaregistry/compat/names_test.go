package compat

import (
	"errors"
	"testing"
)

func TestRecordNames(t *testing.T) {
	proto := Schema{Type: Protobuf, Text: `syntax = "proto3";
package acme;
import "common.proto";
message A { common.Id id = 1; }
message B { message Inner { message Deep {} } }
`, References: map[string]string{"common.proto": `syntax = "proto3"; package common; message Id { int64 v = 1; }`}}
	for _, c := range []struct {
		name    string
		s       Schema
		indexes []int
		want    string
		ok      bool
	}{
		{"avro record with namespace", Schema{Text: `{"type":"record","name":"Order","namespace":"com.acme","fields":[]}`}, nil, "com.acme.Order", true},
		{"avro dotted name", Schema{Text: `{"type":"record","name":"x.y.Order","fields":[]}`}, nil, "x.y.Order", true},
		{"avro enum", Schema{Type: Avro, Text: `{"type":"enum","name":"Suit","symbols":["A"]}`}, nil, "Suit", true},
		{"avro primitive", Schema{Text: `"string"`}, nil, "string", true},
		{"avro with a reference", Schema{Text: `{"type":"record","name":"Outer","fields":[{"name":"i","type":"Inner"}]}`,
			References: map[string]string{"Inner": `{"type":"record","name":"Inner","fields":[]}`}}, nil, "Outer", true},
		{"json title", Schema{Type: JSON, Text: `{"title":"Payment","type":"object"}`}, nil, "Payment", true},
		{"json without title", Schema{Type: JSON, Text: `{"type":"object"}`}, nil, "", false},
		{"json title not a string", Schema{Type: JSON, Text: `{"title":3}`}, nil, "", false},
		{"protobuf default is the first message", proto, nil, "acme.A", true},
		{"protobuf second message", proto, []int{1}, "acme.B", true},
		{"protobuf nested twice", proto, []int{1, 0, 0}, "acme.B.Inner.Deep", true},
		{"protobuf index out of range", proto, []int{2}, "", false},
		{"protobuf nested index out of range", proto, []int{0, 0}, "", false},
		{"protobuf negative index", proto, []int{-1}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, err := NamesOf(c.s)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := n.Name(c.indexes)
			if got != c.want || ok != c.ok {
				t.Fatalf("Name(%v) = %q, %v; want %q, %v", c.indexes, got, ok, c.want, c.ok)
			}
		})
	}
	for _, s := range []Schema{{Text: `{"type":`}, {Type: JSON, Text: `{`}, {Type: Protobuf, Text: `message {`}} {
		if _, err := NamesOf(s); !errors.Is(err, ErrInvalidSchema) {
			t.Errorf("NamesOf(%q): %v, want ErrInvalidSchema", s.Text, err)
		}
	}
	if _, err := NamesOf(Schema{Type: "XML"}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
}
