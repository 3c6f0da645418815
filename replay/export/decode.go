package export

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/sr"
)

// ErrNotDecodable marks a value that Decoder cannot turn into columns: not
// in the schema registry's wire format, a schema id the registry does not
// know, or bytes that do not match their schema. The export stops at it
// with the partition and offset, rather than write a row without its
// value.
var ErrNotDecodable = errors.New("export: value not decodable")

// Registry is what Decoder needs from a schema registry. *sr.Client
// implements it, over HTTP or (as `strata replay` does) over the registry
// served in-process from the coordinator's schema bucket.
type Registry interface {
	SchemaByID(ctx context.Context, id int) (sr.Schema, error)
	SchemaByVersion(ctx context.Context, subject string, version int) (sr.SubjectSchema, error)
}

// Decoder turns values in the schema registry's wire format (a zero magic
// byte, the schema id as a big-endian int32, then the encoded value) into
// typed Parquet columns. The columns are those of one schema, the target:
// the latest version of a subject when the export starts. A value written
// with another schema (another version of the subject) is decoded with its
// own schema and its fields are matched to the target's by name.
//
// Avro, JSON Schema and Protobuf are decoded (see the package doc for each
// one's columns). A value whose schema is of another type than the
// target's is not decodable.
type Decoder struct {
	registry Registry
	target   parsedSchema
	targetID int
	node     parquet.Node

	mu      sync.Mutex // guards writers
	writers map[int]parsedSchema
}

// parsedSchema is one registered schema, parsed.
type parsedSchema interface {
	// node is the Parquet node of values of this schema as the target;
	// ids numbers its nested fields.
	node(ids *fieldIDs) (parquet.Node, error)
	// decode decodes a value written with this schema (what follows the
	// wire format's schema id) into plain values: records and messages as
	// map[string]any by field name, lists as []any.
	decode(payload []byte) (any, error)
	// conform turns what decode gave, for this or another schema of the
	// same type, into this schema's column value.
	conform(v any) (any, error)
}

// NewDecoder returns a Decoder whose columns are those of subject's latest
// version.
func NewDecoder(ctx context.Context, registry Registry, subject string) (*Decoder, error) {
	ss, err := registry.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		return nil, fmt.Errorf("export: latest schema of subject %s: %w", subject, err)
	}
	d := &Decoder{registry: registry, targetID: ss.ID, writers: map[int]parsedSchema{}}
	if d.target, err = d.parse(ctx, ss.Schema); err != nil {
		return nil, fmt.Errorf("export: subject %s version %d: %w", subject, ss.Version, err)
	}
	if d.node, err = d.target.node(&fieldIDs{next: firstValueFieldID - 1}); err != nil {
		return nil, fmt.Errorf("export: subject %s version %d: %w", subject, ss.Version, err)
	}
	d.writers[ss.ID] = d.target
	return d, nil
}

// parse parses a schema and, first, the schemas it references.
func (d *Decoder) parse(ctx context.Context, s sr.Schema) (parsedSchema, error) {
	refs := map[string]string{}
	if err := d.fetchRefs(ctx, s.References, refs, 0); err != nil {
		return nil, err
	}
	switch s.Type {
	case sr.TypeAvro:
		return parseAvro(s, refs)
	case sr.TypeJSON:
		return parseJSONSchema(s.Schema)
	case sr.TypeProtobuf:
		return parseProtobuf(s.Schema, refs)
	}
	return nil, fmt.Errorf("schema type %s cannot be decoded", s.Type)
}

// fetchRefs collects the schemas refs name, transitively, by reference
// name.
func (d *Decoder) fetchRefs(ctx context.Context, refs []sr.SchemaReference, into map[string]string, depth int) error {
	if depth > maxAvroDepth {
		return errors.New("schema references nested too deep")
	}
	for _, r := range refs {
		if _, ok := into[r.Name]; ok {
			continue
		}
		ss, err := d.registry.SchemaByVersion(ctx, r.Subject, r.Version)
		if err != nil {
			return fmt.Errorf("reference %s (subject %s version %d): %w", r.Name, r.Subject, r.Version, err)
		}
		if err := d.fetchRefs(ctx, ss.References, into, depth+1); err != nil {
			return err
		}
		into[r.Name] = ss.Schema.Schema
	}
	return nil
}

// Node is the Parquet node of the value column.
func (d *Decoder) Node() parquet.Node { return parquet.Optional(d.node) }

// TargetID is the id of the schema whose columns the value has.
func (d *Decoder) TargetID() int { return d.targetID }

// Decode returns value's columns and the id of the schema it was written
// with; a nil value (a tombstone) is null. It fails with ErrNotDecodable.
func (d *Decoder) Decode(ctx context.Context, value []byte) (any, int32, error) {
	if value == nil {
		return nil, 0, nil
	}
	if len(value) < 5 || value[0] != 0 {
		return nil, 0, fmt.Errorf("%w: not in the schema registry's wire format", ErrNotDecodable)
	}
	id := int(int32(binary.BigEndian.Uint32(value[1:5])))
	w, err := d.writer(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	v, err := w.decode(value[5:])
	if err == nil {
		v, err = d.target.conform(v)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: schema id %d: %w", ErrNotDecodable, id, err)
	}
	return box(v), int32(id), nil
}

// box replaces every scalar in v (in maps and lists, in place) with a
// pointer to it: parquet-go writes the zero value of a scalar (0, "",
// false) in an optional column as null, and a pointer as its value.
func box(v any) any {
	switch x := v.(type) {
	case nil, []byte:
		return v
	case map[string]any:
		for k, e := range x {
			x[k] = box(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = box(e)
		}
		return x
	}
	p := reflect.New(reflect.TypeOf(v))
	p.Elem().Set(reflect.ValueOf(v))
	return p.Interface()
}

// writer returns the schema with id, from the registry the first time.
func (d *Decoder) writer(ctx context.Context, id int) (parsedSchema, error) {
	d.mu.Lock()
	w, ok := d.writers[id]
	d.mu.Unlock()
	if ok {
		return w, nil
	}
	s, err := d.registry.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.ErrorCode == 40403 {
			return nil, fmt.Errorf("%w: schema id %d is not registered", ErrNotDecodable, id)
		}
		return nil, fmt.Errorf("export: schema id %d: %w", id, err)
	}
	if w, err = d.parse(ctx, s); err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrNotDecodable, id, err)
	}
	if fmt.Sprintf("%T", w) != fmt.Sprintf("%T", d.target) {
		return nil, fmt.Errorf("%w: schema id %d is a %s schema, the target is not", ErrNotDecodable, id, s.Type)
	}
	d.mu.Lock()
	d.writers[id] = w
	d.mu.Unlock()
	return w, nil
}
