package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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

// jsonIn carries a value merged into a schema from another place, so that
// the $refs inside it resolve in its own document.
type jsonIn struct {
	doc, ptr string
	v        any
}

// jnode is a subschema: its value, its document (the root's is "", a
// reference's is its name) and its JSON pointer there.
type jnode struct {
	sp       *jsonSpace
	doc, ptr string
	v        any
}

func (n jnode) id() string { return fmt.Sprintf("%p|%s|%s", n.sp, n.doc, n.ptr) }

func (n jnode) obj() map[string]any {
	m, _ := n.v.(map[string]any)
	return m
}

func (n jnode) sub(v any, suffix string) jnode {
	if in, ok := v.(jsonIn); ok {
		return jnode{sp: n.sp, doc: in.doc, ptr: in.ptr, v: in.v}
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: n.ptr + suffix, v: v}
}

func (n jnode) get(key string) (jnode, bool) {
	v, ok := n.obj()[key]
	if !ok {
		return jnode{}, false
	}
	return n.sub(v, "/"+escapePointer(key)), true
}

func (n jnode) items(key string) []jnode {
	x, ok := n.get(key)
	if !ok {
		return nil
	}
	a, _ := x.v.([]any)
	out := make([]jnode, len(a))
	for i, v := range a {
		out[i] = x.sub(v, "/"+strconv.Itoa(i))
	}
	return out
}

// val returns n's value at key, unwrapped.
func (n jnode) val(key string) (any, bool) {
	v, ok := n.obj()[key]
	return stripIn(v), ok
}

func (n jnode) valOnly(key string) any { v, _ := n.val(key); return v }

func (n jnode) has(key string) bool { _, ok := n.obj()[key]; return ok }

func (n jnode) str(key string) (string, bool) {
	s, ok := n.valOnly(key).(string)
	return s, ok
}

func (n jnode) num(key string) (json.Number, bool) {
	x, ok := n.valOnly(key).(json.Number)
	return x, ok
}

// without returns n minus the given keywords.
func (n jnode) without(keys ...string) jnode {
	m := n.obj()
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = n.pin(k, v)
		}
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: contentID(out), v: out}
}

// contentID names a merged schema by what it holds: pinned values by their
// place, the rest by their text. Pinned values always come from unmerged
// schemas, so the name stays short, and merging the same parts again gives
// the same name, which is what lets compare detect cycles through merges.
func contentID(m map[string]any) string {
	var b strings.Builder
	b.WriteString("&{")
	for _, k := range slices.Sorted(mapKeys(m)) {
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		switch v := m[k].(type) {
		case jsonIn:
			b.WriteString("@" + strconv.Quote(v.doc) + v.ptr)
		case map[string]any:
			b.WriteString(contentID(v))
		default:
			b.WriteString(valueKey(v))
		}
		b.WriteByte(',')
	}
	b.WriteByte('}')
	return b.String()
}

// pin wraps n's value at key so it keeps resolving from where it is.
func (n jnode) pin(key string, v any) any {
	if _, ok := v.(jsonIn); ok {
		return v
	}
	return jsonIn{doc: n.doc, ptr: n.ptr + "/" + escapePointer(key), v: v}
}

