package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// jsonFormat is the JSON Schema type.
//
// # Validation
//
// A schema is checked with github.com/santhosh-tekuri/jsonschema/v6: pure
// Go, well kept, and complete for drafts 4, 6, 7, 2019-09 and 2020-12
// (it passes the official JSON-Schema-Test-Suite), with the metaschemas
// embedded so nothing is fetched. The text is compiled against its
// "$schema", or draft 7 when it names none (Confluent's default, and the
// draft whose tuple form "items": [...] with "additionalItems" most
// registered schemas use). Schema.References are added as resources under
// their names resolved against a private base URL and, when the root has an
// absolute "$id", against that too, so "$ref": "other.json" and
// "$ref": "https://example.com/other.json" both find their reference. The
// loader refuses every other URL: a $ref to a schema not among the
// references, text that is not JSON, or a schema the metaschema rejects all
// wrap ErrInvalidSchema. Patterns are compiled with Go's regexp, so ECMA-only
// syntax (look-around, back-references) is rejected where Confluent's Java
// regex would accept it.
//
// # Canonical form
//
// The schema as parsed, written with object keys sorted, no insignificant
// whitespace, no HTML escaping and numbers exactly as written. With
// normalize, also, in schema positions only (never inside enum, const,
// default or examples values): "type" arrays are sorted and deduplicated and
// a one-element array becomes a string; "required" is sorted and
// deduplicated; "enum" values are sorted by their canonical text and
// deduplicated. Confluent's normalize for JSON Schema likewise sorts what
// has no meaningful order; it does not inline references, and neither does
// this.
//
// # Compatibility
//
// check follows Confluent's io.confluent.kafka.schemaregistry.json.diff
// (SchemaDiff, ObjectSchemaDiff, ArraySchemaDiff, CombinedSchemaDiff, ...),
// comparing writer (Confluent's "original") with reader ("update") and
// reporting only the Difference types Confluent counts as incompatible, as
// "RULE at #/json/path". The rules:
//
//   - type: every writer type must be accepted by the reader ("integer" is
//     accepted by "number"); otherwise TYPE_NARROWED, or TYPE_CHANGED when no
//     writer type is accepted. A writer without "type" has the types its
//     keywords imply (properties → object, items → array, ...), as everit
//     builds it; with none, any type.
//   - string: MAX_LENGTH_ADDED/DECREASED, MIN_LENGTH_ADDED/INCREASED,
//     PATTERN_ADDED/CHANGED.
//   - number: MAXIMUM_ADDED/DECREASED, MINIMUM_ADDED/INCREASED, the
//     EXCLUSIVE_ variants, MULTIPLE_OF_ADDED/EXPANDED/CHANGED (the reader's
//     multipleOf must divide the writer's). Draft 4's boolean
//     exclusiveMaximum/exclusiveMinimum turn maximum/minimum into the
//     exclusive bound.
//   - enum and const (a const is a one-value enum): ENUM_ARRAY_NARROWED
//     (added, or values dropped) and ENUM_ARRAY_CHANGED.
//   - objects: a content model is open (additionalProperties absent or true,
//     no patternProperties), closed (additionalProperties false) or
//     partially open (a schema, or patternProperties). A property the reader
//     adds is PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL when the writer's model is
//     open, unless its schema is empty: the writer may have written that
//     name with any value. This makes adding an optional property to an
//     open model BACKWARD incompatible, as in Confluent. Against a partially
//     open writer the added property must accept what the writer's
//     additional schema allows (else
//     PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL); against a
//     closed writer only a required one without default is incompatible
//     (REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL). A property the
//     reader drops is fine in an open reader, must be covered by a partially
//     open reader (PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL)
//     and is PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL in a closed one.
//     Also ADDITIONAL_PROPERTIES_REMOVED/NARROWED, REQUIRED_ATTRIBUTE_ADDED
//     (a newly required property with a default in the reader is allowed,
//     as Confluent's REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED),
//     MAX_PROPERTIES_ADDED/DECREASED, MIN_PROPERTIES_ADDED/INCREASED, and
//     shared properties and patternProperties compared recursively.
//   - arrays: "items" as one schema is compared recursively; tuples
//     ("items": [...] with "additionalItems", or 2020-12 "prefixItems" with
//     "items") follow the same open/closed/partially open rules per position
//     (ITEM_ADDED_TO_OPEN_CONTENT_MODEL, ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL,
//     ITEM_ADDED/REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL),
//     ADDITIONAL_ITEMS_REMOVED/NARROWED, MAX_ITEMS_ADDED/DECREASED,
//     MIN_ITEMS_ADDED/INCREASED, UNIQUE_ITEMS_ADDED.
//   - oneOf/anyOf: a reader combination must cover every writer branch, each
//     by some reader branch (SUM_TYPE_NARROWED names an uncovered one);
//     oneOf → anyOf is COMBINED_TYPE_EXTENDED (fine), any other change of
//     criterion COMBINED_TYPE_CHANGED. A plain writer needs one reader
//     branch that accepts it; a plain reader must accept every writer branch.
//   - allOf: a writer's allOf is merged into one schema; a reader's allOf
//     branches must each accept the writer.
//   - not: the reader's "not" must exclude no more than the writer's
//     (NOT_TYPE_ADDED/NARROWED); if/then/else: a reader conditional that
//     differs from the writer's is CONDITIONAL_CHANGED.
//   - $ref: local pointers (#/definitions/..., #/$defs/...), anchors and
//     references to Schema.References are followed; siblings of a $ref are
//     merged into its target. A pair of schemas already being compared
//     further up is taken as compatible, which ends recursive types.
//
// # Deviations from Confluent
//
//   - Confluent compares everit's Java object model, so a change of shape
//     (say "type": "string" gaining an enum, which everit turns into an
//     allOf) is TYPE_CHANGED there; here keywords are compared one by one
//     and the report names the keyword (ENUM_ARRAY_NARROWED).
//   - Confluent matches combined subschemas with a maximum-cardinality
//     matching and calls a reader with fewer branches incompatible; here
//     each writer branch needs some reader branch that accepts it, which
//     also accepts a reader that merges two branches into one.
//   - Confluent reports a plain reader against an anyOf/oneOf writer as
//     TYPE_CHANGED; here it is compatible when every writer branch is.
//   - multipleOf is compared exactly as rationals, not as Java intValue().
//   - dependencies/dependentRequired/dependentSchemas, contains,
//     propertyNames and unevaluated* are not compared (Confluent compares
//     the first three); a $ref that cannot be resolved (to a subschema $id)
//     is taken as the empty schema.
//   - A comparison stops after jsonMaxSteps steps and reports
//     TOO_COMPLEX, so a pathological schema cannot hang a request.
type jsonFormat struct{}

