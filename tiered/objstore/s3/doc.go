// Package s3 implements objstore.Bucket on Amazon S3 and S3-compatible stores
// (MinIO, Ceph RGW, Cloudflare R2, ...) through aws-sdk-go-v2.
//
// It owns the translation between objstore's contract and the S3 API: keys
// get an optional prefix, Put is a PutObject with If-None-Match: *, GetRange
// is a ranged GetObject, and provider errors become objstore's sentinels
// here, at the boundary, so no SDK error type escapes except wrapped inside
// an error that matches no sentinel (transport failures, permissions). What
// is stored and when to delete it is left to callers.
//
// # Invariants and guarantees
//
//   - Put is create-only where the store supports conditional writes
//     (AWS S3 since 2024-08, MinIO, R2). Elsewhere a Put silently replaces;
//     objstore.Probe reports it at start-up.
//   - Strong read-after-write and list-after-write consistency are the
//     store's (AWS S3 since 2020-12, MinIO); this package adds no caching.
//   - Retries are the SDK's standard retryer, bounded by Config.MaxAttempts,
//     by a backoff of at most a second, and by the ctx of each call. Every
//     request body is seekable, so every attempt resends the same bytes.
//   - An object is written with one PutObject, so it is at most 5 GiB.
//
// # Provider quirks handled here
//
//   - A GET with any Range on an empty object answers 416 on AWS. GetRange
//     asks for no Range when reading a whole object, and on a 416 at offset 0
//     checks the size before reporting objstore.ErrInvalidRange.
//   - A server may ignore Range and answer 200 with the whole object (RFC
//     9110 allows it). GetRange checks Content-Range and rejects a response
//     that does not start at the requested offset.
//   - HEAD responses have no body, so Size cannot tell a missing bucket
//     (404 NoSuchBucket) from a missing key (404 NotFound) and returns
//     objstore.ErrNotExist for both. Every other method reports
//     NoSuchBucket as an error that matches no sentinel.
//   - DeleteObject of a missing key is 204 on AWS but 404 NoSuchKey on some
//     compatible stores; both are success.
//   - Stores that are not AWS vary in support for the SDK's default CRC
//     checksum trailers (aws-chunked encoding); with a custom Endpoint,
//     checksums are only sent when an operation requires them. The body is
//     then covered by the SigV4 payload hash on plain HTTP and by TLS
//     otherwise, and Kafka record batches carry their own CRC-32C.
//
// # Usage
//
//	b, err := s3.New(ctx, s3.Config{Bucket: "strata-prod", Region: "eu-west-1", Prefix: "cluster-a/"})
//	if err != nil { ... }
//	err = b.Put(ctx, "segments/1", bytes.NewReader(data), int64(len(data)))
//	if errors.Is(err, objstore.ErrExists) { ... }
package s3