// mergedWith returns n with base's keywords added where n lacks them, and
// base's properties, patternProperties and required joined to n's.
func (n jnode) mergedWith(base jnode) jnode {
	if len(assertions(base.obj())) == 0 {
		return n
	}
	out := map[string]any{}
	for k, v := range n.obj() {
		out[k] = n.pin(k, v)
	}
	for k, v := range base.obj() {
		cur, ok := out[k]
		switch {
		case !ok:
			out[k] = base.pin(k, v)
		case k == "properties" || k == "patternProperties":
			joined := map[string]any{}
			for _, side := range []jnode{base, n} {
				p, _ := side.get(k)
				for name, s := range p.obj() {
					joined[name] = p.pin(name, s)
				}
			}
			out[k] = joined
		case k == "required":
			a, _ := stripIn(cur).([]any)
			b, _ := stripIn(v).([]any)
			out[k] = append(slices.Clone(a), b...)
		}
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: contentID(out), v: out}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// deref follows n's $ref, if any, merging the $ref's siblings into its
// target. An unresolvable $ref becomes the empty schema.
func (n jnode) deref() jnode {
	for range 64 {
		ref, ok := n.str("$ref")
		if !ok {
			return n
		}
		t, ok := n.sp.resolve(n.doc, ref)
		if !ok {
			return jnode{sp: n.sp, doc: n.doc, ptr: n.ptr + "&unresolved", v: map[string]any{}}
		}
		if rest := n.without("$ref"); len(assertions(rest.obj())) > 0 {
			t = t.mergedWith(rest)
		}
		n = t
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: n.ptr + "&loop", v: map[string]any{}}
}

func (sp *jsonSpace) resolve(doc, ref string) (jnode, bool) {
	loc, frag, _ := strings.Cut(ref, "#")
	if loc != "" {
		name, ok := "", false
		if _, exact := sp.refs[loc]; exact {
			name, ok = loc, true
		}
		for _, b := range sp.bases {
			if ok {
				break
			}
			if u, valid := resolveURL(b, loc); valid {
				name, ok = sp.byURL[u]
			}
		}
		if !ok {
			return jnode{}, false
		}
		doc = name
	}
	n := jnode{sp: sp, doc: doc, v: sp.root}
	if doc != "" {
		n.v = sp.refs[doc]
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	if frag == "" {
		return n, true
	}
	if !strings.HasPrefix(frag, "/") {
		return findAnchor(n, frag)
	}
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := n.v.(type) {
		case map[string]any:
			x, ok := v[tok]
			if !ok {
				return jnode{}, false
			}
			n = n.sub(x, "/"+escapePointer(tok))
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return jnode{}, false
			}
			n = n.sub(v[i], "/"+tok)
		default:
			return jnode{}, false
		}
	}
	return n, true
}

// findAnchor finds the subschema with "$anchor": name, or draft 7's
// "$id": "#name".
func findAnchor(n jnode, name string) (jnode, bool) {
	switch v := n.v.(type) {
	case map[string]any:
		if a, _ := v["$anchor"].(string); a == name {
			return n, true
		}
		if id, _ := v["$id"].(string); id == "#"+name {
			return n, true
		}
		for _, k := range slices.Sorted(mapKeys(v)) {
			if k == "enum" || k == "const" || k == "default" || k == "examples" {
				continue
			}
			if f, ok := findAnchor(n.sub(v[k], "/"+escapePointer(k)), name); ok {
				return f, true
			}
		}
	case []any:
		for i, x := range v {
			if f, ok := findAnchor(n.sub(x, "/"+strconv.Itoa(i)), name); ok {
				return f, true
			}
		}
	}
	return jnode{}, false
}

// jsonAnnotations are keywords that constrain nothing.
var jsonAnnotations = map[string]bool{
	"$comment": true, "$defs": true, "$id": true, "$schema": true, "$anchor": true, "$vocabulary": true,
	"$dynamicAnchor": true, "$recursiveAnchor": true, "contentEncoding": true, "contentMediaType": true,
	"default": true, "definitions": true, "deprecated": true, "description": true, "examples": true,
	"format": true, "readOnly": true, "title": true, "writeOnly": true,
}

// assertions returns m's keywords that constrain data.
func assertions(m map[string]any) []string {
	var out []string
	for k := range m {
		if !jsonAnnotations[k] {
			out = append(out, k)
		}
	}
	return out
}

// isEmptyJSONSchema reports whether n accepts every value.
func isEmptyJSONSchema(n jnode) bool {
	n = n.deref()
	if b, ok := n.v.(bool); ok {
		return b
	}
	return len(assertions(n.obj())) == 0
}

// jsonChecker compares a reader subschema with a writer one.
type jsonChecker struct {
	inProgress map[string]bool
	steps      *int
	msgs       []string
}

func (c *jsonChecker) add(rule, path, detail string) {
	m := rule + " at " + path
	if detail != "" {
		m += ": " + detail
	}
	c.msgs = append(c.msgs, m)
}

