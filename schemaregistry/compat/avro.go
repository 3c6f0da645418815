package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// avroFormat is the Avro schema type.
//
// Parsing uses github.com/hamba/avro/v2: pure Go, well kept, strict about
// names and field defaults, and able to parse a schema against named types
// defined elsewhere through an avro.SchemaCache, which is how References
// (full type name → schema text) are resolved. Each call parses into a fresh
// cache; the package-level avro.DefaultSchemaCache is never used, so one
// subject's types never leak into another's. References are parsed before
// the schema, in rounds: a reference whose named types are not defined yet
// fails and is retried in the next round, until a round makes no progress.
// Text that is not JSON (a bare `string` would otherwise be taken as a type
// name), an unknown type or a missing reference wraps ErrInvalidSchema.
//
// Canonical form. Both forms write every name in full, drop "namespace"
// (Avro's Parsing Canonical Form, PCF: a named type is defined at its first
// use and referred to by full name after that, attributes in a fixed order,
// no whitespace) and inline the named types a schema takes from its
// references. Unlike PCF, both keep what schema resolution reads, so that
// two schemas with one id cannot resolve data differently: field defaults,
// the enum default, aliases and logical types. Without normalize the form
// also keeps "doc", a field's non-default "order" and custom properties (in
// sorted order), as Confluent's canonical text (Avro's Schema.toString) does:
// a schema whose only change is its doc is a new version there and here.
// With normalize, those three are dropped and aliases are sorted.
//
// Compatibility follows the Schema Resolution section of the Avro
// specification as Avro's Java SchemaCompatibility implements it (Confluent's
// AvroCompatibilityChecker calls it):
//   - equal primitive types match; int is promoted to long, float and
//     double, long to float and double, float to double, and string and
//     bytes to each other; nothing else (not long to int);
//   - records, enums and fixed match when their unqualified names are equal
//     or a reader alias is the writer's full name (so moving a type to
//     another namespace is compatible, as in Avro);
//   - each reader field is found in the writer by name, then by the reader
//     field's aliases; a reader field found nowhere needs a default; writer
//     fields the reader lacks are skipped; matched fields are checked
//     recursively;
//   - a reader enum must have every writer symbol unless it has a default;
//   - fixed sizes must be equal; array items and map values recurse;
//   - a writer union needs every branch readable by the reader; a reader
//     union needs some branch that reads the (non-union) writer;
//   - logical types are ignored, as in Avro (only the underlying types count);
//   - a pair of records already being compared is taken as compatible, which
//     ends recursion through recursive types; finished pairs are memoised.
//
// Messages read "KIND at /path: detail", with Avro's incompatibility kinds
// (TYPE_MISMATCH, NAME_MISMATCH, FIXED_SIZE_MISMATCH, MISSING_ENUM_SYMBOLS,
// READER_FIELD_MISSING_DEFAULT_VALUE, MISSING_UNION_BRANCH) and Avro's
// locations (/fields/1/type, /items, /values, /symbols, /size, /name, the
// writer union branch index). One kind is ours: READER_FIELD_AMBIGUOUS, when
// a reader field's name and aliases match several writer fields (Avro throws).
type avroFormat struct{}

var _ format = avroFormat{}

func (avroFormat) canonical(s Schema, normalize bool) (string, error) {
	parsed, err := parseAvro(s)
	if err != nil {
		return "", err
	}
	c := avroCanon{full: !normalize, seen: map[string]bool{}}
	c.schema(parsed)
	if c.err != nil {
		return "", fmt.Errorf("%w: avro: write canonical form: %v", ErrInvalidSchema, c.err)
	}
	return c.b.String(), nil
}

func (avroFormat) check(reader, writer Schema) ([]string, error) {
	r, err := parseAvro(reader)
	if err != nil {
		return nil, fmt.Errorf("parse reader: %w", err)
	}
	w, err := parseAvro(writer)
	if err != nil {
		return nil, fmt.Errorf("parse writer: %w", err)
	}
	c := avroChecker{done: map[avroPair][]avroIncompat{}, busy: map[avroPair]bool{}}
	var msgs []string
	for _, in := range c.compat(r, w) {
		path := in.path
		if path == "" {
			path = "/"
		}
		msgs = append(msgs, in.kind+" at "+path+in.detail)
	}
	return msgs, nil
}

