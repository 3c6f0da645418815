package compat

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func jsonSchema(text string, refs ...string) Schema {
	s := Schema{Type: JSON, Text: text}
	for i := 0; i+1 < len(refs); i += 2 {
		if s.References == nil {
			s.References = map[string]string{}
		}
		s.References[refs[i]] = refs[i+1]
	}
	return s
}

// Schemas shared by several cases.
const (
	jsonOpenAB   = `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`
	jsonOpenA    = `{"type":"object","properties":{"a":{"type":"string"}}}`
	jsonClosedAB = `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`
	jsonClosedA  = `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`
	jsonPartialA = `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer"}}`
)

// jsonCase is one registration: next against previous (oldest first) at
// level; want lists the rules the result must name, none for compatible.
type jsonCase struct {
	name     string
	level    Level
	next     string
	previous []string
	want     []string
}

var jsonCases = []jsonCase{
	// Types.
	{"same schema", Backward, `{"type":"string"}`, []string{`{"type":"string"}`}, nil},
	{"type extended backward", Backward, `{"type":["string","null"]}`, []string{`{"type":"string"}`}, nil},
	{"type extended forward", Forward, `{"type":["string","null"]}`, []string{`{"type":"string"}`}, []string{"TYPE_NARROWED at #"}},
	{"type narrowed", Backward, `{"type":"string"}`, []string{`{"type":["string","null"]}`}, []string{"TYPE_NARROWED at #"}},
	{"type changed", Backward, `{"type":"string"}`, []string{`{"type":"boolean"}`}, []string{"TYPE_CHANGED at #"}},
	{"integer to number", Backward, `{"type":"number"}`, []string{`{"type":"integer"}`}, nil},
	{"number to integer", Backward, `{"type":"integer"}`, []string{`{"type":"number"}`}, []string{"TYPE_NARROWED at #"}},
	{"integer number full", Full, `{"type":"number"}`, []string{`{"type":"integer"}`}, []string{"TYPE_NARROWED at #"}},
	{"any to string", Backward, `{"type":"string"}`, []string{`{}`}, []string{"TYPE_NARROWED at #"}},
	{"string to any", Backward, `{}`, []string{`{"type":"string"}`}, nil},
	{"none level", None, `{"type":"string"}`, []string{`{"type":"boolean"}`}, nil},

	// Strings.
	{"maxLength added", Backward, `{"type":"string","maxLength":5}`, []string{`{"type":"string"}`}, []string{"MAX_LENGTH_ADDED at #"}},
	{"maxLength decreased", Backward, `{"type":"string","maxLength":5}`, []string{`{"type":"string","maxLength":10}`}, []string{"MAX_LENGTH_DECREASED at #"}},
	{"maxLength increased", Backward, `{"type":"string","maxLength":10}`, []string{`{"type":"string","maxLength":5}`}, nil},
	{"maxLength removed", Backward, `{"type":"string"}`, []string{`{"type":"string","maxLength":5}`}, nil},
	{"minLength added", Backward, `{"type":"string","minLength":1}`, []string{`{"type":"string"}`}, []string{"MIN_LENGTH_ADDED at #"}},
	{"minLength increased", Backward, `{"type":"string","minLength":3}`, []string{`{"type":"string","minLength":1}`}, []string{"MIN_LENGTH_INCREASED at #"}},
	{"minLength decreased", Backward, `{"type":"string","minLength":1}`, []string{`{"type":"string","minLength":3}`}, nil},
	{"pattern added", Backward, `{"type":"string","pattern":"^a"}`, []string{`{"type":"string"}`}, []string{"PATTERN_ADDED at #"}},
	{"pattern changed", Backward, `{"type":"string","pattern":"^b"}`, []string{`{"type":"string","pattern":"^a"}`}, []string{"PATTERN_CHANGED at #"}},
	{"pattern removed", Backward, `{"type":"string"}`, []string{`{"type":"string","pattern":"^a"}`}, nil},

	// Numbers.
	{"maximum added", Backward, `{"type":"number","maximum":10}`, []string{`{"type":"number"}`}, []string{"MAXIMUM_ADDED at #"}},
	{"maximum decreased", Backward, `{"type":"number","maximum":5}`, []string{`{"type":"number","maximum":10}`}, []string{"MAXIMUM_DECREASED at #"}},
	{"maximum increased", Backward, `{"type":"number","maximum":10.5}`, []string{`{"type":"number","maximum":10}`}, nil},
	{"minimum increased", Backward, `{"type":"integer","minimum":1}`, []string{`{"type":"integer","minimum":0}`}, []string{"MINIMUM_INCREASED at #"}},
	{"minimum decreased", Backward, `{"type":"integer","minimum":-1}`, []string{`{"type":"integer","minimum":0}`}, nil},
	{"exclusiveMaximum added", Backward, `{"type":"number","exclusiveMaximum":10}`, []string{`{"type":"number"}`}, []string{"EXCLUSIVE_MAXIMUM_ADDED at #"}},
	{"exclusiveMinimum increased", Backward, `{"type":"number","exclusiveMinimum":2}`, []string{`{"type":"number","exclusiveMinimum":1}`}, []string{"EXCLUSIVE_MINIMUM_INCREASED at #"}},
	{"draft4 exclusiveMaximum", Backward,
		`{"$schema":"http://json-schema.org/draft-04/schema#","type":"number","maximum":5,"exclusiveMaximum":true}`,
		[]string{`{"$schema":"http://json-schema.org/draft-04/schema#","type":"number","maximum":10,"exclusiveMaximum":true}`},
		[]string{"EXCLUSIVE_MAXIMUM_DECREASED at #"}},
	{"multipleOf added", Backward, `{"type":"number","multipleOf":2}`, []string{`{"type":"number"}`}, []string{"MULTIPLE_OF_ADDED at #"}},
	{"multipleOf reduced", Backward, `{"type":"number","multipleOf":0.5}`, []string{`{"type":"number","multipleOf":1.5}`}, nil},
	{"multipleOf expanded", Backward, `{"type":"number","multipleOf":4}`, []string{`{"type":"number","multipleOf":2}`}, []string{"MULTIPLE_OF_EXPANDED at #"}},
	{"multipleOf changed", Backward, `{"type":"number","multipleOf":3}`, []string{`{"type":"number","multipleOf":2}`}, []string{"MULTIPLE_OF_CHANGED at #"}},

	// Enum and const.
	{"enum extended", Backward, `{"enum":["a","b","c"]}`, []string{`{"enum":["a","b"]}`}, nil},
	{"enum narrowed", Backward, `{"enum":["a"]}`, []string{`{"enum":["a","b"]}`}, []string{"ENUM_ARRAY_NARROWED at #"}},
	{"enum changed", Backward, `{"enum":["a","c"]}`, []string{`{"enum":["a","b"]}`}, []string{"ENUM_ARRAY_CHANGED at #"}},
	{"enum added", Backward, `{"type":"string","enum":["a"]}`, []string{`{"type":"string"}`}, []string{"ENUM_ARRAY_NARROWED at #"}},
	{"enum removed", Backward, `{"type":"string"}`, []string{`{"type":"string","enum":["a"]}`}, nil},
	{"enum numbers by value", Backward, `{"enum":[1.0,2]}`, []string{`{"enum":[1]}`}, nil},
	{"const to enum", Backward, `{"enum":["a","b"]}`, []string{`{"const":"a"}`}, nil},
	{"enum to const", Backward, `{"const":"a"}`, []string{`{"enum":["a","b"]}`}, []string{"ENUM_ARRAY_NARROWED at #"}},

	// Open content model (additionalProperties absent or true).
	{"open: property added", Backward, jsonOpenAB, []string{jsonOpenA}, []string{"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at #/properties/b"}},
	{"open: property added forward", Forward, jsonOpenAB, []string{jsonOpenA}, nil},
	{"open: property removed", Backward, jsonOpenA, []string{jsonOpenAB}, nil},
	{"open: empty-schema property added", Backward, `{"type":"object","properties":{"a":{"type":"string"},"b":{}}}`, []string{jsonOpenA}, nil},
	{"open: property type changed", Backward, `{"type":"object","properties":{"a":{"type":"integer"}}}`, []string{jsonOpenA}, []string{"TYPE_CHANGED at #/properties/a"}},
	{"open to closed", Backward, jsonClosedA, []string{jsonOpenA}, []string{"ADDITIONAL_PROPERTIES_REMOVED at #/additionalProperties"}},
	{"open to partial", Backward, jsonPartialA, []string{jsonOpenA}, []string{"ADDITIONAL_PROPERTIES_NARROWED at #/additionalProperties"}},

	// Closed content model (additionalProperties false).
	{"closed: optional property added", Backward, jsonClosedAB, []string{jsonClosedA}, nil},
	{"closed: required property added", Backward,
		`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["b"],"additionalProperties":false}`,
		[]string{jsonClosedA},
		[]string{"REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL at #/properties/b", "REQUIRED_ATTRIBUTE_ADDED at #/required/b"}},
	{"closed: property removed", Backward, jsonClosedA, []string{jsonClosedAB}, []string{"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/properties/b"}},
	{"closed: property removed forward", Forward, jsonClosedA, []string{jsonClosedAB}, nil},
	{"closed to open", Backward, jsonOpenA, []string{jsonClosedA}, nil},

	// Partially open content model (additionalProperties a schema).
	{"partial: covered property removed", Backward, jsonPartialA,
		[]string{`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":{"type":"integer"}}`}, nil},
	{"partial: uncovered property removed", Backward, jsonPartialA,
		[]string{`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":{"type":"integer"}}`},
		[]string{"PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL at #/properties/b"}},
	{"partial: covered property added", Backward,
		`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}},"additionalProperties":{"type":"integer"}}`,
		[]string{jsonPartialA}, nil},
	{"partial: uncovered property added", Backward,
		`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":{"type":"integer"}}`,
		[]string{jsonPartialA},
		[]string{"PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL at #/properties/b"}},
	{"partial: additional schema narrowed", Backward,
		`{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer","maximum":3}}`,
		[]string{jsonPartialA}, []string{"MAXIMUM_ADDED at #/additionalProperties"}},
	{"partial: patternProperties cover", Backward,
		`{"type":"object","properties":{},"patternProperties":{"^x_":{"type":"string"}},"additionalProperties":false}`,
		[]string{`{"type":"object","properties":{"x_a":{"type":"string"}},"additionalProperties":false}`}, nil},

	// Required.
	{"required added", Backward, `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`, []string{jsonOpenA}, []string{"REQUIRED_ATTRIBUTE_ADDED at #/required/a"}},
	{"required with default added", Backward, `{"type":"object","properties":{"a":{"type":"string","default":""}},"required":["a"]}`, []string{jsonOpenA}, nil},
	{"required removed", Backward, jsonOpenA, []string{`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`}, nil},
	{"required removed forward", Forward, jsonOpenA, []string{`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`}, []string{"REQUIRED_ATTRIBUTE_ADDED at #/required/a"}},
	{"maxProperties added", Backward, `{"type":"object","maxProperties":3}`, []string{`{"type":"object"}`}, []string{"MAX_PROPERTIES_ADDED at #"}},
	{"minProperties increased", Backward, `{"type":"object","minProperties":3}`, []string{`{"type":"object","minProperties":1}`}, []string{"MIN_PROPERTIES_INCREASED at #"}},

	// Nested objects.
	{"nested property closed", Backward,
		`{"type":"object","properties":{"p":{"type":"object","properties":{"x":{"type":"string"}},"additionalProperties":false}}}`,
		[]string{`{"type":"object","properties":{"p":{"type":"object","properties":{"x":{"type":"string"},"y":{"type":"string"}},"additionalProperties":false}}}`},
		[]string{"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/properties/p/properties/y"}},
	{"nested constraint relaxed", Backward,
		`{"type":"object","properties":{"p":{"type":"object","properties":{"x":{"type":"string","maxLength":20}}}}}`,
		[]string{`{"type":"object","properties":{"p":{"type":"object","properties":{"x":{"type":"string","maxLength":10}}}}}`}, nil},

	// Arrays.
	{"items type narrowed", Backward, `{"type":"array","items":{"type":"integer"}}`, []string{`{"type":"array","items":{"type":"number"}}`}, []string{"TYPE_NARROWED at #/items"}},
	{"items type extended", Backward, `{"type":"array","items":{"type":"number"}}`, []string{`{"type":"array","items":{"type":"integer"}}`}, nil},
	{"items added", Backward, `{"type":"array","items":{"type":"string"}}`, []string{`{"type":"array"}`}, []string{"TYPE_NARROWED at #/items"}},
	{"tuple item added to open", Backward, `{"type":"array","items":[{"type":"string"},{"type":"integer"}]}`, []string{`{"type":"array","items":[{"type":"string"}]}`},
		[]string{"ITEM_ADDED_TO_OPEN_CONTENT_MODEL at #/items/1"}},
	{"tuple item added to closed", Backward, `{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}`,
		[]string{`{"type":"array","items":[{"type":"string"}],"additionalItems":false}`}, nil},
	{"tuple item removed from closed", Backward, `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`,
		[]string{`{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}`},
		[]string{"ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/items/1"}},
	{"tuple item removed from open", Backward, `{"type":"array","items":[{"type":"string"}]}`,
		[]string{`{"type":"array","items":[{"type":"string"},{"type":"integer"}]}`}, nil},
	{"tuple item removed, partially covered", Backward, `{"type":"array","items":[{"type":"string"}],"additionalItems":{"type":"string"}}`,
		[]string{`{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":{"type":"string"}}`},
		[]string{"ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL at #/items/1"}},
	{"additionalItems removed", Backward, `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`,
		[]string{`{"type":"array","items":[{"type":"string"}]}`}, []string{"ADDITIONAL_ITEMS_REMOVED at #/additionalItems"}},
	{"additionalItems narrowed", Backward, `{"type":"array","items":[{"type":"string"}],"additionalItems":{"type":"string"}}`,
		[]string{`{"type":"array","items":[{"type":"string"}]}`}, []string{"ADDITIONAL_ITEMS_NARROWED at #/additionalItems"}},
	{"prefixItems 2020-12", Backward,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}],"items":false}`,
		[]string{`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}`},
		[]string{"ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/items/1"}},
	{"maxItems decreased", Backward, `{"type":"array","maxItems":2}`, []string{`{"type":"array","maxItems":3}`}, []string{"MAX_ITEMS_DECREASED at #"}},
	{"minItems added", Backward, `{"type":"array","minItems":1}`, []string{`{"type":"array"}`}, []string{"MIN_ITEMS_ADDED at #"}},
	{"uniqueItems added", Backward, `{"type":"array","uniqueItems":true}`, []string{`{"type":"array"}`}, []string{"UNIQUE_ITEMS_ADDED at #"}},
	{"uniqueItems removed", Backward, `{"type":"array"}`, []string{`{"type":"array","uniqueItems":true}`}, nil},

	// Combined types.
	{"oneOf extended", Backward, `{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"null"}]}`,
		[]string{`{"oneOf":[{"type":"string"},{"type":"integer"}]}`}, nil},
	{"oneOf narrowed", Backward, `{"oneOf":[{"type":"string"}]}`,
		[]string{`{"oneOf":[{"type":"string"},{"type":"integer"}]}`}, []string{"SUM_TYPE_NARROWED at #/oneOf/1"}},
	{"oneOf to anyOf", Backward, `{"anyOf":[{"type":"string"},{"type":"integer"}]}`,
		[]string{`{"oneOf":[{"type":"string"},{"type":"integer"}]}`}, nil},
	{"anyOf to oneOf", Backward, `{"oneOf":[{"type":"string"},{"type":"integer"}]}`,
		[]string{`{"anyOf":[{"type":"string"},{"type":"integer"}]}`}, []string{"COMBINED_TYPE_CHANGED at #"}},
	{"plain to oneOf", Backward, `{"oneOf":[{"type":"string"},{"type":"null"}]}`, []string{`{"type":"string"}`}, nil},
	{"oneOf to plain", Backward, `{"type":"string"}`, []string{`{"oneOf":[{"type":"string"},{"type":"null"}]}`}, []string{"TYPE_CHANGED at #/oneOf/1"}},
	{"oneOf branch not covering", Backward, `{"anyOf":[{"type":"string","maxLength":3},{"type":"null"}]}`, []string{`{"type":"string"}`},
		[]string{"TYPE_CHANGED at #"}},
	{"allOf in reader", Backward, `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"required":["a"]}]}`,
		[]string{jsonOpenA}, []string{"REQUIRED_ATTRIBUTE_ADDED at #/allOf/1/required/a"}},
	{"allOf in writer", Backward, jsonOpenA,
		[]string{`{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"required":["a"]}]}`}, nil},

	// $ref.
	{"ref to definitions", Backward,
		`{"type":"object","properties":{"p":{"$ref":"#/definitions/P"}},"definitions":{"P":{"type":"string","maxLength":5}}}`,
		[]string{`{"type":"object","properties":{"p":{"$ref":"#/$defs/Q"}},"$defs":{"Q":{"type":"string"}}}`},
		[]string{"MAX_LENGTH_ADDED at #/properties/p"}},
	{"recursive ref", Backward,
		`{"$ref":"#/definitions/node","definitions":{"node":{"type":"object","properties":{"v":{"type":"number"},"next":{"$ref":"#/definitions/node"}}}}}`,
		[]string{`{"$ref":"#/definitions/node","definitions":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/definitions/node"}}}}}`},
		nil},
	{"recursive ref narrowed", Backward,
		`{"$ref":"#/definitions/node","definitions":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/definitions/node"}}}}}`,
		[]string{`{"$ref":"#/definitions/node","definitions":{"node":{"type":"object","properties":{"v":{"type":"number"},"next":{"$ref":"#/definitions/node"}}}}}`},
		[]string{"TYPE_NARROWED at #/properties/v"}},

	// Transitive levels: v1 → v2 → v3, each step compatible, v3 not with v1.
	// v2 makes "a" required with a default (REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED,
	// compatible), v3 drops the default (no change in required), but from v1
	// to v3 "a" becomes required without a default.
	{"chain backward", Backward, jsonChainV3, []string{jsonChainV1, jsonChainV2}, nil},
	{"chain backward transitive", BackwardTransitive, jsonChainV3, []string{jsonChainV1, jsonChainV2}, []string{"REQUIRED_ATTRIBUTE_ADDED at #/required/a"}},
	{"chain full", Full, jsonChainV3, []string{jsonChainV1, jsonChainV2}, nil},
	{"chain full transitive", FullTransitive, jsonChainV3, []string{jsonChainV1, jsonChainV2}, []string{"REQUIRED_ATTRIBUTE_ADDED at #/required/a"}},
	{"chain forward", Forward, jsonChainV1, []string{jsonChainV3, jsonChainV2}, nil},
	{"chain forward transitive", ForwardTransitive, jsonChainV1, []string{jsonChainV3, jsonChainV2}, []string{"REQUIRED_ATTRIBUTE_ADDED at #/required/a"}},
	{"transitive all compatible", BackwardTransitive, `{"type":["string","null","integer"]}`,
		[]string{`{"type":"string"}`, `{"type":["string","null"]}`}, nil},
}