// accepts reports whether r accepts all that w does, without reporting.
func (c *jsonChecker) accepts(path string, r, w jnode) bool {
	sub := &jsonChecker{inProgress: c.inProgress, steps: c.steps}
	sub.compare(path, r, w)
	return len(sub.msgs) == 0
}

func (c *jsonChecker) compare(path string, r, w jnode) {
	r, w = r.deref(), w.deref()
	if *c.steps++; *c.steps > jsonMaxSteps {
		return // check reports TOO_COMPLEX
	}
	key := r.id() + "\x00" + w.id()
	if c.inProgress[key] {
		return
	}
	c.inProgress[key] = true
	defer delete(c.inProgress, key)

	if b, ok := w.v.(bool); ok {
		if !b {
			return // the writer writes nothing
		}
		w = jnode{sp: w.sp, doc: w.doc, ptr: w.ptr, v: map[string]any{}}
	}
	if isEmptyJSONSchema(r) {
		return
	}
	if b, ok := r.v.(bool); ok && !b {
		c.add("TYPE_CHANGED", path, "the reader accepts nothing")
		return
	}
	if w.has("allOf") {
		if w = flattenAllOf(w, 8); w.v == false {
			return
		}
	}
	if c.compareCombined(path, r, w) {
		return
	}
	c.compareBase(path, r, w)
}

// flattenAllOf merges w's allOf branches into w.
func flattenAllOf(w jnode, depth int) jnode {
	out := w.without("allOf")
	for _, b := range w.items("allOf") {
		b = b.deref()
		if depth > 0 && b.has("allOf") {
			b = flattenAllOf(b, depth-1)
		}
		if bb, ok := b.v.(bool); ok {
			if !bb {
				return jnode{sp: w.sp, doc: w.doc, ptr: w.ptr + "&false", v: false}
			}
			continue
		}
		out = out.mergedWith(b)
	}
	return out
}

func sumKeyword(n jnode) string {
	for _, k := range []string{"oneOf", "anyOf"} {
		if n.has(k) {
			return k
		}
	}
	return ""
}

// compareCombined handles allOf in the reader and oneOf/anyOf on either
// side. It returns true when it has compared everything.
func (c *jsonChecker) compareCombined(path string, r, w jnode) bool {
	if r.has("allOf") {
		for i, b := range r.items("allOf") {
			c.compare(path+"/allOf/"+strconv.Itoa(i), b, w)
		}
		r = r.without("allOf")
	}
	rk, wk := sumKeyword(r), sumKeyword(w)
	switch {
	case wk != "" && rk == "":
		wbase := w.without(wk)
		for i, b := range w.items(wk) {
			if b = b.deref(); b.v == false {
				continue
			}
			c.compare(path+"/"+wk+"/"+strconv.Itoa(i), r, b.mergedWith(wbase))
		}
		return true
	case wk == "" && rk != "":
		rbase := r.without(rk)
		found := false
		for _, b := range r.items(rk) {
			if c.accepts(path, b, w) {
				found = true
				break
			}
		}
		if !found {
			c.add("TYPE_CHANGED", path, "no "+rk+" branch of the reader accepts the writer")
		}
		c.compare(path, rbase, w)
		return true
	case wk != "" && rk != "":
		if rk != wk && rk != "anyOf" {
			c.add("COMBINED_TYPE_CHANGED", path, wk+" became "+rk)
		}
		rs := r.items(rk)
		for i, b := range w.items(wk) {
			covered := slices.ContainsFunc(rs, func(rb jnode) bool { return c.accepts(path, rb, b) })
			if !covered {
				c.add("SUM_TYPE_NARROWED", path+"/"+wk+"/"+strconv.Itoa(i), "no reader "+rk+" branch accepts it")
			}
		}
		c.compare(path, r.without(rk), w.without(wk))
		return true
	}
	return false
}

