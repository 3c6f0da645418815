// Package fs implements objstore.Bucket over a local directory. It is the
// embedded default for `strata serve` and a reference implementation for the
// acceptance suite in objstore/objstoretest.
//
// It owns the mapping from keys to files and the crash ordering of writes;
// it leaves everything about object contents to its callers.
//
// # Keys and files
//
// A key such as "segments/0001/abc" is the file <dir>/segments/0001/abc. Keys
// are slash-separated and must be relative paths in canonical form: Put,
// GetRange, Size and Delete return ErrInvalidKey for an empty key, a leading '/', an empty segment
// ("a//b", "a/"), a "." or ".." segment, a NUL byte, or a first segment equal
// to the reserved temp directory name (".strata-tmp"). Because a name on disk
// is either a file or a directory, a key cannot also be the directory of
// other keys ("a" and "a/b" cannot both exist); such a Put returns
// ErrKeyConflict. Strata's own key layout never does this.
//
// # Crash ordering
//
// Put makes an object visible only when it is complete and durable:
//
//  1. write the bytes to a new temp file under <dir>/.strata-tmp and fsync it;
//  2. create the key's parent directories, fsyncing each new directory's parent;
//  3. hard-link the temp file to the key's path. link(2) fails if the path
//     exists, which is what makes Put create-only (ErrExists), atomically and
//     without a lock;
//  4. fsync the key's parent directory, so the new name survives a crash;
//  5. remove the temp name.
//
// A crash before step 3 leaves only a temp file, never a partial object;
// New removes temp files that have not been written for an hour. A crash
// after step 3 leaves a complete object.
//
// Delete removes the file, fsyncs its directory and then removes parent
// directories that became empty. Put retries its link a bounded number of
// times when such a concurrent Delete removes the directory it just created.
//
// # Concurrency
//
// A Bucket is safe for concurrent use and holds no locks: the file system's
// atomic link and rename provide all the exclusion Put needs. Several
// Buckets, even in several processes, may share one directory.
//
// # Usage
//
//	b, err := fs.New(filepath.Join(dataDir, "objects"))
//	if err != nil { ... }
//	err = b.Put(ctx, "segments/1", bytes.NewReader(data), int64(len(data)))
package fs
