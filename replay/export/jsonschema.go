package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// errJSONData marks a JSON value that does not fit its schema's columns.
var errJSONData = errors.New("export: value does not match its JSON schema")

// jsonSchema is a parsed JSON Schema, reduced to what gives columns: an
// object with properties is a struct of its properties (each optional),
// an array with items a list, string, integer (int64), number (double) and
// boolean their types, an enum a string; a type that may also be null, or
// an anyOf/oneOf of one schema and null, is that schema. Anything else
// (several types, an object without properties) is a string column holding
// the value's JSON text.
type jsonSchema struct {
	kind  string // object, array, string, integer, number, boolean, json
	props map[string]*jsonSchema
	items *jsonSchema
}

const jsonAny = "json"

// parseJSONSchema parses text, resolving local references ("#/..."). A
// reference to another document is a JSON text column.
func parseJSONSchema(text string) (parsedSchema, error) {
	var root any
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("parse JSON schema: %w", err)
	}
	return buildJSONSchema(root, root, 0)
}

func buildJSONSchema(root, s any, depth int) (*jsonSchema, error) {
	if depth > maxAvroDepth {
		return nil, fmt.Errorf("export: JSON schema nested deeper than %d (recursive?)", maxAvroDepth)
	}
	m, ok := s.(map[string]any)
	if !ok {
		return &jsonSchema{kind: jsonAny}, nil // true, false
	}
	if ref, ok := m["$ref"].(string); ok {
		target, ok := resolvePointer(root, ref)
		if !ok {
			return &jsonSchema{kind: jsonAny}, nil
		}
		return buildJSONSchema(root, target, depth+1)
	}
	if _, ok := m["enum"]; ok {
		return &jsonSchema{kind: "string"}, nil
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if alts, ok := m[k].([]any); ok {
			var nonNull []any
			for _, a := range alts {
				if am, ok := a.(map[string]any); !ok || am["type"] != "null" {
					nonNull = append(nonNull, a)
				}
			}
			if len(nonNull) == 1 {
				return buildJSONSchema(root, nonNull[0], depth+1)
			}
			return &jsonSchema{kind: jsonAny}, nil
		}
	}
	kind := ""
	switch t := m["type"].(type) {
	case string:
		kind = t
	case []any:
		for _, x := range t {
			if x == "null" {
				continue
			}
			if kind != "" {
				return &jsonSchema{kind: jsonAny}, nil
			}
			kind, _ = x.(string)
		}
	}
	if kind == "" {
		if _, ok := m["properties"]; ok {
			kind = "object"
		}
	}
	out := &jsonSchema{kind: kind}
	switch kind {
	case "object":
		props, _ := m["properties"].(map[string]any)
		if len(props) == 0 {
			return &jsonSchema{kind: jsonAny}, nil
		}
		out.props = map[string]*jsonSchema{}
		for name, p := range props {
			c, err := buildJSONSchema(root, p, depth+1)
			if err != nil {
				return nil, err
			}
			out.props[name] = c
		}
	case "array":
		items, ok := m["items"]
		if !ok {
			return &jsonSchema{kind: jsonAny}, nil
		}
		c, err := buildJSONSchema(root, items, depth+1)
		if err != nil {
			return nil, err
		}
		out.items = c
	case "string", "integer", "number", "boolean":
	default:
		out.kind = jsonAny
	}
	return out, nil
}

// resolvePointer resolves a local JSON pointer reference such as
// "#/definitions/Address" or "#/$defs/Address".
func resolvePointer(root any, ref string) (any, bool) {
	path, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	cur := root
	for _, tok := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func (s *jsonSchema) node(ids *fieldIDs) (parquet.Node, error) {
	switch s.kind {
	case "object":
		g := parquet.Group{}
		names := make([]string, 0, len(s.props))
		for name := range s.props {
			names = append(names, name)
		}
		slices.Sort(names) // ids in a stable order
		for _, name := range names {
			n, err := s.props[name].node(ids)
			if err != nil {
				return nil, err
			}
			g[name] = ids.id(optional(n))
		}
		return g, nil
	case "array":
		n, err := s.items.node(ids)
		if err != nil {
			return nil, err
		}
		return parquet.List(ids.id(optional(n))), nil
	case "integer":
		return parquet.Int(64), nil
	case "number":
		return parquet.Leaf(parquet.DoubleType), nil
	case "boolean":
		return parquet.Leaf(parquet.BooleanType), nil
	}
	return parquet.String(), nil // string, and JSON text
}

// decode parses the JSON value; the writer's schema plays no part (JSON
// carries its own field names).
func (s *jsonSchema) decode(payload []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", errJSONData, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the value", errJSONData)
	}
	return v, nil
}

func (s *jsonSchema) conform(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch s.kind {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for an object", errJSONData, v)
		}
		out := make(map[string]any, len(s.props))
		for name, p := range s.props {
			c, err := p.conform(m[name])
			if err != nil {
				return nil, fmt.Errorf("property %s: %w", name, err)
			}
			out[name] = c
		}
		return out, nil
	case "array":
		a, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: %T for an array", errJSONData, v)
		}
		out := make([]any, len(a))
		for i, e := range a {
			c, err := s.items.conform(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case "integer":
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return i, nil
			}
		}
	case "number":
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				return f, nil
			}
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "string":
		if str, ok := v.(string); ok {
			return str, nil
		}
		if n, ok := v.(json.Number); ok { // an enum of numbers
			return n.String(), nil
		}
	default:
		b, err := json.Marshal(v)
		return string(b), err
	}
	return nil, fmt.Errorf("%w: %T for %s", errJSONData, v, s.kind)
}