var jsonTypeKeywords = []struct {
	typ  string
	keys []string
}{
	{"object", []string{"properties", "additionalProperties", "patternProperties", "required", "minProperties", "maxProperties", "dependencies", "dependentRequired", "dependentSchemas", "propertyNames"}},
	{"array", []string{"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"}},
	{"string", []string{"minLength", "maxLength", "pattern"}},
	{"number", []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}},
}

// jsonTypes returns n's "type" as a list, or nil for any type.
func jsonTypes(n jnode) []string {
	switch t := n.valOnly("type").(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// writerTypes returns the types w's data may have, or nil for any.
func writerTypes(w jnode) []string {
	if t := jsonTypes(w); t != nil {
		return t
	}
	var out []string
	for _, tk := range jsonTypeKeywords {
		if slices.ContainsFunc(tk.keys, w.has) {
			out = append(out, tk.typ)
		}
	}
	return out
}

func typeAccepted(types []string, t string) bool {
	return types == nil || slices.Contains(types, t) || (t == "integer" && slices.Contains(types, "number"))
}

func (c *jsonChecker) compareBase(path string, r, w jnode) {
	wt, rt := writerTypes(w), jsonTypes(r)
	if rt != nil {
		var lost []string
		partly := 0 // writer types the reader accepts only some values of
		for _, t := range wt {
			if !typeAccepted(rt, t) {
				lost = append(lost, t)
				if t == "number" && slices.Contains(rt, "integer") {
					partly++
				}
			}
		}
		switch {
		case wt == nil:
			c.add("TYPE_NARROWED", path, "writer allows any type, reader "+strings.Join(rt, ", "))
		case len(lost) == len(wt) && partly == 0:
			c.add("TYPE_CHANGED", path, fmt.Sprintf("writer %s, reader %s", strings.Join(wt, ", "), strings.Join(rt, ", ")))
			return
		case len(lost) > 0:
			c.add("TYPE_NARROWED", path, "reader drops "+strings.Join(lost, ", "))
		}
	}
	may := func(t string) bool {
		if wt != nil && !typeAccepted(wt, t) && !(t == "number" && slices.Contains(wt, "integer")) {
			return false
		}
		return typeAccepted(rt, t) || (t == "number" && typeAccepted(rt, "integer"))
	}
	c.compareEnum(path, r, w)
	if may("string") {
		c.compareStrings(path, r, w)
	}
	if may("number") {
		c.compareNumbers(path, r, w)
	}
	if may("object") {
		c.compareObjects(path, r, w)
	}
	if may("array") {
		c.compareArrays(path, r, w)
	}
	c.compareNot(path, r, w)
	c.compareConditional(path, r, w)
}

// enumValues returns the values n allows by enum or const, or nil.
func enumValues(n jnode) []any {
	if v, ok := n.val("const"); ok {
		return []any{v}
	}
	if e, ok := n.valOnly("enum").([]any); ok {
		return e
	}
	return nil
}

// valueKey is a JSON value's text with numbers in one form, so that 1 and
// 1.0 are one enum value.
func valueKey(v any) string {
	switch x := stripIn(v).(type) {
	case json.Number:
		if r, ok := safeRat(x); ok {
			return r.RatString()
		}
	case map[string]any:
		keys := slices.Sorted(mapKeys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ":" + valueKey(x[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueKey(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return canonicalJSON(stripIn(v))
}

func (c *jsonChecker) compareEnum(path string, r, w jnode) {
	rv := enumValues(r)
	if rv == nil {
		return
	}
	wv := enumValues(w)
	if wv == nil {
		c.add("ENUM_ARRAY_NARROWED", path, "reader adds enum")
		return
	}
	rs := map[string]bool{}
	for _, v := range rv {
		rs[valueKey(v)] = true
	}
	ws := map[string]bool{}
	var lost []string
	for _, v := range wv {
		k := valueKey(v)
		ws[k] = true
		if !rs[k] {
			lost = append(lost, canonicalJSON(v))
		}
	}
	if len(lost) == 0 {
		return
	}
	rule := "ENUM_ARRAY_NARROWED"
	for k := range rs {
		if !ws[k] {
			rule = "ENUM_ARRAY_CHANGED"
		}
	}
	c.add(rule, path, "reader drops "+strings.Join(lost, ", "))
}

func (c *jsonChecker) compareStrings(path string, r, w jnode) {
	c.compareLimit(path, r, w, "maxLength", "MAX_LENGTH", true)
	c.compareLimit(path, r, w, "minLength", "MIN_LENGTH", false)
	rp, rok := r.str("pattern")
	wp, wok := w.str("pattern")
	switch {
	case rok && !wok:
		c.add("PATTERN_ADDED", path, rp)
	case rok && rp != wp:
		c.add("PATTERN_CHANGED", path, fmt.Sprintf("%s became %s", wp, rp))
	}
}

// compareLimit reports a bound the reader adds or tightens: for an upper
// bound (upper) the reader's must not be lower than the writer's.
func (c *jsonChecker) compareLimit(path string, r, w jnode, key, rule string, upper bool) {
	rn, rok := r.num(key)
	wn, wok := w.num(key)
	c.limit(path, rn, rok, wn, wok, rule, upper)
}

func (c *jsonChecker) limit(path string, rn json.Number, rok bool, wn json.Number, wok bool, rule string, upper bool) {
	if !rok {
		return
	}
	if !wok {
		c.add(rule+"_ADDED", path, rn.String())
		return
	}
	cmp := compareNumbers(rn, wn)
	if upper && cmp < 0 {
		c.add(rule+"_DECREASED", path, fmt.Sprintf("%s to %s", wn, rn))
	}
	if !upper && cmp > 0 {
		c.add(rule+"_INCREASED", path, fmt.Sprintf("%s to %s", wn, rn))
	}
}

// bounds returns n's numeric bounds, reading draft 4's boolean
// exclusiveMaximum/exclusiveMinimum as making maximum/minimum exclusive.
func bounds(n jnode) (b [4]json.Number, ok [4]bool) {
	keys := [4]string{"maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"}
	for i, k := range keys {
		b[i], ok[i] = n.num(k)
	}
	for i := range 2 {
		if ex, _ := n.valOnly(keys[i+2]).(bool); ex && ok[i] {
			b[i+2], ok[i+2] = b[i], true
			ok[i] = false
		}
	}
	return b, ok
}

func (c *jsonChecker) compareNumbers(path string, r, w jnode) {
	rb, rok := bounds(r)
	wb, wok := bounds(w)
	rules := [4]string{"MAXIMUM", "MINIMUM", "EXCLUSIVE_MAXIMUM", "EXCLUSIVE_MINIMUM"}
	for i, rule := range rules {
		c.limit(path, rb[i], rok[i], wb[i], wok[i], rule, i%2 == 0)
	}
	rm, rmok := r.num("multipleOf")
	wm, wmok := w.num("multipleOf")
	switch {
	case !rmok:
	case !wmok:
		c.add("MULTIPLE_OF_ADDED", path, rm.String())
	default:
		rr, ok1 := safeRat(rm)
		wr, ok2 := safeRat(wm)
		if !ok1 || !ok2 || rr.Sign() == 0 {
			if rm != wm {
				c.add("MULTIPLE_OF_CHANGED", path, fmt.Sprintf("%s to %s", wm, rm))
			}
			return
		}
		if !new(big.Rat).Quo(wr, rr).IsInt() {
			rule := "MULTIPLE_OF_CHANGED"
			if new(big.Rat).Quo(rr, wr).IsInt() {
				rule = "MULTIPLE_OF_EXPANDED"
			}
			c.add(rule, path, fmt.Sprintf("%s to %s", wm, rm))
		}
	}
}

// safeRat parses n exactly unless its exponent would make that costly.
func safeRat(n json.Number) (*big.Rat, bool) {
	s := string(n)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}

func compareNumbers(a, b json.Number) int {
	ra, ok1 := safeRat(a)
	rb, ok2 := safeRat(b)
	if ok1 && ok2 {
		return ra.Cmp(rb)
	}
	fa, _ := strconv.ParseFloat(string(a), 64)
	fb, _ := strconv.ParseFloat(string(b), 64)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

// extraSchema returns the schema n applies to a property name it does not
// list: open (any value), a schema (partially open), or neither (closed).
func extraSchema(n jnode, name string) (s jnode, open, ok bool) {
	if pp, has := n.get("patternProperties"); has {
		for _, p := range slices.Sorted(mapKeys(pp.obj())) {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(name) {
				s, _ := pp.get(p)
				return s, false, true
			}
		}
	}
	ap, has := n.get("additionalProperties")
	if !has {
		return jnode{}, !n.has("patternProperties"), true
	}
	ap = ap.deref()
	if b, isBool := ap.v.(bool); isBool {
		return jnode{}, b && !n.has("patternProperties"), b
	}
	return ap, false, true
}

// permitsExtra reports whether additionalProperties (or additionalItems)
// lets anything through, and its schema if it is one.
func permitsExtra(n jnode, key string) (s jnode, schema, permits bool) {
	x, has := n.get(key)
	if !has {
		return jnode{}, false, true
	}
	x = x.deref()
	if b, ok := x.v.(bool); ok {
		return jnode{}, false, b
	}
	return x, !isEmptyJSONSchema(x), true
}

func requiredSet(n jnode) map[string]bool {
	out := map[string]bool{}
	a, _ := n.valOnly("required").([]any)
	for _, x := range a {
		if s, ok := x.(string); ok {
			out[s] = true
		}
	}
	return out
}

func (c *jsonChecker) compareObjects(path string, r, w jnode) {
	c.compareExtra(path, r, w, "additionalProperties", "ADDITIONAL_PROPERTIES")
	rp, _ := r.get("properties")
	wp, _ := w.get("properties")
	rreq, wreq := requiredSet(r), requiredSet(w)
	names := map[string]bool{}
	for k := range rp.obj() {
		names[k] = true
	}
	for k := range wp.obj() {
		names[k] = true
	}
	for _, name := range slices.Sorted(mapKeys(names)) {
		p := path + "/properties/" + escapePointer(name)
		rs, rok := rp.get(name)
		ws, wok := wp.get(name)
		switch {
		case rok && wok:
			c.compare(p, rs, ws)
		case wok: // the reader drops it
			extra, open, ok := extraSchema(r, name)
			switch {
			case !ok:
				c.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "")
			case !open && !c.accepts(p, extra, ws):
				c.add("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
			}
		default: // the reader adds it
			extra, open, ok := extraSchema(w, name)
			switch {
			case open:
				if !isEmptyJSONSchema(rs) {
					c.add("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p, "")
				}
			case ok:
				if !c.accepts(p, rs, extra) {
					c.add("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
				}
			case rreq[name] && !rs.deref().has("default"):
				c.add("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", p, "")
			}
		}
	}
	for _, name := range slices.Sorted(mapKeys(rreq)) {
		if wreq[name] {
			continue
		}
		if s, ok := rp.get(name); ok && s.deref().has("default") {
			continue // REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
		}
		c.add("REQUIRED_ATTRIBUTE_ADDED", path+"/required/"+escapePointer(name), "")
	}
	rpp, _ := r.get("patternProperties")
	wpp, _ := w.get("patternProperties")
	for _, pat := range slices.Sorted(mapKeys(rpp.obj())) {
		if ws, ok := wpp.get(pat); ok {
			rs, _ := rpp.get(pat)
			c.compare(path+"/patternProperties/"+escapePointer(pat), rs, ws)
		}
	}
	c.compareLimit(path, r, w, "maxProperties", "MAX_PROPERTIES", true)
	c.compareLimit(path, r, w, "minProperties", "MIN_PROPERTIES", false)
}

// compareExtra compares additionalProperties or additionalItems.
func (c *jsonChecker) compareExtra(path string, r, w jnode, key, rule string) {
	rs, rschema, rperm := permitsExtra(r, key)
	ws, wschema, wperm := permitsExtra(w, key)
	switch {
	case !wperm:
	case !rperm:
		c.add(rule+"_REMOVED", path+"/"+key, "")
	case rschema && !wschema:
		c.add(rule+"_NARROWED", path+"/"+key, "")
	case rschema && wschema:
		c.compare(path+"/"+key, rs, ws)
	}
}

// tuple returns an array schema's positional item schemas, the keyword
// holding what follows them, and whether it uses the tuple form at all.
func tuple(n jnode) (pos []jnode, restKey string, isTuple bool) {
	if n.has("prefixItems") {
		return n.items("prefixItems"), "items", true
	}
	if _, ok := n.valOnly("items").([]any); ok {
		return n.items("items"), "additionalItems", true
	}
	return nil, "items", false
}

func (c *jsonChecker) compareArrays(path string, r, w jnode) {
	rpos, rrest, rtuple := tuple(r)
	wpos, wrest, wtuple := tuple(w)
	if !rtuple && !wtuple {
		if ri, ok := r.get("items"); ok {
			wi, ok := w.get("items")
			if !ok {
				wi = jnode{sp: w.sp, doc: w.doc, ptr: w.ptr + "/items", v: true}
			}
			c.compare(path+"/items", ri, wi)
		}
	} else {
		for i := range max(len(rpos), len(wpos)) {
			p := path + "/items/" + strconv.Itoa(i)
			switch {
			case i < len(rpos) && i < len(wpos):
				c.compare(p, rpos[i], wpos[i])
			case i < len(wpos): // the reader drops a position
				rs, schema, perm := permitsExtra(r, rrest)
				switch {
				case !perm:
					c.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "")
				case schema && !c.accepts(p, rs, wpos[i]):
					c.add("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
				}
			default: // the reader adds a position
				ws, schema, perm := permitsExtra(w, wrest)
				switch {
				case !perm:
				case schema:
					if !c.accepts(p, rpos[i], ws) {
						c.add("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
					}
				case !isEmptyJSONSchema(rpos[i]):
					c.add("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", p, "")
				}
			}
		}
		c.compareRest(path, r, w, rrest, wrest)
	}
	c.compareLimit(path, r, w, "maxItems", "MAX_ITEMS", true)
	c.compareLimit(path, r, w, "minItems", "MIN_ITEMS", false)
	if ru, _ := r.valOnly("uniqueItems").(bool); ru {
		if wu, _ := w.valOnly("uniqueItems").(bool); !wu {
			c.add("UNIQUE_ITEMS_ADDED", path, "")
		}
	}
}

// compareRest compares what follows the tuple positions, which the two
// sides may keep under different keywords.
func (c *jsonChecker) compareRest(path string, r, w jnode, rkey, wkey string) {
	rs, rschema, rperm := permitsExtra(r, rkey)
	ws, wschema, wperm := permitsExtra(w, wkey)
	p := path + "/" + rkey
	switch {
	case !wperm:
	case !rperm:
		c.add("ADDITIONAL_ITEMS_REMOVED", p, "")
	case rschema && !wschema:
		c.add("ADDITIONAL_ITEMS_NARROWED", p, "")
	case rschema && wschema:
		c.compare(p, rs, ws)
	}
}

func (c *jsonChecker) compareNot(path string, r, w jnode) {
	rn, ok := r.get("not")
	if !ok {
		return
	}
	wn, ok := w.get("not")
	if !ok {
		c.add("NOT_TYPE_ADDED", path+"/not", "")
		return
	}
	// not R accepts all of not W when R accepts no more than W.
	if !c.accepts(path+"/not", wn, rn) {
		c.add("NOT_TYPE_NARROWED", path+"/not", "")
	}
}

func (c *jsonChecker) compareConditional(path string, r, w jnode) {
	for _, k := range []string{"if", "then", "else"} {
		rv, rok := r.val(k)
		if !rok {
			continue
		}
		wv, wok := w.val(k)
		if !wok || valueKey(rv) != valueKey(wv) {
			c.add("CONDITIONAL_CHANGED", path+"/"+k, "")
			return
		}
	}
}

func stripIn(v any) any {
	if in, ok := v.(jsonIn); ok {
		return in.v
	}
	return v
}
