package compat

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
)

func pb(text string) Schema { return Schema{Type: Protobuf, Text: text} }

func pbRefs(text string, refs map[string]string) Schema {
	return Schema{Type: Protobuf, Text: text, References: refs}
}

// p3 wraps message bodies in a proto3 file with package test.
func p3(body string) Schema { return pb("syntax = \"proto3\";\npackage test;\n" + body) }

// p2 wraps message bodies in a proto2 file with package test.
func p2(body string) Schema { return pb("syntax = \"proto2\";\npackage test;\n" + body) }

const otherProto = `syntax = "proto3";
package other;
message Address {
  string street = 1;
  int32 number = 2;
}
`

func TestProtobufCheck(t *testing.T) {
	tsImport := `syntax = "proto3"; package test; import "google/protobuf/timestamp.proto"; import "google/protobuf/duration.proto";`
	otherRefs := map[string]string{"other.proto": otherProto}
	otherChanged := map[string]string{"other.proto": strings.Replace(otherProto, "int32 number", "string number", 1)}
	otherAdded := map[string]string{"other.proto": strings.Replace(otherProto, "int32 number = 2;", "int32 number = 2; string city = 3;", 1)}

	// The transitive chain: field 2 is int32 in v1, removed in v2, back as
	// a string in v3. Each step is compatible; v1 and v3 are not.
	v1 := p3(`message M { string a = 1; int32 b = 2; }`)
	v2 := p3(`message M { string a = 1; }`)
	v3 := p3(`message M { string a = 1; string b = 2; }`)

	tests := []struct {
		name     string
		level    Level
		previous []Schema // oldest first
		next     Schema
		want     []string // substrings, one per expected message; nil: compatible
	}{
		// Adding and removing fields: unknown fields are skipped.
		{"add field backward", Backward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int32 a = 1; string b = 2; }`), nil},
		{"add field forward", Forward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int32 a = 1; string b = 2; }`), nil},
		{"remove field backward", Backward, []Schema{p3(`message M { int32 a = 1; string b = 2; }`)}, p3(`message M { int32 a = 1; }`), nil},
		{"remove field full", Full, []Schema{p3(`message M { int32 a = 1; string b = 2; }`)}, p3(`message M { int32 a = 1; }`), nil},
		{"rename field full", Full, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int32 renamed = 1; }`), nil},
		{"renumber field full", Full, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int32 a = 2; }`), nil},

		// Scalar types within wire-compatible groups.
		{"int32 to int64", Full, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int64 a = 1; }`), nil},
		{"int32 to uint64", Full, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { uint64 a = 1; }`), nil},
		{"uint32 to bool", Full, []Schema{p3(`message M { uint32 a = 1; }`)}, p3(`message M { bool a = 1; }`), nil},
		{"sint32 to sint64", Full, []Schema{p3(`message M { sint32 a = 1; }`)}, p3(`message M { sint64 a = 1; }`), nil},
		{"fixed32 to sfixed32", Full, []Schema{p3(`message M { fixed32 a = 1; }`)}, p3(`message M { sfixed32 a = 1; }`), nil},
		{"fixed64 to sfixed64", Full, []Schema{p3(`message M { fixed64 a = 1; }`)}, p3(`message M { sfixed64 a = 1; }`), nil},
		{"string to bytes", Full, []Schema{p3(`message M { string a = 1; }`)}, p3(`message M { bytes a = 1; }`), nil},

		// Scalar types across groups.
		{"int32 to sint32", Backward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { sint32 a = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},
		{"int32 to string", Backward, []Schema{p3(`message M { string s = 1; int32 b = 2; }`)}, p3(`message M { string s = 1; string b = 2; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/2: field 2 (b) of test.M changed from int32 to string"}},
		{"fixed32 to fixed64", Forward, []Schema{p3(`message M { fixed32 a = 1; }`)}, p3(`message M { fixed64 a = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},
		{"float to double", Backward, []Schema{p3(`message M { float a = 1; }`)}, p3(`message M { double a = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},
		{"int64 to fixed64", Backward, []Schema{p3(`message M { int64 a = 1; }`)}, p3(`message M { fixed64 a = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},
		{"string to int32 full reports both ways", Full, []Schema{p3(`message M { string a = 1; }`)}, p3(`message M { int32 a = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1: field 1 (a) of test.M changed from string to int32", "from int32 to string"}},

		// Message and enum types.
		{"scalar to message", Backward, []Schema{p3(`message M { int32 a = 1; } message N { int32 x = 1; }`)}, p3(`message M { N a = 1; } message N { int32 x = 1; }`), []string{"FIELD_KIND_CHANGED #/M/1"}},
		{"message to other message", Backward, []Schema{p3(`message M { A a = 1; } message A { int32 x = 1; } message B { int32 x = 1; }`)}, p3(`message M { B a = 1; } message A { int32 x = 1; } message B { int32 x = 1; }`), []string{"FIELD_NAMED_TYPE_CHANGED #/M/1"}},
		{"enum to int32 is wire-compatible", Full, []Schema{p3(`message M { E a = 1; } enum E { ZERO = 0; }`)}, p3(`message M { int32 a = 1; }`), nil},
		{"enum to other enum is wire-compatible", Full, []Schema{p3(`message M { E a = 1; } enum E { ZERO = 0; } enum F { NONE = 0; }`)}, p3(`message M { F a = 1; } enum E { ZERO = 0; } enum F { NONE = 0; }`), nil},
		{"enum to string", Backward, []Schema{p3(`message M { E a = 1; } enum E { ZERO = 0; }`)}, p3(`message M { string a = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},
		{"enum const added and removed", Full, []Schema{p3(`message M { E a = 1; } enum E { ZERO = 0; ONE = 1; }`)}, p3(`message M { E a = 1; } enum E { ZERO = 0; TWO = 2; }`), nil},
		{"map value type changed", Backward, []Schema{p3(`message M { map<string, int32> m = 1; }`)}, p3(`message M { map<string, string> m = 1; }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},
		{"map value widened", Full, []Schema{p3(`message M { map<string, int32> m = 1; }`)}, p3(`message M { map<string, int64> m = 1; }`), nil},
		{"map to scalar", Backward, []Schema{p3(`message M { map<string, int32> m = 1; }`)}, p3(`message M { string m = 1; }`), []string{"FIELD_KIND_CHANGED #/M/1"}},

		// Labels.
		{"int32 to repeated", Backward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { repeated int32 a = 1; }`), []string{"FIELD_NUMERIC_LABEL_CHANGED #/M/1"}},
		{"optional int32 to repeated", Backward, []Schema{p3(`message M { optional int32 a = 1; }`)}, p3(`message M { repeated int32 a = 1; }`), []string{"FIELD_NUMERIC_LABEL_CHANGED #/M/1"}},
		{"repeated enum to singular", Backward, []Schema{p3(`message M { repeated E a = 1; } enum E { ZERO = 0; }`)}, p3(`message M { E a = 1; } enum E { ZERO = 0; }`), []string{"FIELD_NUMERIC_LABEL_CHANGED #/M/1"}},
		{"packed to unpacked", Full, []Schema{p3(`message M { repeated int32 a = 1; }`)}, p3(`message M { repeated int32 a = 1 [packed = false]; }`), nil},
		{"implicit to optional", Full, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { optional int32 a = 1; }`), nil},
		{"string to repeated", Full, []Schema{p3(`message M { string a = 1; }`)}, p3(`message M { repeated string a = 1; }`), nil},
		{"message to repeated", Full, []Schema{p3(`message M { N a = 1; } message N {}`)}, p3(`message M { repeated N a = 1; } message N {}`), nil},

		// proto2 required fields.
		{"required field added", Backward, []Schema{p2(`message M { optional string a = 1; }`)}, p2(`message M { optional string a = 1; required string b = 2; }`), []string{"REQUIRED_FIELD_ADDED #/M/2"}},
		{"required field removed", Backward, []Schema{p2(`message M { optional string a = 1; required string b = 2; }`)}, p2(`message M { optional string a = 1; }`), []string{"REQUIRED_FIELD_REMOVED #/M/2"}},
		{"required field added forward", Forward, []Schema{p2(`message M { optional string a = 1; }`)}, p2(`message M { optional string a = 1; required string b = 2; }`), []string{"REQUIRED_FIELD_REMOVED #/M/2"}},
		{"proto2 optional field added", Full, []Schema{p2(`message M { optional string a = 1; }`)}, p2(`message M { optional string a = 1; optional int64 b = 2; }`), nil},
		{"optional int32 to required", Backward, []Schema{p2(`message M { optional int32 a = 1; }`)}, p2(`message M { required int32 a = 1; }`), []string{"FIELD_NUMERIC_LABEL_CHANGED #/M/1"}},
		{"proto2 to proto3", Full, []Schema{p2(`message M { optional int32 a = 1; }`)}, p3(`message M { int32 a = 1; }`), nil},

		// Packages and messages.
		{"package changed", Full, []Schema{pb(`syntax = "proto3"; package foo; message M { int32 a = 1; }`)}, pb(`syntax = "proto3"; package bar; message M { int32 a = 1; }`), nil},
		{"message removed", Backward, []Schema{p3(`message M { int32 a = 1; } message N { int32 a = 1; }`)}, p3(`message M { int32 a = 1; }`), []string{"MESSAGE_REMOVED #/N"}},
		{"message added backward", Backward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int32 a = 1; } message N { int32 a = 1; }`), nil},
		{"message added forward", Forward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { int32 a = 1; } message N { int32 a = 1; }`), []string{"MESSAGE_REMOVED #/N"}},
		{"messages reordered", Full, []Schema{p3(`message M { int32 a = 1; } message N { int32 a = 1; }`)}, p3(`message N { int32 a = 1; } message M { int32 a = 1; }`), nil},
		{"nested field changed", Backward, []Schema{p3(`message Outer { Inner i = 1; message Inner { int32 x = 1; } }`)}, p3(`message Outer { Inner i = 1; message Inner { string x = 1; } }`), []string{"FIELD_SCALAR_KIND_CHANGED #/Outer/Inner/1: field 1 (x) of test.Outer.Inner"}},
		{"nested message removed", Backward, []Schema{p3(`message Outer { int32 a = 1; message Inner { int32 x = 1; } }`)}, p3(`message Outer { int32 a = 1; }`), []string{"MESSAGE_REMOVED #/Outer/Inner"}},
		{"recursive message", Full, []Schema{p3(`message Node { int32 v = 1; repeated Node kids = 2; }`)}, p3(`message Node { int64 v = 1; repeated Node kids = 2; string label = 3; }`), nil},

		// Oneofs.
		{"field moved into new oneof", Full, []Schema{p3(`message M { string a = 1; string b = 2; }`)}, p3(`message M { string a = 1; oneof o { string b = 2; int32 c = 3; } }`), nil},
		{"two fields moved into oneof", Backward, []Schema{p3(`message M { string a = 1; string b = 2; }`)}, p3(`message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }`), []string{"MULTIPLE_FIELDS_MOVED_TO_ONEOF #/M/o"}},
		{"field moved into oneof with existing members", Backward, []Schema{p3(`message M { int32 a = 1; oneof o { int32 b = 2; } }`)}, p3(`message M { oneof p { int32 a = 1; int32 b = 2; } }`), []string{"FIELD_MOVED_TO_EXISTING_ONEOF #/M/p"}},
		{"oneof field added", Backward, []Schema{p3(`message M { oneof o { string a = 1; string b = 2; } }`)}, p3(`message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }`), nil},
		{"oneof field removed", Backward, []Schema{p3(`message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }`)}, p3(`message M { oneof o { string a = 1; string b = 2; } }`), []string{"ONEOF_FIELD_REMOVED #/M/o/3"}},
		{"oneof field added forward", Forward, []Schema{p3(`message M { oneof o { string a = 1; } }`)}, p3(`message M { oneof o { string a = 1; int32 c = 3; } }`), []string{"ONEOF_FIELD_REMOVED #/M/o/3"}},
		{"field moved out of oneof", Backward, []Schema{p3(`message M { oneof o { string a = 1; string b = 2; } }`)}, p3(`message M { string a = 1; oneof o { string b = 2; } }`), nil},
		{"oneof removed with its fields", Backward, []Schema{p3(`message M { int32 x = 9; oneof o { string a = 1; } }`)}, p3(`message M { int32 x = 9; }`), nil},
		{"oneof member type changed", Backward, []Schema{p3(`message M { oneof o { string a = 1; int32 b = 2; } }`)}, p3(`message M { oneof o { string a = 1; double b = 2; } }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/o/2"}},
		{"field moved into oneof and changed", Backward, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { oneof o { string a = 1; } }`), []string{"FIELD_SCALAR_KIND_CHANGED #/M/1"}},

		// Imports: well-known types and references.
		{"timestamp unchanged", Full, []Schema{pb(tsImport + `message M { google.protobuf.Timestamp at = 1; }`)}, pb(tsImport + `message M { google.protobuf.Timestamp at = 1; string s = 2; }`), nil},
		{"int64 to timestamp", Backward, []Schema{pb(tsImport + `message M { int64 at = 1; }`)}, pb(tsImport + `message M { google.protobuf.Timestamp at = 1; }`), []string{"FIELD_KIND_CHANGED #/M/1"}},
		{"timestamp to duration", Backward, []Schema{pb(tsImport + `message M { google.protobuf.Timestamp at = 1; }`)}, pb(tsImport + `message M { google.protobuf.Duration at = 1; }`), []string{"FIELD_NAMED_TYPE_CHANGED #/M/1"}},
		{"reference unchanged", Full, []Schema{pbRefs(`syntax = "proto3"; import "other.proto"; message M { other.Address a = 1; }`, otherRefs)}, pbRefs(`syntax = "proto3"; import "other.proto"; message M { other.Address a = 1; int32 b = 2; }`, otherRefs), nil},
		{"reference changed compatibly", Full, []Schema{pbRefs(`syntax = "proto3"; import "other.proto"; message M { other.Address a = 1; }`, otherRefs)}, pbRefs(`syntax = "proto3"; import "other.proto"; message M { other.Address a = 1; }`, otherAdded), nil},
		{"reference changed incompatibly", Backward, []Schema{pbRefs(`syntax = "proto3"; import "other.proto"; message M { other.Address a = 1; }`, otherRefs)}, pbRefs(`syntax = "proto3"; import "other.proto"; message M { other.Address a = 1; }`, otherChanged), []string{"FIELD_SCALAR_KIND_CHANGED #/Address/2", "FIELD_NAMED_TYPE_CHANGED #/M/1"}},
		{"type moved into reference", Full, []Schema{p3(`message M { Address a = 1; } message Address { string street = 1; int32 number = 2; }`)}, pbRefs(`syntax = "proto3"; package test; import "other.proto"; message M { other.Address a = 1; }`, otherRefs), []string{"MESSAGE_REMOVED #/Address"}},

		// Levels.
		{"none allows anything", None, []Schema{p3(`message M { int32 a = 1; }`)}, p3(`message M { string a = 1; }`), nil},
		{"no previous versions", FullTransitive, nil, p3(`message M { int32 a = 1; }`), nil},
		{"chain backward", Backward, []Schema{v1, v2}, v3, nil},
		{"chain backward transitive", BackwardTransitive, []Schema{v1, v2}, v3, []string{"FIELD_SCALAR_KIND_CHANGED #/M/2: field 2 (b) of test.M changed from int32 to string"}},
		{"chain forward", Forward, []Schema{v1, v2}, v3, nil},
		{"chain forward transitive", ForwardTransitive, []Schema{v1, v2}, v3, []string{"FIELD_SCALAR_KIND_CHANGED #/M/2: field 2 (b) of test.M changed from string to int32"}},
		{"chain full", Full, []Schema{v1, v2}, v3, nil},
		{"chain full transitive", FullTransitive, []Schema{v1, v2}, v3, []string{"from int32 to string", "from string to int32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Check(tt.level, tt.next, tt.previous)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Check = %q, want %d messages matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("message %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestProtobufInvalid(t *testing.T) {
	good := p3(`message M { int32 a = 1; }`)
	tests := []struct {
		name   string
		schema Schema
	}{
		{"syntax error", p3(`message M { int32 a = ; }`)},
		{"missing import", pb(`syntax = "proto3"; import "missing.proto"; message M { int32 a = 1; }`)},
		{"undefined type", p3(`message M { Nope a = 1; }`)},
		{"type from reference not imported", pbRefs(`syntax = "proto3"; message M { other.Address a = 1; }`, map[string]string{"other.proto": otherProto})},
		{"invalid reference", pbRefs(`syntax = "proto3"; import "other.proto"; message M { int32 a = 1; }`, map[string]string{"other.proto": "message {"})},
		{"duplicate field number", p3(`message M { int32 a = 1; int32 b = 1; }`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Canonical(tt.schema, false); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Canonical: err = %v, want ErrInvalidSchema", err)
			}
			if _, err := Check(Backward, tt.schema, []Schema{good}); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Check(invalid next): err = %v, want ErrInvalidSchema", err)
			}
			if _, err := Check(Forward, good, []Schema{tt.schema}); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Check(invalid previous): err = %v, want ErrInvalidSchema", err)
			}
		})
	}
}

func TestProtobufCanonical(t *testing.T) {
	base := `syntax = "proto3";
package test;
import "google/protobuf/timestamp.proto";
import "other.proto";
option java_package = "com.example";
option go_package = "example.com/test";
message M {
  google.protobuf.Timestamp at = 1;
  other.Address addr = 2;
  repeated int32 xs = 3 [packed = false, deprecated = true];
}
`
	refs := map[string]string{"other.proto": otherProto}
	tests := []struct {
		name      string
		a, b      string
		normalize bool
		equal     bool
	}{
		{"identical", base, base, false, true},
		{"comments and whitespace", base, `// The test schema.
syntax="proto3"; package   test;
import "google/protobuf/timestamp.proto"; import "other.proto";
option java_package = "com.example"; option go_package = "example.com/test";
/* M is a message. */
message M { google.protobuf.Timestamp at = 1; // when
  .other.Address addr = 2;
  repeated int32 xs = 3 [deprecated = true, packed = false]; }`, false, true},
		{"options reordered", base, strings.Replace(strings.Replace(base, `option java_package = "com.example";`, "", 1),
			`option go_package = "example.com/test";`, `option go_package = "example.com/test"; option java_package = "com.example";`, 1), false, true},
		{"imports reordered", base, strings.Replace(base, "import \"google/protobuf/timestamp.proto\";\nimport \"other.proto\";", "import \"other.proto\";\nimport \"google/protobuf/timestamp.proto\";", 1), false, false},
		{"imports reordered normalized", base, strings.Replace(base, "import \"google/protobuf/timestamp.proto\";\nimport \"other.proto\";", "import \"other.proto\";\nimport \"google/protobuf/timestamp.proto\";", 1), true, true},
		{"field type changed", base, strings.Replace(base, "repeated int32 xs", "repeated int64 xs", 1), true, false},
		{"field renamed", base, strings.Replace(base, "xs = 3", "ys = 3", 1), true, false},
		{"option value changed", base, strings.Replace(base, "com.example", "com.other", 1), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Canonical(pbRefs(tt.a, refs), tt.normalize)
			if err != nil {
				t.Fatalf("Canonical(a): %v", err)
			}
			b, err := Canonical(pbRefs(tt.b, refs), tt.normalize)
			if err != nil {
				t.Fatalf("Canonical(b): %v", err)
			}
			if (a == b) != tt.equal {
				t.Errorf("equal = %v, want %v\na:\n%s\nb:\n%s", a == b, tt.equal, a, b)
			}
		})
	}
}

// TestProtobufCanonicalStable pins that the canonical form does not depend
// on the run: it is stored and compared across processes.
func TestProtobufCanonicalStable(t *testing.T) {
	s := p3(`message M { int32 a = 1 [json_name = "A"]; map<string, M> kids = 2; }`)
	first, err := Canonical(s, true)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := Canonical(s, true)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Fatalf("canonical form changed between calls:\n%s\n%s", first, again)
		}
	}
	for _, want := range []string{`syntax: "proto3"`, `package: "test"`, `name: "M"`, `type_name: ".test.M.KidsEntry"`, `json_name: "A"`} {
		if !strings.Contains(first, want) {
			t.Errorf("canonical form lacks %q:\n%s", want, first)
		}
	}
}

// TestProtobufCanonicalCustomOption checks that custom options (extensions
// of descriptor.proto's options) take part in the canonical form.
func TestProtobufCanonicalCustomOption(t *testing.T) {
	const text = `syntax = "proto3";
package test;
import "google/protobuf/descriptor.proto";
extend google.protobuf.FieldOptions { string tag = 50000; }
message M { int32 a = 1 [(tag) = "x"]; }
`
	a, err := Canonical(pb(text), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Canonical(pb("// comment\n"+text), true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Canonical(pb(strings.Replace(text, `"x"`, `"y"`, 1)), true)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("a comment changed the canonical form:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("a custom option's value does not change the canonical form:\n%s", a)
	}
}

// serialized returns text compiled and serialized the way Confluent's
// Python and .NET serializers register Protobuf schemas: a base64
// FileDescriptorProto.
func serialized(t *testing.T, s Schema) string {
	t.Helper()
	fd, err := compileProto(s)
	if err != nil {
		t.Fatal(err)
	}
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.SourceCodeInfo = nil
	b, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestProtobufSerializedForm: a schema registered as a base64
// FileDescriptorProto (references too) is the same schema as its .proto
// text: same canonical form, compatible both ways, the same record names;
// a base64 string that is not a descriptor is an invalid schema.
func TestProtobufSerializedForm(t *testing.T) {
	common := `syntax = "proto3"; package common; message Id { int64 v = 1; }`
	text := Schema{Type: Protobuf, Text: `syntax = "proto3";
package shop;
import "common.proto";
import "google/protobuf/timestamp.proto";
message Order { common.Id id = 1; google.protobuf.Timestamp at = 2; string item = 3; }
`, References: map[string]string{"common.proto": common}}
	b64 := Schema{Type: Protobuf, Text: serialized(t, text), References: map[string]string{
		"common.proto": serialized(t, Schema{Type: Protobuf, Text: common}),
	}}
	want, err := Canonical(text, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Canonical(b64, false)
	if err != nil {
		t.Fatalf("the serialized form: %v", err)
	}
	if got != want {
		t.Fatalf("canonical forms differ:\n%s\nvs\n%s", got, want)
	}
	for _, pair := range [][2]Schema{{text, b64}, {b64, text}} {
		if msgs, err := Check(FullTransitive, pair[0], []Schema{pair[1]}); err != nil || len(msgs) != 0 {
			t.Fatalf("text and serialized forms: %v, %v", msgs, err)
		}
	}
	names, err := NamesOf(b64)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := names.Name(nil); !ok || n != "shop.Order" {
		t.Fatalf("record name %q, %v", n, ok)
	}
	// As Python's serializer writes them: every json_name empty.
	fd, err := compileProto(text)
	if err != nil {
		t.Fatal(err)
	}
	fdp := protodesc.ToFileDescriptorProto(fd)
	for _, m := range fdp.GetMessageType() {
		for _, f := range m.GetField() {
			f.JsonName = proto.String("")
		}
	}
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	python := Schema{Type: Protobuf, Text: base64.StdEncoding.EncodeToString(raw), References: b64.References}
	if got, err := Canonical(python, false); err != nil || got != want {
		t.Fatalf("with empty JSON names: %v, the canonical form differs: %v", err, got != want)
	}
	if _, err := Canonical(Schema{Type: Protobuf, Text: "bm90IGEgZGVzY3JpcHRvcg=="}, false); !errors.Is(err, ErrInvalidSchema) {
		t.Fatalf("base64 of something else: %v, want ErrInvalidSchema", err)
	}
}
