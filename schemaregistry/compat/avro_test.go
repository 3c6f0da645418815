package compat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// avroRec is a record com.example.User with the given fields (JSON objects).
func avroRec(fields ...string) string {
	return `{"type":"record","name":"User","namespace":"com.example","fields":[` + strings.Join(fields, ",") + `]}`
}

// avroField is a field named name of type typ (JSON), with extra attributes.
func avroField(name, typ string, extra ...string) string {
	s := `{"name":"` + name + `","type":` + typ
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func av(text string) Schema { return Schema{Type: Avro, Text: text} }

const (
	avroColorsABC = `{"type":"enum","name":"Color","symbols":["A","B","C"]}`
	avroColorsAB  = `{"type":"enum","name":"Color","symbols":["A","B"]}`
	avroColorsABD = `{"type":"enum","name":"Color","symbols":["A","B"],"default":"A"}`
	avroColorsACD = `{"type":"enum","name":"Color","symbols":["A","B","C"],"default":"A"}`
	avroList      = `{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`
	avroListLong  = `{"type":"record","name":"Node","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","Node"],"default":null}]}`
	avroAddress   = `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"street","type":"string"}]}`
	avroAddressV2 = `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"street","type":"string"},{"name":"zip","type":"int"}]}`
)

// avroPromotion is a BACKWARD case: a field written as writer, read as reader.
func avroPromotion(writer, reader string, want string) avroCheckCase {
	return avroCheckCase{
		name:  fmt.Sprintf("field %s read as %s", writer, reader),
		level: Backward,
		next:  av(avroRec(avroField("f", `"`+reader+`"`))),
		prev:  []Schema{av(avroRec(avroField("f", `"`+writer+`"`)))},
		want:  want,
	}
}

type avroCheckCase struct {
	name  string
	level Level
	next  Schema
	prev  []Schema
	want  string // a message Check must return; "" means compatible
}

func avroCheckCases() []avroCheckCase {
	mismatch := func(r, w string) string {
		return "TYPE_MISMATCH at /fields/0/type: reader " + r + ", writer " + w
	}
	// The chain for the transitive levels: v2 drops f, v3 brings it back as
	// an int with a default. v3 is FULL compatible with v2, not with v1.
	v1 := av(avroRec(avroField("id", `"long"`), avroField("f", `"string"`, `"default":""`)))
	v2 := av(avroRec(avroField("id", `"long"`)))
	v3 := av(avroRec(avroField("id", `"long"`), avroField("f", `"int"`, `"default":0`)))
	chain := []Schema{v1, v2}
	v1Mismatch := "TYPE_MISMATCH at /fields/1/type: reader int, writer string"
	v1MismatchFwd := "TYPE_MISMATCH at /fields/1/type: reader string, writer int"

	withAge := av(avroRec(avroField("name", `"string"`), avroField("age", `"int"`)))
	withAgeDefault := av(avroRec(avroField("name", `"string"`), avroField("age", `"int"`, `"default":0`)))
	nameOnly := av(avroRec(avroField("name", `"string"`)))

	enumField := func(enum string) Schema { return av(avroRec(avroField("c", enum))) }
	unionField := func(typ string) Schema { return av(avroRec(avroField("f", typ))) }
	nested := func(typ string, extra ...string) Schema {
		inner := `{"type":"record","name":"Inner","fields":[` + avroField("x", typ) + strings.Join(extra, "") + `]}`
		return av(avroRec(avroField("inner", inner)))
	}
	fixed := func(name string, size int) Schema {
		return av(avroRec(avroField("h", fmt.Sprintf(`{"type":"fixed","name":%q,"size":%d}`, name, size))))
	}
	refs := map[string]string{"com.example.Address": avroAddress}
	refsV2 := map[string]string{"com.example.Address": avroAddressV2}
	usesAddress := avroRec(avroField("home", `"com.example.Address"`))

	return []avroCheckCase{
		// Promotions, and what is not one.
		avroPromotion("int", "long", ""),
		avroPromotion("int", "float", ""),
		avroPromotion("int", "double", ""),
		avroPromotion("long", "float", ""),
		avroPromotion("long", "double", ""),
		avroPromotion("float", "double", ""),
		avroPromotion("string", "bytes", ""),
		avroPromotion("bytes", "string", ""),
		avroPromotion("int", "int", ""),
		avroPromotion("long", "int", mismatch("int", "long")),
		avroPromotion("double", "float", mismatch("float", "double")),
		avroPromotion("float", "long", mismatch("long", "float")),
		avroPromotion("string", "long", mismatch("long", "string")),
		avroPromotion("boolean", "int", mismatch("int", "boolean")),
		avroPromotion("null", "string", mismatch("string", "null")),
		{name: "int to long under FORWARD", level: Forward,
			next: av(avroRec(avroField("f", `"long"`))), prev: []Schema{av(avroRec(avroField("f", `"int"`)))},
			want: mismatch("int", "long")},
		{name: "int to long under FULL", level: Full,
			next: av(avroRec(avroField("f", `"long"`))), prev: []Schema{av(avroRec(avroField("f", `"int"`)))},
			want: mismatch("int", "long")},
		{name: "top-level primitives", level: Backward, next: av(`"int"`), prev: []Schema{av(`"string"`)},
			want: "TYPE_MISMATCH at /: reader int, writer string"},

		// Adding and removing fields.
		{name: "add field with default BACKWARD", level: Backward, next: withAgeDefault, prev: []Schema{nameOnly}},
		{name: "add field without default BACKWARD", level: Backward, next: withAge, prev: []Schema{nameOnly},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1 (field 'age')"},
		{name: "add field without default FORWARD", level: Forward, next: withAge, prev: []Schema{nameOnly}},
		{name: "add field with default FULL", level: Full, next: withAgeDefault, prev: []Schema{nameOnly}},
		{name: "add field without default FULL", level: Full, next: withAge, prev: []Schema{nameOnly},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1 (field 'age')"},
		{name: "remove field without default BACKWARD", level: Backward, next: nameOnly, prev: []Schema{withAge}},
		{name: "remove field without default FORWARD", level: Forward, next: nameOnly, prev: []Schema{withAge},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1 (field 'age')"},
		{name: "remove field with default FORWARD", level: Forward, next: nameOnly, prev: []Schema{withAgeDefault}},
		{name: "remove field with default FULL", level: Full, next: nameOnly, prev: []Schema{withAgeDefault}},

		// Renames.
		{name: "rename field without alias", level: Backward,
			next: av(avroRec(avroField("fullName", `"string"`))), prev: []Schema{nameOnly},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0 (field 'fullName')"},
		{name: "rename field with reader alias", level: Backward,
			next: av(avroRec(avroField("fullName", `"string"`, `"aliases":["name"]`))), prev: []Schema{nameOnly}},
		{name: "rename field with alias FORWARD", level: Forward,
			next: av(avroRec(avroField("fullName", `"string"`, `"aliases":["name"]`))), prev: []Schema{nameOnly},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0 (field 'name')"},
		{name: "field alias matching two writer fields", level: Backward,
			next: av(avroRec(avroField("a", `"string"`, `"aliases":["b"]`))),
			prev: []Schema{av(avroRec(avroField("a", `"string"`), avroField("b", `"string"`)))},
			want: "READER_FIELD_AMBIGUOUS at /fields/0 (field 'a'): matches writer fields [a, b]"},
		{name: "rename record without alias", level: Backward,
			next: av(`{"type":"record","name":"Person","namespace":"com.example","fields":[{"name":"name","type":"string"}]}`),
			prev: []Schema{nameOnly},
			want: "NAME_MISMATCH at /name: reader com.example.Person, writer com.example.User"},
		{name: "rename record with reader alias", level: Backward,
			next: av(`{"type":"record","name":"Person","namespace":"com.example","aliases":["User"],"fields":[{"name":"name","type":"string"}]}`),
			prev: []Schema{nameOnly}},
		{name: "move record to another namespace", level: Full,
			next: av(`{"type":"record","name":"User","namespace":"org.other","fields":[{"name":"name","type":"string"}]}`),
			prev: []Schema{nameOnly}},

		// Enums.
		{name: "enum add symbol BACKWARD", level: Backward, next: enumField(avroColorsABC), prev: []Schema{enumField(avroColorsAB)}},
		{name: "enum add symbol FORWARD", level: Forward, next: enumField(avroColorsABC), prev: []Schema{enumField(avroColorsAB)},
			want: "MISSING_ENUM_SYMBOLS at /fields/0/type/symbols: reader lacks writer symbols [C]"},
		{name: "enum add symbol FORWARD, old reader has default", level: Forward,
			next: enumField(avroColorsABC), prev: []Schema{enumField(avroColorsABD)}},
		{name: "enum remove symbol BACKWARD", level: Backward, next: enumField(avroColorsAB), prev: []Schema{enumField(avroColorsABC)},
			want: "MISSING_ENUM_SYMBOLS at /fields/0/type/symbols: reader lacks writer symbols [C]"},
		{name: "enum remove symbol BACKWARD, new reader has default", level: Backward,
			next: enumField(avroColorsABD), prev: []Schema{enumField(avroColorsACD)}},
		{name: "enum renamed", level: Backward, next: av(`{"type":"enum","name":"Colour","symbols":["A"]}`),
			prev: []Schema{av(`{"type":"enum","name":"Color","symbols":["A"]}`)},
			want: "NAME_MISMATCH at /name: reader Colour, writer Color"},

		// Unions.
		{name: "widen to nullable union BACKWARD", level: Backward, next: unionField(`["null","string"]`), prev: []Schema{unionField(`"string"`)}},
		{name: "widen to nullable union FORWARD", level: Forward, next: unionField(`["null","string"]`), prev: []Schema{unionField(`"string"`)},
			want: "TYPE_MISMATCH at /fields/0/type/0: reader string, writer null"},
		{name: "narrow union BACKWARD", level: Backward, next: unionField(`["null","string"]`), prev: []Schema{unionField(`["null","string","int"]`)},
			want: "MISSING_UNION_BRANCH at /fields/0/type/2: reader union lacking writer type int"},
		{name: "union add branch BACKWARD", level: Backward, next: unionField(`["null","string","int"]`), prev: []Schema{unionField(`["null","string"]`)}},
		{name: "union branch read by promotion", level: Backward, next: unionField(`["null","long"]`), prev: []Schema{unionField(`["null","int"]`)}},
		{name: "union reordered", level: Full, next: unionField(`["string","null"]`), prev: []Schema{unionField(`["null","string"]`)}},
		{name: "writer type in no reader branch", level: Backward, next: unionField(`["null","string"]`), prev: []Schema{unionField(`"boolean"`)},
			want: "MISSING_UNION_BRANCH at /fields/0/type: reader union lacking writer type boolean"},

		// Nested records, arrays, maps, fixed.
		{name: "nested record field promoted", level: Backward, next: nested(`"long"`), prev: []Schema{nested(`"int"`)}},
		{name: "nested record field narrowed", level: Backward, next: nested(`"int"`), prev: []Schema{nested(`"long"`)},
			want: "TYPE_MISMATCH at /fields/0/type/fields/0/type: reader int, writer long"},
		{name: "nested record field added without default", level: Backward,
			next: nested(`"int"`, ","+avroField("y", `"int"`)), prev: []Schema{nested(`"int"`)},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0/type/fields/1 (field 'y')"},
		{name: "array items promoted", level: Backward, next: unionField(`{"type":"array","items":"long"}`), prev: []Schema{unionField(`{"type":"array","items":"int"}`)}},
		{name: "array items narrowed", level: Backward, next: unionField(`{"type":"array","items":"int"}`), prev: []Schema{unionField(`{"type":"array","items":"long"}`)},
			want: "TYPE_MISMATCH at /fields/0/type/items: reader int, writer long"},
		{name: "map values promoted", level: Backward, next: unionField(`{"type":"map","values":"double"}`), prev: []Schema{unionField(`{"type":"map","values":"float"}`)}},
		{name: "map values changed", level: Backward, next: unionField(`{"type":"map","values":"string"}`), prev: []Schema{unionField(`{"type":"map","values":"int"}`)},
			want: "TYPE_MISMATCH at /fields/0/type/values: reader string, writer int"},
		{name: "array to map", level: Backward, next: unionField(`{"type":"map","values":"int"}`), prev: []Schema{unionField(`{"type":"array","items":"int"}`)},
			want: "TYPE_MISMATCH at /fields/0/type: reader map, writer array"},
		{name: "fixed unchanged", level: Full, next: fixed("Hash", 16), prev: []Schema{fixed("Hash", 16)}},
		{name: "fixed size changed", level: Backward, next: fixed("Hash", 32), prev: []Schema{fixed("Hash", 16)},
			want: "FIXED_SIZE_MISMATCH at /fields/0/type/size: reader 32, writer 16"},
		{name: "fixed renamed", level: Backward, next: fixed("Digest", 16), prev: []Schema{fixed("Hash", 16)},
			want: "NAME_MISMATCH at /fields/0/type/name: reader com.example.Digest, writer com.example.Hash"},

		// Recursive types.
		{name: "recursive unchanged", level: Full, next: av(avroList), prev: []Schema{av(avroList)}},
		{name: "recursive promoted", level: Backward, next: av(avroListLong), prev: []Schema{av(avroList)}},
		{name: "recursive narrowed", level: Forward, next: av(avroListLong), prev: []Schema{av(avroList)},
			want: "TYPE_MISMATCH at /fields/0/type: reader int, writer long"},
		{name: "recursive field added without default", level: Backward,
			next: av(strings.Replace(avroList, `"default":null}`, `"default":null},{"name":"w","type":"int"}`, 1)), prev: []Schema{av(avroList)},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/2 (field 'w')"},

		// References.
		{name: "reference unchanged", level: Full,
			next: Schema{Type: Avro, Text: usesAddress, References: refs},
			prev: []Schema{{Type: Avro, Text: usesAddress, References: refs}}},
		{name: "reference gains field without default", level: Backward,
			next: Schema{Type: Avro, Text: usesAddress, References: refsV2},
			prev: []Schema{{Type: Avro, Text: usesAddress, References: refs}},
			want: "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0/type/fields/1 (field 'zip')"},

		// Levels.
		{name: "NONE accepts anything", level: None, next: av(`"int"`), prev: []Schema{av(`"string"`)}},
		{name: "no previous version", level: FullTransitive, next: av(`"int"`)},
		{name: "BACKWARD checks only the latest", level: Backward, next: v3, prev: chain},
		{name: "BACKWARD_TRANSITIVE checks all", level: BackwardTransitive, next: v3, prev: chain, want: v1Mismatch},
		{name: "FORWARD checks only the latest", level: Forward, next: v3, prev: chain},
		{name: "FORWARD_TRANSITIVE checks all", level: ForwardTransitive, next: v3, prev: chain, want: v1MismatchFwd},
		{name: "FULL checks only the latest", level: Full, next: v3, prev: chain},
		{name: "FULL_TRANSITIVE checks all", level: FullTransitive, next: v3, prev: chain, want: v1Mismatch},
		{name: "FULL_TRANSITIVE both directions", level: FullTransitive, next: v3, prev: chain, want: v1MismatchFwd},
		{name: "v2 after v1 is FULL", level: FullTransitive, next: v2, prev: chain[:1]},
	}
}

func TestAvroCheck(t *testing.T) {
	for _, tc := range avroCheckCases() {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := Check(tc.level, tc.next, tc.prev)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tc.want == "" {
				if len(msgs) != 0 {
					t.Fatalf("want compatible, got %q", msgs)
				}
				return
			}
			if !slices.Contains(msgs, tc.want) {
				t.Fatalf("want message %q, got %q", tc.want, msgs)
			}
		})
	}
}

func TestAvroInvalid(t *testing.T) {
	valid := av(avroRec(avroField("name", `"string"`)))
	for _, tc := range []struct {
		name string
		s    Schema
	}{
		{"bad JSON", av(`{"type":"record",`)},
		{"bare type name", av(`string`)},
		{"unknown type", av(avroRec(avroField("f", `"strng"`)))},
		{"missing reference", av(avroRec(avroField("home", `"com.example.Address"`)))},
		{"broken reference", Schema{Type: Avro, Text: avroRec(avroField("home", `"com.example.Address"`)),
			References: map[string]string{"com.example.Address": `{"type":"record","name":"Address"}`}}},
		{"invalid default", av(avroRec(avroField("f", `"int"`, `"default":"zero"`)))},
		{"record without fields", av(`{"type":"record","name":"R"}`)},
		{"duplicate field", av(avroRec(avroField("f", `"int"`), avroField("f", `"int"`)))},
		{"bad name", av(`{"type":"record","name":"9R","fields":[]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Canonical(tc.s, false); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Canonical: want ErrInvalidSchema, got %v", err)
			}
			if _, err := Check(Backward, tc.s, []Schema{valid}); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Check new: want ErrInvalidSchema, got %v", err)
			}
			if _, err := Check(Backward, valid, []Schema{tc.s}); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Check previous: want ErrInvalidSchema, got %v", err)
			}
		})
	}
}

// TestAvroReferencesOrder: references that use each other parse whatever
// the map order, and the schema using them is checked through them.
func TestAvroReferencesOrder(t *testing.T) {
	refs := map[string]string{
		"a.A": `{"type":"record","name":"A","namespace":"a","fields":[{"name":"b","type":"b.B"}]}`,
		"b.B": `{"type":"record","name":"B","namespace":"b","fields":[{"name":"c","type":"c.C"}]}`,
		"c.C": `{"type":"record","name":"C","namespace":"c","fields":[{"name":"x","type":"int"}]}`,
	}
	s := Schema{Type: Avro, Text: `{"type":"record","name":"Top","fields":[{"name":"a","type":"a.A"},{"name":"c","type":"c.C"}]}`, References: refs}
	got, err := Canonical(s, true)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"Top","type":"record","fields":[{"name":"a","type":{"name":"a.A","type":"record","fields":[{"name":"b","type":{"name":"b.B","type":"record","fields":[{"name":"c","type":{"name":"c.C","type":"record","fields":[{"name":"x","type":"int"}]}}]}}]}},{"name":"c","type":"c.C"}]}`
	if got != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
	msgs, err := Check(Full, s, []Schema{s})
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Check = %q, %v", msgs, err)
	}
}

func TestAvroCanonical(t *testing.T) {
	base := `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"tags","type":{"type":"array","items":"string"},"default":[]}]}`
	for _, tc := range []struct {
		name      string
		a, b      string
		normalize bool
		equal     bool
	}{
		{"whitespace", base, "{\n  \"type\": \"record\",\n  \"name\": \"User\", \"namespace\": \"com.example\",\n  \"fields\": [ {\"name\": \"id\", \"type\": \"long\"},\n {\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]} ]\n}", false, true},
		{"attribute order", base, `{"fields":[{"type":"long","name":"id"},{"default":[],"type":{"items":"string","type":"array"},"name":"tags"}],"namespace":"com.example","name":"User","type":"record"}`, false, true},
		{"full name instead of namespace", base, strings.Replace(base, `"name":"User","namespace":"com.example"`, `"name":"com.example.User"`, 1), false, true},
		{"primitive as object", base, strings.Replace(base, `"type":"long"`, `"type":{"type":"long"}`, 1), false, true},
		{"doc, normalized", base, strings.Replace(base, `"fields"`, `"doc":"a user","fields"`, 1), true, true},
		{"doc, not normalized", base, strings.Replace(base, `"fields"`, `"doc":"a user","fields"`, 1), false, false},
		{"custom property, normalized", base, strings.Replace(base, `"fields"`, `"owner":"team-a","fields"`, 1), true, true},
		{"custom property, not normalized", base, strings.Replace(base, `"fields"`, `"owner":"team-a","fields"`, 1), false, false},
		{"field type differs", base, strings.Replace(base, `"long"`, `"int"`, 1), true, false},
		{"field name differs", base, strings.Replace(base, `"id"`, `"key"`, 1), true, false},
		{"record name differs", base, strings.Replace(base, `"User"`, `"Person"`, 1), true, false},
		{"default differs", base, strings.Replace(base, `"default":[]`, `"default":["x"]`, 1), true, false},
		{"default added", base, strings.Replace(base, `"type":"long"`, `"type":"long","default":0`, 1), true, false},
		{"alias added", base, strings.Replace(base, `"name":"id"`, `"name":"id","aliases":["key"]`, 1), true, false},
		{"logical type added", base, strings.Replace(base, `"type":"long"`, `"type":{"type":"long","logicalType":"timestamp-millis"}`, 1), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Canonical(av(tc.a), tc.normalize)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Canonical(av(tc.b), tc.normalize)
			if err != nil {
				t.Fatal(err)
			}
			if (a == b) != tc.equal {
				t.Fatalf("equal = %v, want %v\n a %s\n b %s", a == b, tc.equal, a, b)
			}
		})
	}
}

// TestAvroCanonicalForm pins the exact text, and checks that without
// defaults, aliases and properties it is Avro's Parsing Canonical Form as
// hamba/avro writes it (Schema.String).
func TestAvroCanonicalForm(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		pcf            bool // want equals hamba/avro's String()
	}{
		{"primitive", `{"type":"string"}`, `"string"`, true},
		{"record", `{"type":"record","name":"User","namespace":"com.example","doc":"d","fields":[{"name":"id","type":"long","doc":"x"},{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},{"name":"h","type":{"type":"fixed","name":"H","size":4}},{"name":"m","type":{"type":"map","values":["null","E"]}}]}`,
			`{"name":"com.example.User","type":"record","fields":[{"name":"id","type":"long"},{"name":"e","type":{"name":"com.example.E","type":"enum","symbols":["A","B"]}},{"name":"h","type":{"name":"com.example.H","type":"fixed","size":4}},{"name":"m","type":{"type":"map","values":["null","com.example.E"]}}]}`, true},
		{"recursive", avroList, `{"name":"Node","type":"record","fields":[{"name":"value","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`, false},
		{"logical types", `{"type":"record","name":"R","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}`,
			`{"name":"R","type":"record","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}`, true},
		{"defaults and aliases", `{"type":"record","name":"R","aliases":["Q","P"],"fields":[{"name":"b","type":"bytes","default":"\u00ff","aliases":["c"]},{"name":"f","type":{"type":"fixed","name":"F","size":2},"default":"ab"},{"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"],"default":"X"},"default":"Y"}]}`,
			`{"name":"R","type":"record","aliases":["P","Q"],"fields":[{"name":"b","aliases":["c"],"type":"bytes","default":"ÿ"},{"name":"f","type":{"name":"F","type":"fixed","size":2},"default":"ab"},{"name":"e","type":{"name":"E","type":"enum","symbols":["X","Y"],"default":"X"},"default":"Y"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(av(tc.in), true)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("canonical\n got %s\nwant %s", got, tc.want)
			}
			if !tc.pcf {
				return
			}
			parsed, err := avro.ParseWithCache(tc.in, "", &avro.SchemaCache{})
			if err != nil {
				t.Fatal(err)
			}
			if parsed.String() != got {
				t.Fatalf("not PCF\n got %s\n pcf %s", got, parsed.String())
			}
		})
	}
}

// TestAvroCanonicalFull pins the form without normalize: doc, order and
// custom properties kept, properties sorted.
func TestAvroCanonicalFull(t *testing.T) {
	in := `{"type":"record","name":"R","doc":"r","zeta":1,"alpha":{"k":true},"fields":[{"name":"s","order":"descending","doc":"s","type":{"type":"string","avro.java.string":"String"}}]}`
	want := `{"name":"R","type":"record","doc":"r","fields":[{"name":"s","doc":"s","type":{"type":"string","avro.java.string":"String"},"order":"descending"}],"alpha":{"k":true},"zeta":1}`
	got, err := Canonical(av(in), false)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("canonical\n got %s\nwant %s", got, want)
	}
	again, err := Canonical(av(got), false)
	if err != nil || again != got {
		t.Fatalf("canonical form is not a fixed point: %s, %v", again, err)
	}
}
