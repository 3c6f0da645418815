// Package compat parses schemas of the three types Confluent's Schema
// Registry knows (AVRO, PROTOBUF, JSON), gives each a canonical form (equal
// canonical forms get one schema id) and decides compatibility under the
// seven levels (NONE, BACKWARD, FORWARD, FULL and their _TRANSITIVE forms), as
// pure functions: Canonical and Check.
//
// It leaves storing schemas, resolving references by subject and version,
// and the REST API to schemaregistry: a Schema arrives with the text of
// everything it references.
//
// Each type is one format (avro.go, protobuf.go, json.go), whose doc comment
// lists the rules it follows, the library that parses it and where it departs
// from Confluent's registry:
//   - Avro: the specification's schema resolution, as Avro's Java
//     SchemaCompatibility (which Confluent calls) applies it; parsed with
//     github.com/hamba/avro/v2.
//   - Protobuf: Confluent's wire-compatibility rules (its SchemaDiff);
//     compiled and linked with github.com/bufbuild/protocompile, with the
//     well-known types.
//   - JSON Schema: Confluent's JSON Schema rules, with open, closed and
//     partially open content models; validated with
//     github.com/santhosh-tekuri/jsonschema/v6.
//
// Usage:
//
//	canonical, err := compat.Canonical(compat.Schema{Type: compat.Avro, Text: text}, false)
//	msgs, err := compat.Check(compat.Backward, next, previousVersions)
//	// len(msgs) == 0: compatible
package compat