var _ format = jsonFormat{}

// jsonBaseURL is where a schema and its references live for the compiler.
// The scheme is private: the loader fetches nothing.
const (
	jsonBaseURL = "strata-schema:///"
	jsonRootURL = jsonBaseURL + ".root.json"
)

// jsonMaxSteps bounds the pairs of subschemas one check compares: schemas
// with many $refs to shared definitions can otherwise take exponential time.
const jsonMaxSteps = 50000

func (jsonFormat) canonical(s Schema, normalize bool) (string, error) {
	sp, err := loadJSONSchema(s)
	if err != nil {
		return "", err
	}
	v := sp.root
	if normalize {
		v = normalizeJSONSchema(v)
	}
	return canonicalJSON(v), nil
}

func (jsonFormat) check(reader, writer Schema) ([]string, error) {
	r, err := loadJSONSchema(reader)
	if err != nil {
		return nil, err
	}
	w, err := loadJSONSchema(writer)
	if err != nil {
		return nil, err
	}
	c := &jsonChecker{inProgress: map[string]bool{}, steps: new(int)}
	c.compare("#", jnode{sp: r, v: r.root}, jnode{sp: w, v: w.root})
	if *c.steps > jsonMaxSteps {
		// Past the budget every comparison passed, so the result means
		// nothing: refuse rather than accept.
		c.add("TOO_COMPLEX", "#", fmt.Sprintf("comparison stopped after %d steps", jsonMaxSteps))
	}
	return c.msgs, nil
}

// jsonSpace is one schema and its references, parsed.
type jsonSpace struct {
	root  any
	refs  map[string]any    // reference name → document
	byURL map[string]string // resolved URL → reference name
	bases []string
}

// noJSONLoader refuses to load anything: every document a schema may use is
// added to the compiler up front.
type noJSONLoader struct{}

func (noJSONLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not among the schema's references", u)
}

