package export

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/hamba/avro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/sr"
)

// maxAvroDepth bounds the nesting of a schema turned into Parquet columns;
// a recursive schema (a record that contains itself) has no Parquet form.
const maxAvroDepth = 32

// errAvroData marks a value that does not decode with its writer's schema.
var errAvroData = errors.New("export: value does not match its Avro schema")

// avroSchema is a parsed Avro schema.
type avroSchema struct{ s avro.Schema }

// parseAvro parses s, its references (by name) first.
func parseAvro(s sr.Schema, refs map[string]string) (parsedSchema, error) {
	cache := &avro.SchemaCache{}
	// References name types; parse each after those it needs, by
	// retrying the ones that fail until none makes progress.
	pending := maps.Clone(refs)
	for len(pending) > 0 {
		progress := false
		var last error
		for name, text := range pending {
			if _, err := avro.ParseWithCache(text, "", cache); err != nil {
				last = fmt.Errorf("reference %s: %w", name, err)
				continue
			}
			delete(pending, name)
			progress = true
		}
		if !progress {
			return nil, last
		}
	}
	parsed, err := avro.ParseWithCache(s.Schema, "", cache)
	if err != nil {
		return nil, err
	}
	return avroSchema{parsed}, nil
}

func (a avroSchema) node(ids *fieldIDs) (parquet.Node, error) { return avroNode(a.s, 0, ids) }

func (a avroSchema) decode(payload []byte) (any, error) {
	dec := avroDecoder{b: payload}
	v, err := dec.decode(a.s, 0)
	if err == nil && len(dec.b) > 0 {
		err = fmt.Errorf("%w: %d bytes after the value", errAvroData, len(dec.b))
	}
	return v, err
}

func (a avroSchema) conform(v any) (any, error) { return conform(a.s, v) }

// avroNode returns the Parquet node for Avro schema s (see the package doc
// for the mapping). Record fields are all optional, so that a record
// written with an older or newer version of the schema, lacking a field,
// still fits.
func avroNode(s avro.Schema, depth int, ids *fieldIDs) (parquet.Node, error) {
	if depth > maxAvroDepth {
		return nil, fmt.Errorf("export: Avro schema nested deeper than %d (recursive?)", maxAvroDepth)
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return avroNode(s.Schema(), depth+1, ids)
	case *avro.PrimitiveSchema:
		return avroPrimitiveNode(s), nil
	case *avro.EnumSchema:
		return parquet.String(), nil
	case *avro.FixedSchema:
		if d, ok := s.Logical().(*avro.DecimalLogicalSchema); ok {
			return parquet.Decimal(d.Scale(), d.Precision(), parquet.FixedLenByteArrayType(s.Size())), nil
		}
		return parquet.Leaf(parquet.FixedLenByteArrayType(s.Size())), nil
	case *avro.ArraySchema:
		elem, err := avroNode(s.Items(), depth+1, ids)
		if err != nil {
			return nil, err
		}
		return parquet.List(ids.id(elem)), nil
	case *avro.MapSchema:
		elem, err := avroNode(s.Values(), depth+1, ids)
		if err != nil {
			return nil, err
		}
		return parquet.Map(ids.id(parquet.String()), ids.id(parquet.Optional(elem))), nil
	case *avro.RecordSchema:
		g := parquet.Group{}
		for _, f := range s.Fields() {
			n, err := avroNode(f.Type(), depth+1, ids)
			if err != nil {
				return nil, err
			}
			g[f.Name()] = ids.id(optional(n))
		}
		return g, nil
	case *avro.UnionSchema:
		branches := nonNullBranches(s)
		switch len(branches) {
		case 0:
			return parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), nil
		case 1:
			n, err := avroNode(branches[0], depth+1, ids)
			if err != nil {
				return nil, err
			}
			return parquet.Optional(n), nil
		}
		// A union of several types: one optional member per branch, named
		// as Avro names the branch, of which one is set.
		g := parquet.Group{}
		for _, b := range branches {
			n, err := avroNode(b, depth+1, ids)
			if err != nil {
				return nil, err
			}
			g[branchName(b)] = ids.id(optional(n))
		}
		return parquet.Optional(g), nil
	case *avro.NullSchema:
		return parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), nil
	}
	return nil, fmt.Errorf("export: Avro type %s has no Parquet form", s.Type())
}

// fieldIDs numbers the nested fields of the value column: Iceberg wants
// an id on every field, nested ones included.
type fieldIDs struct{ next int }

func (f *fieldIDs) id(n parquet.Node) parquet.Node {
	f.next++
	return parquet.FieldID(n, f.next)
}

func optional(n parquet.Node) parquet.Node {
	if n.Optional() {
		return n
	}
	return parquet.Optional(n)
}

