package export

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"

	"github.com/bufbuild/protocompile"
	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// errProtoData marks a Protobuf value that does not decode.
var errProtoData = errors.New("export: value does not match its Protobuf schema")

// protoSchema is a parsed .proto file. As the target, its columns are
// those of its first message (what Confluent's serializers write by
// default); a value says which of its file's messages it is, by the wire
// format's message indexes.
type protoSchema struct {
	file protoreflect.FileDescriptor
}

// parseProtobuf compiles text, with the files it imports from refs (by
// reference name, which is the import path).
func parseProtobuf(text string, refs map[string]string) (parsedSchema, error) {
	const main = "strata-export-value.proto"
	files := map[string]string{main: text}
	maps.Copy(files, refs)
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)}),
		MaxParallelism: 1,
	}
	// Sources are in memory: nothing for a caller's context to cancel.
	res, err := c.Compile(context.Background(), main)
	if err != nil {
		return nil, fmt.Errorf("parse Protobuf schema: %w", err)
	}
	if res[0].Messages().Len() == 0 {
		return nil, errors.New("Protobuf schema has no message")
	}
	return protoSchema{file: res[0]}, nil
}

func (p protoSchema) node(ids *fieldIDs) (parquet.Node, error) {
	return protoMessageNode(p.file.Messages().Get(0), ids, 0)
}

func protoMessageNode(md protoreflect.MessageDescriptor, ids *fieldIDs, depth int) (parquet.Node, error) {
	if depth > maxAvroDepth {
		return nil, fmt.Errorf("export: Protobuf message %s nested deeper than %d (recursive?)", md.FullName(), maxAvroDepth)
	}
	g := parquet.Group{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		var n parquet.Node
		var err error
		switch {
		case fd.IsMap():
			var v parquet.Node
			if v, err = protoFieldNode(fd.MapValue(), ids, depth); err == nil {
				n = parquet.Map(ids.id(parquet.String()), ids.id(parquet.Optional(v)))
			}
		case fd.IsList():
			var e parquet.Node
			if e, err = protoFieldNode(fd, ids, depth); err == nil {
				n = parquet.List(ids.id(e))
			}
		default:
			n, err = protoFieldNode(fd, ids, depth)
		}
		if err != nil {
			return nil, err
		}
		g[string(fd.Name())] = ids.id(optional(n))
	}
	return g, nil
}

// protoFieldNode is the node of one value of fd (an element, for a
// repeated field).
func protoFieldNode(fd protoreflect.FieldDescriptor, ids *fieldIDs, depth int) (parquet.Node, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return parquet.Leaf(parquet.BooleanType), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return parquet.Int(32), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return parquet.Int(64), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return parquet.Uint(32), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return parquet.Uint(64), nil
	case protoreflect.FloatKind:
		return parquet.Leaf(parquet.FloatType), nil
	case protoreflect.DoubleKind:
		return parquet.Leaf(parquet.DoubleType), nil
	case protoreflect.StringKind, protoreflect.EnumKind:
		return parquet.String(), nil
	case protoreflect.BytesKind:
		return parquet.Leaf(parquet.ByteArrayType), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoMessageNode(fd.Message(), ids, depth+1)
	}
	return nil, fmt.Errorf("export: Protobuf field %s has no Parquet form", fd.FullName())
}

// decode reads the message indexes, then the message they name.
func (p protoSchema) decode(payload []byte) (any, error) {
	md, rest, err := p.messageOf(payload)
	if err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{RecursionLimit: maxAvroDepth * 2}).Unmarshal(rest, m); err != nil {
		return nil, fmt.Errorf("%w: %w", errProtoData, err)
	}
	return protoValue(m), nil
}