const (
	jsonChainV1 = `{"type":"object","properties":{"a":{"type":"string"}}}`
	jsonChainV2 = `{"type":"object","properties":{"a":{"type":"string","default":"x"}},"required":["a"]}`
	jsonChainV3 = `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`
)

func TestJSONCheck(t *testing.T) {
	for _, tc := range jsonCases {
		t.Run(tc.name, func(t *testing.T) {
			var prev []Schema
			for _, p := range tc.previous {
				prev = append(prev, jsonSchema(p))
			}
			got, err := Check(tc.level, jsonSchema(tc.next), prev)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(tc.want) == 0 && len(got) != 0 {
				t.Fatalf("want compatible, got %q", got)
			}
			for _, w := range tc.want {
				if !containsPrefix(got, w) {
					t.Errorf("want %q among %q", w, got)
				}
			}
		})
	}
}

func containsPrefix(msgs []string, prefix string) bool {
	for _, m := range msgs {
		if m == prefix || strings.HasPrefix(m, prefix+":") {
			return true
		}
	}
	return false
}

func TestJSONReferences(t *testing.T) {
	addr := `{"type":"object","properties":{"street":{"type":"string"}},"additionalProperties":false}`
	addrMore := `{"type":"object","properties":{"street":{"type":"string"},"zip":{"type":"string"}},"additionalProperties":false}`
	user := `{"type":"object","properties":{"home":{"$ref":"address.json"}}}`
	userAbs := `{"$id":"https://example.com/schemas/user.json","type":"object","properties":{"home":{"$ref":"address.json#"}}}`

	for _, tc := range []struct {
		name       string
		next, prev Schema
		want       []string
	}{
		{"same reference", jsonSchema(user, "address.json", addr), jsonSchema(user, "address.json", addr), nil},
		{"reference gains optional field", jsonSchema(user, "address.json", addrMore), jsonSchema(user, "address.json", addr), nil},
		{"reference loses field", jsonSchema(user, "address.json", addr), jsonSchema(user, "address.json", addrMore),
			[]string{"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/properties/home/properties/zip"}},
		{"relative to $id", jsonSchema(userAbs, "https://example.com/schemas/address.json", addr),
			jsonSchema(userAbs, "https://example.com/schemas/address.json", addrMore),
			[]string{"PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/properties/home/properties/zip"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Check(Backward, tc.next, []Schema{tc.prev})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if len(tc.want) == 0 && len(got) != 0 {
				t.Fatalf("want compatible, got %q", got)
			}
			for _, w := range tc.want {
				if !containsPrefix(got, w) {
					t.Errorf("want %q among %q", w, got)
				}
			}
		})
	}
}