func avroPrimitiveNode(s *avro.PrimitiveSchema) parquet.Node {
	var logical avro.LogicalType
	if l := s.Logical(); l != nil {
		logical = l.Type()
	}
	switch {
	case s.Type() == avro.Int && logical == avro.Date:
		return parquet.Date()
	case s.Type() == avro.Int && logical == avro.TimeMillis:
		return parquet.Time(parquet.Millisecond)
	case s.Type() == avro.Long && logical == avro.TimeMicros:
		return parquet.Time(parquet.Microsecond)
	case s.Type() == avro.Long && logical == avro.TimestampMillis:
		return parquet.TimestampAdjusted(parquet.Millisecond, true)
	case s.Type() == avro.Long && logical == avro.TimestampMicros:
		return parquet.TimestampAdjusted(parquet.Microsecond, true)
	case s.Type() == avro.Long && logical == avro.LocalTimestampMillis:
		return parquet.TimestampAdjusted(parquet.Millisecond, false)
	case s.Type() == avro.Long && logical == avro.LocalTimestampMicros:
		return parquet.TimestampAdjusted(parquet.Microsecond, false)
	case s.Type() == avro.Bytes && logical == avro.Decimal:
		d := s.Logical().(*avro.DecimalLogicalSchema)
		return parquet.Decimal(d.Scale(), d.Precision(), parquet.ByteArrayType)
	}
	switch s.Type() {
	case avro.Boolean:
		return parquet.Leaf(parquet.BooleanType)
	case avro.Int:
		return parquet.Int(32)
	case avro.Long:
		return parquet.Int(64)
	case avro.Float:
		return parquet.Leaf(parquet.FloatType)
	case avro.Double:
		return parquet.Leaf(parquet.DoubleType)
	case avro.String:
		return parquet.String()
	default: // bytes
		return parquet.Leaf(parquet.ByteArrayType)
	}
}

func nonNullBranches(u *avro.UnionSchema) []avro.Schema {
	var out []avro.Schema
	for _, b := range u.Types() {
		if b.Type() != avro.Null {
			out = append(out, b)
		}
	}
	return out
}

// branchName is how Avro names a union branch: a named type by its name,
// any other by its type.
func branchName(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.Name()
	}
	return string(s.Type())
}

// unionValue is a decoded union: the branch taken and its value.
type unionValue struct {
	branch avro.Schema
	value  any
}

// avroDecoder decodes Avro's binary encoding by a writer schema into plain
// values: records as map[string]any, arrays as []any, maps as
// map[string]any, unions as unionValue, enums as their symbol, fixed as
// []byte, and primitives as bool, int32, int64, float32, float64, string
// and []byte. Every length is checked against what is left, so corrupt
// input fails with errAvroData and never allocates more than it holds.
type avroDecoder struct {
	b []byte
}

func (d *avroDecoder) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errAvroData, what, len(d.b))
}

func (d *avroDecoder) long() (int64, error) {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		return 0, d.fail("bad varint")
	}
	d.b = d.b[n:]
	return v, nil
}

func (d *avroDecoder) bytes() ([]byte, error) {
	n, err := d.long()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > int64(len(d.b)) {
		return nil, d.fail("length out of range")
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out, nil
}

func (d *avroDecoder) decode(s avro.Schema, depth int) (any, error) {
	if depth > maxAvroDepth {
		return nil, d.fail("nested too deep")
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return d.decode(s.Schema(), depth+1)
	case *avro.NullSchema:
		return nil, nil
	case *avro.PrimitiveSchema:
		return d.primitive(s.Type())
	case *avro.EnumSchema:
		i, err := d.long()
		if err != nil {
			return nil, err
		}
		sym, ok := s.Symbol(int(i))
		if !ok || i < 0 || i > math.MaxInt32 {
			return nil, d.fail("enum index out of range")
		}
		return sym, nil
	case *avro.FixedSchema:
		if s.Size() > len(d.b) {
			return nil, d.fail("fixed past the end")
		}
		out := d.b[:s.Size():s.Size()]
		d.b = d.b[s.Size():]
		return out, nil
	case *avro.ArraySchema:
		var out []any
		err := d.blocks(func() error {
			v, err := d.decode(s.Items(), depth+1)
			out = append(out, v)
			return err
		})
		return out, err
	case *avro.MapSchema:
		out := map[string]any{}
		err := d.blocks(func() error {
			k, err := d.bytes()
			if err != nil {
				return err
			}
			v, err := d.decode(s.Values(), depth+1)
			out[string(k)] = v
			return err
		})
		return out, err
	case *avro.RecordSchema:
		out := make(map[string]any, len(s.Fields()))
		for _, f := range s.Fields() {
			v, err := d.decode(f.Type(), depth+1)
			if err != nil {
				return nil, err
			}
			out[f.Name()] = v
		}
		return out, nil
	case *avro.UnionSchema:
		i, err := d.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(s.Types())) {
			return nil, d.fail("union branch out of range")
		}
		b := s.Types()[i]
		v, err := d.decode(b, depth+1)
		if err != nil {
			return nil, err
		}
		if b.Type() == avro.Null {
			return nil, nil
		}
		return unionValue{branch: b, value: v}, nil
	}
	return nil, d.fail("unknown type " + string(s.Type()))
}

