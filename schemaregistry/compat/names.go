package compat

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// RecordNames is what Confluent's RecordNameStrategy and
// TopicRecordNameStrategy need of a schema: the name of the record that data
// written with it holds.
//
//   - Avro: the full name of the schema's top-level type (AvroSchema.name():
//     a named type's namespace-qualified name, else the primitive's name).
//   - JSON Schema: the root's "title" (Confluent's serializers refuse a
//     record name strategy without one).
//   - Protobuf: the full name of the message the data's message indexes
//     point at (the first message of the file when there are none), since
//     one Protobuf schema holds many messages.
type RecordNames struct {
	name  string
	proto protoreflect.FileDescriptor
}

// NamesOf parses s and returns its record names. Errors wrap
// ErrInvalidSchema or ErrUnknownType.
func NamesOf(s Schema) (*RecordNames, error) {
	switch s.Type {
	case Avro, "":
		parsed, err := parseAvro(s)
		if err != nil {
			return nil, err
		}
		if n, ok := parsed.(avro.NamedSchema); ok {
			return &RecordNames{name: n.FullName()}, nil
		}
		return &RecordNames{name: string(parsed.Type())}, nil
	case JSON:
		root, err := parseJSON(s.Text)
		if err != nil {
			return nil, fmt.Errorf("%w: parse JSON schema: %w", ErrInvalidSchema, err)
		}
		obj, _ := root.(map[string]any)
		title, _ := obj["title"].(string)
		return &RecordNames{name: title}, nil
	case Protobuf:
		fd, err := compileProto(s)
		if err != nil {
			return nil, err
		}
		return &RecordNames{proto: fd}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownType, s.Type)
}

// Protobuf reports whether the schema is Protobuf, whose Name needs the
// data's message indexes.
func (n *RecordNames) Protobuf() bool { return n.proto != nil }

// Name returns the record name of data written with the schema; for
// Protobuf, messageIndexes (Confluent's wire format: a path of message
// indexes from the file's top level into nested messages) pick the message.
// It reports false when the schema names no record there.
func (n *RecordNames) Name(messageIndexes []int) (string, bool) {
	if n.proto == nil {
		return n.name, n.name != ""
	}
	if len(messageIndexes) == 0 {
		messageIndexes = []int{0}
	}
	msgs := n.proto.Messages()
	var m protoreflect.MessageDescriptor
	for _, i := range messageIndexes {
		if i < 0 || i >= msgs.Len() {
			return "", false
		}
		m = msgs.Get(i)
		msgs = m.Messages()
	}
	return string(m.FullName()), true
}

// The formats Confluent's format query parameter asks a schema in, besides
// the schema as registered ("" or "default").
const (
	// FormatResolved is an Avro schema with every named type it
	// references written out in place, so it parses on its own.
	FormatResolved = "resolved"
	// FormatSerialized is a Protobuf schema as its FileDescriptorProto,
	// binary and base64-encoded.
	FormatSerialized = "serialized"
)

// ErrUnknownFormat means a format that does not apply to the schema's type.
var ErrUnknownFormat = errors.New("compat: unsupported format")

// Format returns s in format. Errors wrap ErrUnknownFormat,
// ErrInvalidSchema or ErrUnknownType.
func Format(s Schema, format string) (string, error) {
	if format == "" || format == "default" {
		return s.Text, nil
	}
	switch {
	case format == FormatResolved && (s.Type == Avro || s.Type == ""):
		parsed, err := parseAvro(s)
		if err != nil {
			return "", err
		}
		return parsed.String(), nil
	case format == FormatSerialized && s.Type == Protobuf:
		fd, err := compileProto(s)
		if err != nil {
			return "", err
		}
		b, err := proto.Marshal(protodesc.ToFileDescriptorProto(fd))
		if err != nil {
			return "", fmt.Errorf("%w: protobuf: %w", ErrInvalidSchema, err)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	return "", fmt.Errorf("%w: %q for a %s schema", ErrUnknownFormat, format, s.Type)
}