// parseAvro parses s.References into a fresh cache, then s.Text against it.
func parseAvro(s Schema) (avro.Schema, error) {
	cache := &avro.SchemaCache{}
	if err := parseAvroReferences(s.References, cache); err != nil {
		return nil, err
	}
	if !json.Valid([]byte(s.Text)) {
		return nil, fmt.Errorf("%w: avro: schema is not JSON", ErrInvalidSchema)
	}
	parsed, err := avro.ParseWithCache(s.Text, "", cache)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	return parsed, nil
}

// parseAvroReferences adds the named types of refs to cache. A reference may
// use types from another, so it parses in rounds until all parse or a round
// parses none (a missing or broken reference).
func parseAvroReferences(refs map[string]string, cache *avro.SchemaCache) error {
	pending := make([]string, 0, len(refs))
	for name, text := range refs {
		if !json.Valid([]byte(text)) {
			return fmt.Errorf("%w: avro: reference %s is not JSON", ErrInvalidSchema, name)
		}
		pending = append(pending, name)
	}
	sort.Strings(pending) // deterministic error messages
	for len(pending) > 0 {
		var failed []string
		var lastErr error
		for _, name := range pending {
			if _, err := avro.ParseWithCache(refs[name], "", cache); err != nil {
				failed = append(failed, name)
				lastErr = fmt.Errorf("reference %s: %v", name, err)
			}
		}
		if len(failed) == len(pending) {
			return fmt.Errorf("%w: avro: %v", ErrInvalidSchema, lastErr)
		}
		pending = failed
	}
	return nil
}

// avroIncompat is one broken rule; path is relative to the pair compared.
type avroIncompat struct {
	kind, path, detail string
}

type avroPair struct{ reader, writer avro.Schema }

// avroChecker compares a reader with a writer. busy holds the record pairs
// being compared (recursion stops there); done memoises finished pairs.
type avroChecker struct {
	done map[avroPair][]avroIncompat
	busy map[avroPair]bool
}

func (c *avroChecker) compat(r, w avro.Schema) []avroIncompat {
	r, w = avroDeref(r), avroDeref(w)
	rt, wt := r.Type(), w.Type()
	if rt == avro.Record && wt == avro.Record {
		key := avroPair{r, w}
		if res, ok := c.done[key]; ok {
			return res
		}
		if c.busy[key] {
			return nil
		}
		c.busy[key] = true
		res := c.records(r.(*avro.RecordSchema), w.(*avro.RecordSchema))
		delete(c.busy, key)
		c.done[key] = res
		return res
	}
	if rt == wt {
		return c.sameType(r, w)
	}
	if wt == avro.Union {
		var out []avroIncompat
		for i, b := range w.(*avro.UnionSchema).Types() {
			out = append(out, avroAt(strconv.Itoa(i), c.compat(r, b))...)
		}
		return out
	}
	if avroPromotes(rt, wt) {
		return nil
	}
	if rt == avro.Union {
		for _, b := range r.(*avro.UnionSchema).Types() {
			if len(c.compat(b, w)) == 0 {
				return nil
			}
		}
		return []avroIncompat{{kind: "MISSING_UNION_BRANCH", detail: ": reader union lacking writer type " + avroDescribe(w)}}
	}
	return []avroIncompat{avroTypeMismatch(r, w)}
}

// avroPromotes reports whether a writer's wt is read as a different rt.
func avroPromotes(rt, wt avro.Type) bool {
	switch rt {
	case avro.Long:
		return wt == avro.Int
	case avro.Float:
		return wt == avro.Int || wt == avro.Long
	case avro.Double:
		return wt == avro.Int || wt == avro.Long || wt == avro.Float
	case avro.Bytes:
		return wt == avro.String
	case avro.String:
		return wt == avro.Bytes
	}
	return false
}