func loadJSONSchema(s Schema) (*jsonSpace, error) {
	root, err := parseJSON(s.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: parse JSON schema: %w", ErrInvalidSchema, err)
	}
	sp := &jsonSpace{root: root, refs: map[string]any{}, byURL: map[string]string{}, bases: []string{jsonBaseURL}}
	if m, ok := root.(map[string]any); ok {
		if id, ok := m["$id"].(string); ok {
			if u, err := url.Parse(id); err == nil && u.IsAbs() {
				sp.bases = append(sp.bases, id)
			}
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noJSONLoader{})
	var urls []string
	for _, name := range slices.Sorted(mapKeys(s.References)) {
		doc, err := parseJSON(s.References[name])
		if err != nil {
			return nil, fmt.Errorf("%w: parse reference %q: %w", ErrInvalidSchema, name, err)
		}
		sp.refs[name] = doc
		for _, b := range sp.bases {
			u, ok := resolveURL(b, name)
			if !ok {
				return nil, fmt.Errorf("%w: reference name %q is not a URL", ErrInvalidSchema, name)
			}
			if _, dup := sp.byURL[u]; dup || u == jsonRootURL {
				continue
			}
			sp.byURL[u] = name
			if err := c.AddResource(u, doc); err != nil {
				return nil, fmt.Errorf("%w: add reference %q: %w", ErrInvalidSchema, name, err)
			}
			urls = append(urls, u)
		}
	}
	if err := c.AddResource(jsonRootURL, root); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	if _, err := c.Compile(jsonRootURL); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSchema, err)
	}
	for _, u := range urls {
		if _, err := c.Compile(u); err != nil {
			return nil, fmt.Errorf("%w: reference %s: %w", ErrInvalidSchema, sp.byURL[u], err)
		}
	}
	return sp, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// parseJSON decodes one JSON value, keeping numbers as written.
func parseJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the schema")
	}
	return v, nil
}

func resolveURL(base, ref string) (string, bool) {
	b, err := url.Parse(base)
	if err != nil {
		return "", false
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", false
	}
	u := b.ResolveReference(r)
	u.Fragment, u.RawFragment = "", ""
	return u.String(), true
}

// canonicalJSON writes v with sorted keys and no insignificant whitespace.
func canonicalJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// v came from parseJSON: maps, slices, strings, bools, json.Number.
		panic(fmt.Sprintf("compat: encode parsed JSON: %v", err))
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Keywords whose value is a schema, a map of schemas or an array of schemas.
var (
	jsonSchemaKeywords = []string{"additionalItems", "additionalProperties", "contains", "else", "if", "items",
		"not", "propertyNames", "then", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	jsonSchemaMapKeywords   = []string{"$defs", "definitions", "dependentSchemas", "patternProperties", "properties", "dependencies"}
	jsonSchemaArrayKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems", "items"}
)

// normalizeJSONSchema returns a copy of the schema v with "type",
// "required" and "enum" in sorted order; see jsonFormat.
func normalizeJSONSchema(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = x
	}
	if ts, ok := m["type"].([]any); ok {
		out["type"] = sortedUnique(ts)
		if a := out["type"].([]any); len(a) == 1 {
			out["type"] = a[0]
		}
	}
	if rs, ok := m["required"].([]any); ok {
		out["required"] = sortedUnique(rs)
	}
	if es, ok := m["enum"].([]any); ok {
		out["enum"] = sortedUnique(es)
	}
	for _, k := range jsonSchemaKeywords {
		if x, ok := m[k]; ok {
			if _, isArr := x.([]any); !isArr {
				out[k] = normalizeJSONSchema(x)
			}
		}
	}
	for _, k := range jsonSchemaMapKeywords {
		if x, ok := m[k].(map[string]any); ok {
			nm := make(map[string]any, len(x))
			for name, s := range x {
				nm[name] = normalizeJSONSchema(s)
			}
			out[k] = nm
		}
	}
	for _, k := range jsonSchemaArrayKeywords {
		if x, ok := m[k].([]any); ok {
			na := make([]any, len(x))
			for i, s := range x {
				na[i] = normalizeJSONSchema(s)
			}
			out[k] = na
		}
	}
	return out
}

func sortedUnique(a []any) []any {
	byText := map[string]any{}
	for _, x := range a {
		byText[canonicalJSON(x)] = x
	}
	out := make([]any, 0, len(byText))
	for _, k := range slices.Sorted(mapKeys(byText)) {
		out = append(out, byText[k])
	}
	return out
}
