package objstore

import (
	"context"
	"errors"
	"io"
)

// Sentinel errors. Implementations translate their provider's errors into these
// at the boundary, so callers never see an SDK error type.
var (
	// ErrNotExist is returned when the key does not exist.
	ErrNotExist = errors.New("objstore: object does not exist")
	// ErrExists is returned by Put when the key already exists and the store
	// enforces create-only writes.
	ErrExists = errors.New("objstore: object already exists")
	// ErrInvalidRange is returned by GetRange when off is past the end of the object.
	ErrInvalidRange = errors.New("objstore: invalid range")
)

// Bucket is a flat namespace of immutable objects.
//
// Keys are never reused by Strata: every object is written once under a unique
// key and later deleted, so no method needs to reason about overwrites.
type Bucket interface {
	// Put creates key with exactly size bytes read from r. It is create-only:
	// if key already exists it returns ErrExists and leaves the stored object
	// untouched, on stores that support conditional writes (If-None-Match: *;
	// see Probe). On success the object is durable and immediately readable
	// (read-after-write). A failed Put leaves either no object or a complete one.
	// It reads exactly size bytes from r and fails if r ends sooner; size < 0
	// is an error.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// GetRange returns a reader over length bytes of key starting at off.
	// length < 0 means to the end of the object. A range that runs past the end
	// is cut short at the end. It returns ErrNotExist for a missing key and
	// ErrInvalidRange when off is negative, past the end of the object, or at
	// the end of a non-empty object (off 0 on an empty object reads nothing).
	// The caller closes the reader. Reads from it may fail once ctx is done.
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)

	// Size returns the size of key in bytes, or ErrNotExist.
	Size(ctx context.Context, key string) (int64, error)

	// Delete removes key. Deleting a missing key is not an error, so Delete is
	// idempotent and safe to retry.
	Delete(ctx context.Context, key string) error

	// List calls fn with every key that starts with prefix, in lexical order.
	// It stops at and returns the first error fn returns.
	List(ctx context.Context, prefix string, fn func(key string) error) error
}
