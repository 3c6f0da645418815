package compat

import (
	"errors"
	"fmt"
	"strings"
)

// Type is a schema type as Confluent's REST API names it.
type Type string

// The schema types. AVRO is the default when a registration names none.
const (
	Avro     Type = "AVRO"
	Protobuf Type = "PROTOBUF"
	JSON     Type = "JSON"
)

// Level is a compatibility level (Confluent's compatibilityLevel).
type Level string

// The levels. BACKWARD is Confluent's default.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// ParseLevel returns the level named s (case-insensitive), or an error
// wrapping ErrInvalidLevel.
func ParseLevel(s string) (Level, error) {
	l := Level(strings.ToUpper(s))
	switch l {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return l, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidLevel, s)
}

// Errors.
var (
	// ErrInvalidSchema means a schema (or one it references) does not
	// parse or is not valid for its type: Confluent's 42201.
	ErrInvalidSchema = errors.New("compat: invalid schema")
	// ErrUnknownType means a schema type this package does not know.
	ErrUnknownType = errors.New("compat: unknown schema type")
	// ErrInvalidLevel means a compatibility level name is not one of the
	// seven: Confluent's 42203.
	ErrInvalidLevel = errors.New("compat: invalid compatibility level")
)

// Schema is a schema with everything it references, resolved by the caller
// (the registry looks references up by subject and version).
type Schema struct {
	Type Type
	// Text is the schema as registered.
	Text string
	// References are the schemas Text refers to, transitively (a
	// reference's own references are in the same map), by the name Text
	// uses for them: an Avro full type name, a Protobuf import path, a
	// JSON Schema $ref URL.
	References map[string]string
}

// format is one schema type's parsing and compatibility rules.
type format interface {
	// canonical checks s and returns its canonical form: equal for two
	// schemas that mean the same (Confluent compares these to reuse ids).
	// With normalize, also what Confluent's normalize=true normalises.
	canonical(s Schema, normalize bool) (string, error)
	// check returns why data written with writer cannot be read with
	// reader (one message per broken rule, naming the field), or nothing
	// when it can. Both have been through canonical.
	check(reader, writer Schema) ([]string, error)
}

// formats is the table of schema types.
var formats = map[Type]format{
	Avro:     avroFormat{},
	Protobuf: protobufFormat{},
	JSON:     jsonFormat{},
}

func formatOf(t Type) (format, error) {
	if t == "" {
		t = Avro
	}
	f, ok := formats[t]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, t)
	}
	return f, nil
}

// Canonical validates s and returns its canonical form; see format.
// Errors wrap ErrInvalidSchema or ErrUnknownType.
func Canonical(s Schema, normalize bool) (string, error) {
	f, err := formatOf(s.Type)
	if err != nil {
		return "", err
	}
	return f.canonical(s, normalize)
}

// Check reports whether next may be registered after previous (its
// subject's versions, oldest first) under level, as Confluent's registry
// decides it: BACKWARD checks that next can read the latest version's data,
// FORWARD that the latest can read next's data, FULL both; the _TRANSITIVE
// levels check against every version instead of the latest. It returns the
// incompatibilities found, empty when compatible.
func Check(level Level, next Schema, previous []Schema) ([]string, error) {
	f, err := formatOf(next.Type)
	if err != nil {
		return nil, err
	}
	if level == None || len(previous) == 0 {
		return nil, nil
	}
	against := previous[len(previous)-1:]
	switch level {
	case BackwardTransitive, ForwardTransitive, FullTransitive:
		against = previous
	case Backward, Forward, Full:
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidLevel, level)
	}
	var msgs []string
	for i := len(against) - 1; i >= 0; i-- { // newest first, as Confluent reports
		prev := against[i]
		if prev.Type != next.Type && !(prev.Type == "" && next.Type == Avro) && !(next.Type == "" && prev.Type == Avro) {
			msgs = append(msgs, fmt.Sprintf("schema type %s differs from %s", next.Type, prev.Type))
			continue
		}
		if level == Backward || level == BackwardTransitive || level == Full || level == FullTransitive {
			m, err := f.check(next, prev)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m...)
		}
		if level == Forward || level == ForwardTransitive || level == Full || level == FullTransitive {
			m, err := f.check(prev, next)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m...)
		}
	}
	return msgs, nil
}