// sameType compares two non-record schemas of the same type.
func (c *avroChecker) sameType(r, w avro.Schema) []avroIncompat {
	switch r := r.(type) {
	case *avro.ArraySchema:
		return avroAt("items", c.compat(r.Items(), w.(*avro.ArraySchema).Items()))
	case *avro.MapSchema:
		return avroAt("values", c.compat(r.Values(), w.(*avro.MapSchema).Values()))
	case *avro.FixedSchema:
		w := w.(*avro.FixedSchema)
		out := avroNames(r, w)
		if r.Size() != w.Size() {
			out = append(out, avroIncompat{kind: "FIXED_SIZE_MISMATCH", path: "/size",
				detail: fmt.Sprintf(": reader %d, writer %d", r.Size(), w.Size())})
		}
		return out
	case *avro.EnumSchema:
		w := w.(*avro.EnumSchema)
		out := avroNames(r, w)
		var missing []string
		for _, s := range w.Symbols() {
			if !slices.Contains(r.Symbols(), s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 && !r.HasDefault() {
			out = append(out, avroIncompat{kind: "MISSING_ENUM_SYMBOLS", path: "/symbols",
				detail: ": reader lacks writer symbols [" + strings.Join(missing, ", ") + "]"})
		}
		return out
	case *avro.UnionSchema:
		var out []avroIncompat
		for i, b := range w.(*avro.UnionSchema).Types() {
			if len(c.compat(r, b)) > 0 {
				out = append(out, avroIncompat{kind: "MISSING_UNION_BRANCH", path: "/" + strconv.Itoa(i),
					detail: ": reader union lacking writer type " + avroDescribe(b)})
			}
		}
		return out
	}
	return nil // equal primitives
}

func (c *avroChecker) records(r, w *avro.RecordSchema) []avroIncompat {
	out := avroNames(r, w)
	for i, rf := range r.Fields() {
		at := "/fields/" + strconv.Itoa(i)
		wfs := avroWriterFields(w, rf)
		switch {
		case len(wfs) == 1:
			out = append(out, avroAt("fields/"+strconv.Itoa(i)+"/type", c.compat(rf.Type(), wfs[0].Type()))...)
		case len(wfs) > 1:
			names := make([]string, len(wfs))
			for j, f := range wfs {
				names[j] = f.Name()
			}
			out = append(out, avroIncompat{kind: "READER_FIELD_AMBIGUOUS", path: at,
				detail: fmt.Sprintf(" (field '%s'): matches writer fields [%s]", rf.Name(), strings.Join(names, ", "))})
		case !rf.HasDefault():
			out = append(out, avroIncompat{kind: "READER_FIELD_MISSING_DEFAULT_VALUE", path: at,
				detail: fmt.Sprintf(" (field '%s')", rf.Name())})
		}
	}
	return out
}

// avroWriterFields returns the writer fields named like rf or like one of
// its aliases (Avro's SchemaCompatibility.lookupWriterField).
func avroWriterFields(w *avro.RecordSchema, rf *avro.Field) []*avro.Field {
	var out []*avro.Field
	for _, name := range append([]string{rf.Name()}, rf.Aliases()...) {
		for _, wf := range w.Fields() {
			if wf.Name() == name && !slices.Contains(out, wf) {
				out = append(out, wf)
			}
		}
	}
	return out
}

// avroNames checks Avro's schemaNameEquals: equal unqualified names, or a
// reader alias equal to the writer's full name.
func avroNames(r, w avro.NamedSchema) []avroIncompat {
	if r.Name() == w.Name() || slices.Contains(r.Aliases(), w.FullName()) {
		return nil
	}
	return []avroIncompat{{kind: "NAME_MISMATCH", path: "/name",
		detail: ": reader " + r.FullName() + ", writer " + w.FullName()}}
}

func avroTypeMismatch(r, w avro.Schema) avroIncompat {
	return avroIncompat{kind: "TYPE_MISMATCH", detail: ": reader " + avroDescribe(r) + ", writer " + avroDescribe(w)}
}

// avroAt prefixes the paths of in with seg, copying so memoised results
// stay relative.
func avroAt(seg string, in []avroIncompat) []avroIncompat {
	if len(in) == 0 {
		return nil
	}
	out := make([]avroIncompat, len(in))
	for i, x := range in {
		x.path = "/" + seg + x.path
		out[i] = x
	}
	return out
}

func avroDeref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// avroDescribe names a schema in a message: "long", "record com.x.User".
func avroDescribe(s avro.Schema) string {
	s = avroDeref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return string(s.Type()) + " " + n.FullName()
	}
	return string(s.Type())
}

// avroCanon writes the canonical form described on avroFormat. full keeps
// doc, order and custom properties (normalize=false).
type avroCanon struct {
	full bool
	seen map[string]bool // named types already defined
	b    strings.Builder
	err  error
}

func (c *avroCanon) schema(s avro.Schema) {
	switch s := s.(type) {
	case *avro.RefSchema:
		c.named(s.Schema())
	case *avro.RecordSchema:
		c.named(s)
	case *avro.EnumSchema:
		c.named(s)
	case *avro.FixedSchema:
		c.named(s)
	case *avro.NullSchema:
		c.simple("null", nil, s.Props())
	case *avro.PrimitiveSchema:
		c.simple(string(s.Type()), s.Logical(), s.Props())
	case *avro.ArraySchema:
		c.b.WriteString(`{"type":"array","items":`)
		c.schema(s.Items())
		c.props(s.Props())
		c.b.WriteString("}")
	case *avro.MapSchema:
		c.b.WriteString(`{"type":"map","values":`)
		c.schema(s.Values())
		c.props(s.Props())
		c.b.WriteString("}")
	case *avro.UnionSchema:
		c.b.WriteString("[")
		for i, t := range s.Types() {
			if i > 0 {
				c.b.WriteString(",")
			}
			c.schema(t)
		}
		c.b.WriteString("]")
	default:
		c.err = fmt.Errorf("unexpected schema %T", s)
	}
}

func (c *avroCanon) simple(typ string, logical avro.LogicalSchema, props map[string]any) {
	if logical == nil && (!c.full || len(props) == 0) {
		c.b.WriteString(`"` + typ + `"`)
		return
	}
	c.b.WriteString(`{"type":"` + typ + `"`)
	if logical != nil {
		c.b.WriteString("," + logical.String())
	}
	c.props(props)
	c.b.WriteString("}")
}

func (c *avroCanon) named(n avro.NamedSchema) {
	if c.seen[n.FullName()] {
		c.value(n.FullName())
		return
	}
	c.seen[n.FullName()] = true
	c.b.WriteString(`{"name":`)
	c.value(n.FullName())
	switch n := n.(type) {
	case *avro.RecordSchema:
		typ := "record"
		if n.IsError() {
			typ = "error"
		}
		c.b.WriteString(`,"type":"` + typ + `"`)
		c.aliases(n.Aliases())
		c.doc(n.Doc())
		c.b.WriteString(`,"fields":[`)
		for i, f := range n.Fields() {
			if i > 0 {
				c.b.WriteString(",")
			}
			c.field(f)
		}
		c.b.WriteString("]")
	case *avro.EnumSchema:
		c.b.WriteString(`,"type":"enum"`)
		c.aliases(n.Aliases())
		c.doc(n.Doc())
		c.b.WriteString(`,"symbols":`)
		c.value(n.Symbols())
		if n.HasDefault() {
			c.b.WriteString(`,"default":`)
			c.value(n.Default())
		}
	case *avro.FixedSchema:
		c.b.WriteString(`,"type":"fixed"`)
		c.aliases(n.Aliases())
		c.b.WriteString(`,"size":` + strconv.Itoa(n.Size()))
		if n.Logical() != nil {
			c.b.WriteString("," + n.Logical().String())
		}
	}
	if p, ok := n.(interface{ Props() map[string]any }); ok {
		c.props(p.Props())
	}
	c.b.WriteString("}")
}

func (c *avroCanon) field(f *avro.Field) {
	c.b.WriteString(`{"name":`)
	c.value(f.Name())
	c.aliases(f.Aliases())
	c.doc(f.Doc())
	c.b.WriteString(`,"type":`)
	c.schema(f.Type())
	if f.HasDefault() {
		c.b.WriteString(`,"default":`)
		c.value(avroDefaultJSON(f.Default()))
	}
	if c.full && f.Order() != "" && f.Order() != avro.Asc {
		c.b.WriteString(`,"order":`)
		c.value(f.Order())
	}
	c.props(f.Props())
	c.b.WriteString("}")
}

func (c *avroCanon) aliases(a []string) {
	if len(a) == 0 {
		return
	}
	if !c.full {
		a = slices.Sorted(slices.Values(a))
	}
	c.b.WriteString(`,"aliases":`)
	c.value(a)
}

func (c *avroCanon) doc(d string) {
	if c.full && d != "" {
		c.b.WriteString(`,"doc":`)
		c.value(d)
	}
}

// props writes custom properties in key order (full form only).
func (c *avroCanon) props(p map[string]any) {
	if !c.full {
		return
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range p {
			if !yield(k) {
				return
			}
		}
	}) {
		c.b.WriteString(",")
		c.value(k)
		c.b.WriteString(":")
		c.value(p[k])
	}
}

// value writes v as JSON (map keys sorted, no HTML escaping).
func (c *avroCanon) value(v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		c.err = err
		return
	}
	c.b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// avroDefaultJSON turns a default as hamba/avro stores it back into its
// JSON value: bytes and fixed defaults are strings of code points 0–255.
func avroDefaultJSON(v any) any {
	switch v := v.(type) {
	case []byte:
		return avroBytesString(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = avroDefaultJSON(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = avroDefaultJSON(x)
		}
		return out
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(b), rv)
		return avroBytesString(b)
	}
	return v
}

func avroBytesString(b []byte) string {
	r := make([]rune, len(b))
	for i, x := range b {
		r[i] = rune(x)
	}
	return string(r)
}