func (d *avroDecoder) primitive(t avro.Type) (any, error) {
	switch t {
	case avro.Null:
		return nil, nil
	case avro.Boolean:
		if len(d.b) < 1 || d.b[0] > 1 {
			return nil, d.fail("bad boolean")
		}
		v := d.b[0] == 1
		d.b = d.b[1:]
		return v, nil
	case avro.Int:
		v, err := d.long()
		if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
			err = d.fail("int out of range")
		}
		return int32(v), err
	case avro.Long:
		return d.long()
	case avro.Float:
		if len(d.b) < 4 {
			return nil, d.fail("float past the end")
		}
		v := math.Float32frombits(binary.LittleEndian.Uint32(d.b))
		d.b = d.b[4:]
		return v, nil
	case avro.Double:
		if len(d.b) < 8 {
			return nil, d.fail("double past the end")
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		return v, nil
	case avro.String:
		b, err := d.bytes()
		return string(b), err
	case avro.Bytes:
		return d.bytes()
	}
	return nil, d.fail("unknown type " + string(t))
}

// blocks reads an array's or map's blocks, calling item for each item.
func (d *avroDecoder) blocks(item func() error) error {
	for {
		n, err := d.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 { // a negative count is followed by the block's size
			n = -n
			if _, err := d.long(); err != nil {
				return err
			}
		}
		// An item takes at least a byte, but for null: a count beyond
		// what is left is corrupt unless small.
		if n > int64(len(d.b)) && n > 1<<16 {
			return d.fail("block count out of range")
		}
		for range n {
			if err := item(); err != nil {
				return err
			}
		}
	}
}

// conform turns v, decoded by its writer's schema, into the value the
// Parquet column of target schema s takes: fields matched by name (a field
// the writer lacks is null), union branches by name, numbers promoted as
// Avro's schema resolution allows (int to long, float or double; long to
// float or double; float to double), strings and bytes interchangeable.
func conform(s avro.Schema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch s := s.(type) {
	case *avro.RefSchema:
		return conform(s.Schema(), v)
	case *avro.UnionSchema:
		branches := nonNullBranches(s)
		u, isUnion := v.(unionValue)
		if len(branches) == 1 {
			if isUnion {
				v = u.value
			}
			return conform(branches[0], v)
		}
		out := map[string]any{}
		for _, b := range branches {
			if isUnion && branchName(b) == branchName(u.branch) {
				c, err := conform(b, u.value)
				out[branchName(b)] = c
				return out, err
			}
		}
		if !isUnion { // the writer had one type: the first branch that takes it
			for _, b := range branches {
				if c, err := conform(b, v); err == nil {
					out[branchName(b)] = c
					return out, nil
				}
			}
		}
		return nil, fmt.Errorf("%w: no branch of union %s takes the value", errAvroData, s.String())
	}
	if u, ok := v.(unionValue); ok {
		v = u.value
		if v == nil {
			return nil, nil
		}
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for record %s", errAvroData, v, s.Name())
		}
		out := make(map[string]any, len(s.Fields()))
		for _, f := range s.Fields() {
			c, err := conform(f.Type(), m[f.Name()])
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name(), err)
			}
			out[f.Name()] = c
		}
		return out, nil
	case *avro.ArraySchema:
		a, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for an array", errAvroData, v)
		}
		out := make([]any, len(a))
		for i, e := range a {
			c, err := conform(s.Items(), e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for a map", errAvroData, v)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			c, err := conform(s.Values(), e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case *avro.EnumSchema:
		if str, ok := v.(string); ok {
			return str, nil
		}
	case *avro.FixedSchema:
		if b, ok := v.([]byte); ok && len(b) == s.Size() {
			return b, nil
		}
	case *avro.PrimitiveSchema:
		if c, ok := promote(s.Type(), v); ok {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: %T for %s", errAvroData, v, s.Type())
}

// promote converts v to Avro type t where schema resolution allows it.
func promote(t avro.Type, v any) (any, bool) {
	switch t {
	case avro.Boolean:
		b, ok := v.(bool)
		return b, ok
	case avro.Int:
		i, ok := v.(int32)
		return i, ok
	case avro.Long:
		switch x := v.(type) {
		case int32:
			return int64(x), true
		case int64:
			return x, true
		}
	case avro.Float:
		switch x := v.(type) {
		case int32:
			return float32(x), true
		case int64:
			return float32(x), true
		case float32:
			return x, true
		}
	case avro.Double:
		switch x := v.(type) {
		case int32:
			return float64(x), true
		case int64:
			return float64(x), true
		case float32:
			return float64(x), true
		case float64:
			return x, true
		}
	case avro.String:
		switch x := v.(type) {
		case string:
			return x, true
		case []byte:
			return string(x), true
		}
	case avro.Bytes:
		switch x := v.(type) {
		case string:
			return []byte(x), true
		case []byte:
			return x, true
		}
	}
	return nil, false
}