func TestJSONInvalid(t *testing.T) {
	valid := jsonSchema(`{"type":"string"}`)
	for _, tc := range []struct {
		name string
		s    Schema
	}{
		{"not JSON", jsonSchema(`{"type":`)},
		{"trailing data", jsonSchema(`{"type":"string"} {}`)},
		{"unknown type", jsonSchema(`{"type":"strin"}`)},
		{"bad minLength", jsonSchema(`{"type":"string","minLength":-1}`)},
		{"bad pattern", jsonSchema(`{"type":"string","pattern":"["}`)},
		{"not a schema", jsonSchema(`42`)},
		{"missing local ref", jsonSchema(`{"$ref":"#/definitions/nope"}`)},
		{"missing reference", jsonSchema(`{"$ref":"other.json"}`)},
		{"missing remote reference", jsonSchema(`{"$ref":"https://example.com/other.json"}`)},
		{"invalid reference", jsonSchema(`{"$ref":"other.json"}`, "other.json", `{"type":7}`)},
		{"reference not JSON", jsonSchema(`{"$ref":"other.json"}`, "other.json", `{`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Canonical(tc.s, false); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Canonical: got %v, want ErrInvalidSchema", err)
			}
			if _, err := Check(Backward, tc.s, []Schema{valid}); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Check next: got %v, want ErrInvalidSchema", err)
			}
			if _, err := Check(Backward, valid, []Schema{tc.s}); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Check previous: got %v, want ErrInvalidSchema", err)
			}
		})
	}
}