// messageOf reads the wire format's message indexes (a count, then the
// path of indexes from a top-level message through nested ones, all
// zigzag varints; a single 0 is the first message) and returns the
// message they name and what follows them.
func (p protoSchema) messageOf(b []byte) (protoreflect.MessageDescriptor, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 || n < 0 || n > maxAvroDepth {
		return nil, nil, fmt.Errorf("%w: bad message indexes", errProtoData)
	}
	b = b[k:]
	if n == 0 {
		return p.file.Messages().Get(0), b, nil
	}
	var md protoreflect.MessageDescriptor
	msgs := p.file.Messages()
	for range n {
		i, k := binary.Varint(b)
		if k <= 0 || i < 0 || i >= int64(msgs.Len()) {
			return nil, nil, fmt.Errorf("%w: message index out of range", errProtoData)
		}
		b = b[k:]
		md = msgs.Get(int(i))
		msgs = md.Messages()
	}
	return md, b, nil
}

// protoValue is m as plain values: every field of the message, unset ones
// with their default, maps by their keys' text.
func protoValue(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			mm := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				mm[k.String()] = protoScalar(fd.MapValue(), e)
				return true
			})
			out[string(fd.Name())] = mm
		case fd.IsList():
			l := v.List()
			a := make([]any, l.Len())
			for j := range a {
				a[j] = protoScalar(fd, l.Get(j))
			}
			out[string(fd.Name())] = a
		case fd.HasPresence() && !m.Has(fd):
			out[string(fd.Name())] = nil
		default:
			out[string(fd.Name())] = protoScalar(fd, v)
		}
	}
	return out
}

func protoScalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return fmt.Sprint(v.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return protoValue(v.Message())
	}
	return v.Interface()
}

// conform matches v's fields to the first message's by name, recursively;
// values keep the types protoreflect gives them, which the columns take.
func (p protoSchema) conform(v any) (any, error) {
	return conformProto(p.file.Messages().Get(0), v, 0)
}

func conformProto(md protoreflect.MessageDescriptor, v any, depth int) (any, error) {
	m, ok := v.(map[string]any)
	if !ok || depth > maxAvroDepth {
		return nil, fmt.Errorf("%w: %T for message %s", errProtoData, v, md.FullName())
	}
	out := make(map[string]any, md.Fields().Len())
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		x := m[string(fd.Name())]
		if x == nil {
			out[string(fd.Name())] = nil
			continue
		}
		c, err := conformProtoField(fd, x, depth)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", fd.Name(), err)
		}
		out[string(fd.Name())] = c
	}
	return out, nil
}

func conformProtoField(fd protoreflect.FieldDescriptor, x any, depth int) (any, error) {
	switch {
	case fd.IsMap():
		mm, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for a map", errProtoData, x)
		}
		out := make(map[string]any, len(mm))
		for k, e := range mm {
			c, err := conformProtoScalar(fd.MapValue(), e, depth)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case fd.IsList():
		a, ok := x.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for a list", errProtoData, x)
		}
		out := make([]any, len(a))
		for j, e := range a {
			c, err := conformProtoScalar(fd, e, depth)
			if err != nil {
				return nil, err
			}
			out[j] = c
		}
		return out, nil
	}
	return conformProtoScalar(fd, x, depth)
}

func conformProtoScalar(fd protoreflect.FieldDescriptor, x any, depth int) (any, error) {
	want := fd.Kind()
	switch v := x.(type) {
	case map[string]any:
		if want == protoreflect.MessageKind || want == protoreflect.GroupKind {
			return conformProto(fd.Message(), v, depth+1)
		}
	case bool:
		if want == protoreflect.BoolKind {
			return v, nil
		}
	case int32:
		switch want {
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return v, nil
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return int64(v), nil
		}
	case int64:
		switch want {
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return v, nil
		}
	case uint32:
		switch want {
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return v, nil
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return uint64(v), nil
		}
	case uint64:
		switch want {
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return v, nil
		}
	case float32:
		switch want {
		case protoreflect.FloatKind:
			return v, nil
		case protoreflect.DoubleKind:
			return float64(v), nil
		}
	case float64:
		if want == protoreflect.DoubleKind {
			return v, nil
		}
	case string:
		if want == protoreflect.StringKind || want == protoreflect.EnumKind {
			return v, nil
		}
	case []byte:
		if want == protoreflect.BytesKind {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%w: %T for %s", errProtoData, x, want)
}
