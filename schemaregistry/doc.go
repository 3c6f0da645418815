// Package schemaregistry serves Confluent's Schema Registry REST API, so that
// Confluent's serializers, franz-go's sr client and every tool built on them
// work against Strata: subjects and their versions, schemas by global id,
// compatibility levels and modes, soft and permanent deletes, references and
// compatibility checks, with Confluent's error bodies and codes.
//
// It owns the API and the record formats (state.go). It leaves parsing and
// compatibility to schemaregistry/compat, and storage to a KV it declares
// (coordinator.SchemaKV on JetStream): every write is a compare-and-swap on
// the record's revision, so registrations from several gateways at once
// never give two schemas one id or one version twice.
//
// # Design
//
// Invariants: a schema id, once given, always names the same schema; the same
// schema (type, canonical form and references) has one id wherever it is
// registered; a subject's version numbers only grow.
//
// Mechanism: each gateway keeps every record in memory (cache), fed by a
// watch of the bucket (Run) and by its own writes as they succeed, each only
// if newer by revision; reads never leave the process, and a registration on
// one gateway reaches the others within the watch's delivery. Writes read
// the current record from the store, decide, and compare-and-swap, retrying
// a lost race from the start. New ids come from a counter record, by
// compare-and-swap; the fingerprint record (the first writer wins) maps
// content to its id.
//
// Rejected: reading the store on every GET (a round trip on a serializer's
// path), and ids from a hash of the content (Confluent's clients expect
// small increasing integers).
//
// Deviations: there is one context, the default, so the subject parameter
// of GET /schemas/ids/{id} has nowhere else to look; the format parameter
// offers "resolved" (Avro) and "serialized" (Protobuf), and any other gets
// 400 rather than Protobuf's "ignore_extensions" text.
//
// Usage:
//
//	reg, err := schemaregistry.New(schemaregistry.Config{KV: store.Schemas()})
//	go reg.Run(ctx)
//	http.ListenAndServe("127.0.0.1:8081", reg)
package schemaregistry