func TestJSONCanonical(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        Schema
		normalize bool
		want      string
	}{
		{"keys sorted, whitespace dropped", jsonSchema("{\n  \"type\": \"object\",\n  \"properties\": {\"b\": {\"type\":\"string\"}, \"a\": {}}\n}"), false,
			`{"properties":{"a":{},"b":{"type":"string"}},"type":"object"}`},
		{"numbers kept as written", jsonSchema(`{"maximum": 1.50, "minimum": 1e2}`), false, `{"maximum":1.50,"minimum":1e2}`},
		{"no HTML escaping", jsonSchema(`{"pattern":"<a&b>"}`), false, `{"pattern":"<a&b>"}`},
		{"boolean schema", jsonSchema(` true `), false, `true`},
		{"order kept without normalize", jsonSchema(`{"type":["string","null"],"required":["b","a"],"enum":["y","x"]}`), false,
			`{"enum":["y","x"],"required":["b","a"],"type":["string","null"]}`},
		{"normalize sorts", jsonSchema(`{"type":["string","null"],"required":["b","a"],"enum":["y","x"]}`), true,
			`{"enum":["x","y"],"required":["a","b"],"type":["null","string"]}`},
		{"normalize single type", jsonSchema(`{"type":["string"]}`), true, `{"type":"string"}`},
		{"normalize nested, not data", jsonSchema(`{"properties":{"p":{"required":["z","y"],"default":{"required":["z","y"]}}}}`), true,
			`{"properties":{"p":{"default":{"required":["z","y"]},"required":["y","z"]}}}`},
		{"reference resolved", jsonSchema(`{"$ref":"a.json"}`, "a.json", `{"type":"string"}`), false, `{"$ref":"a.json"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(tc.in, tc.normalize)
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestJSONCanonicalEqual checks that two registrations that differ only in
// layout, or (normalized) in order, have one canonical form.
func TestJSONCanonicalEqual(t *testing.T) {
	a := jsonSchema(`{"type":"object","required":["x","y"],"properties":{"x":{"type":"string"},"y":{"type":["integer","null"]}}}`)
	b := jsonSchema(`{ "properties": { "y": {"type": ["null", "integer"]}, "x": {"type": "string"} }, "required": ["y", "x"], "type": "object" }`)
	ca, _ := Canonical(a, true)
	cb, _ := Canonical(b, true)
	if ca != cb || ca == "" {
		t.Errorf("normalized forms differ:\n%s\n%s", ca, cb)
	}
	ca, _ = Canonical(a, false)
	cb, _ = Canonical(b, false)
	if ca == cb {
		t.Errorf("forms without normalize should keep array order: %s", ca)
	}
}

// TestJSONCycleBound checks that mutually recursive definitions end.
func TestJSONCycleBound(t *testing.T) {
	s := jsonSchema(`{"$ref":"#/definitions/a","definitions":{
		"a":{"type":"object","properties":{"b":{"$ref":"#/definitions/b"},"a":{"$ref":"#/definitions/a"}}},
		"b":{"anyOf":[{"$ref":"#/definitions/a"},{"$ref":"#/definitions/b"},{"type":"null"}]}}}`)
	if _, err := Check(FullTransitive, s, []Schema{s, s}); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// TestJSONStepBound checks that a schema whose comparison would take
// exponential time stops at jsonMaxSteps and says so.
func TestJSONStepBound(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"$ref":"#/definitions/d0","definitions":{`)
	const n = 24
	for i := range n {
		fmt.Fprintf(&b, `"d%d":{"anyOf":[{"$ref":"#/definitions/d%d"},{"type":"object","properties":{"x":{"$ref":"#/definitions/d%d"}}}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d":{"type":"string"}}}`, n)
	reader := jsonSchema(b.String())
	writer := jsonSchema(strings.ReplaceAll(b.String(), `"type":"string"`, `"type":"integer"`))
	msgs, err := Check(Full, reader, []Schema{writer})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, "TOO_COMPLEX at #") }) {
		t.Errorf("want TOO_COMPLEX among %q", msgs)
	}
}

// FuzzJSONCheck checks that no pair of schemas makes canonical or check
// panic or hang, and that a valid schema is compatible with itself at
// every level.
func FuzzJSONCheck(f *testing.F) {
	for _, tc := range jsonCases {
		f.Add(tc.next, tc.previous[len(tc.previous)-1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := jsonSchema(a), jsonSchema(b)
		if _, err := Canonical(sa, true); err != nil {
			return
		}
		if _, err := Check(Full, sa, []Schema{sb}); err != nil && !errors.Is(err, ErrInvalidSchema) {
			t.Fatalf("Check: %v", err)
		}
		if msgs, err := Check(Full, sa, []Schema{sa}); err != nil || (len(msgs) != 0 && !strings.HasPrefix(msgs[len(msgs)-1], "TOO_COMPLEX")) {
			t.Fatalf("a schema against itself: %q, %v", msgs, err)
		}
	})
}
