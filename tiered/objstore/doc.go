// Package objstore owns the contract between Strata and object storage: the
// Bucket interface, its sentinel errors (ErrNotExist, ErrExists,
// ErrInvalidRange) and Probe, which checks at start-up that a store actually
// provides the guarantees Strata relies on.
//
// Implementations live in sub-packages: objstore/fs (a local directory, the
// embedded default) and objstore/s3 (S3 and S3-compatible stores through
// aws-sdk-go-v2). objstore/objstoretest is the acceptance suite both pass.
// Segment formats, caching and deciding what to delete are left to
// tiered/segment, tiered/cache and tiered/compact.
//
// # Invariants
//
//   - Keys are never reused. Strata writes every object exactly once under a
//     fresh key and later deletes it; it never overwrites. Implementations
//     therefore need no overwrite semantics, and readers may cache an object's
//     bytes by key forever.
//   - Puts are create-only. A Put of an existing key returns ErrExists and
//     leaves the stored bytes untouched. This turns a key collision (two
//     writers, or a retried write after an ambiguous failure) into an error
//     instead of silent replacement. Stores without conditional writes cannot
//     enforce it; Probe reports that as a finding.
//   - A Put is atomic: after a crash or a failed Put, the key holds either
//     nothing or the complete object, never a prefix of it.
//   - Errors crossing this boundary are these sentinels (checked with
//     errors.Is) or wrapped transport and context errors; no SDK error types.
//
// # Usage
//
//	b, err := fs.New(dir) // or s3.New(ctx, s3.Config{...})
//	if err != nil { ... }
//	rep, err := objstore.Probe(ctx, b, "_probe/")
//	if err != nil { ... }          // the store cannot even write and read
//	log.Info("object store probed", "report", rep.String())
//	err = b.Put(ctx, "segments/000001", bytes.NewReader(data), int64(len(data)))
//	rc, err := b.GetRange(ctx, "segments/000001", 4096, 512)
package objstore
