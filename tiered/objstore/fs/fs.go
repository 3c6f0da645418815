package fs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stratalog/strata/tiered/objstore"
)

// Sentinel errors of this implementation, in addition to objstore's.
var (
	// ErrInvalidKey is returned for a key that does not map to a file inside
	// the directory (see the package doc for the rules).
	ErrInvalidKey = errors.New("fs: invalid key")
	// ErrKeyConflict is returned by Put when the key names a directory that
	// holds other keys, or lies under a key that is a file.
	ErrKeyConflict = errors.New("fs: key conflicts with the directory of other keys")
)

const (
	// staleTempAge is how long a temp file must have gone unwritten before
	// New treats it as left over from a crash. Far longer than any Put takes,
	// so another live Bucket on the same directory never loses a temp file.
	staleTempAge = time.Hour
	// copyChunk is how many bytes Put copies between context checks.
	copyChunk = 1 << 20
	// maxLinkAttempts bounds Put's retries when a concurrent Delete removes
	// the parent directory between Put creating it and linking into it.
	maxLinkAttempts = 8
	// fileMode and dirMode are filtered by the umask. Objects are readable by
	// other users so analytics tools can read segments in place.
	fileMode = 0o644
	dirMode  = 0o755
)

// Bucket is an objstore.Bucket over a local directory. It is safe for
// concurrent use.
type Bucket struct {
	root string // absolute, cleaned
	tmp  string // root/tmpDirName
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns a Bucket over dir, creating dir (and its temp directory) if
// needed, and removes temp files left over from crashed Puts.
func New(dir string) (*Bucket, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: resolve %s: %w", dir, err)
	}
	b := &Bucket{root: root, tmp: filepath.Join(root, tmpDirName)}
	if err := os.MkdirAll(b.tmp, dirMode); err != nil {
		return nil, fmt.Errorf("fs: create %s: %w", b.tmp, err)
	}
	if err := b.removeStaleTemps(time.Now().Add(-staleTempAge)); err != nil {
		return nil, err
	}
	return b, nil
}

// removeStaleTemps removes temp files last modified before cutoff.
func (b *Bucket) removeStaleTemps(cutoff time.Time) error {
	entries, err := os.ReadDir(b.tmp)
	if err != nil {
		return fmt.Errorf("fs: read %s: %w", b.tmp, err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			continue // finished by a concurrent Put
		}
		if err != nil {
			return fmt.Errorf("fs: stat temp file %s: %w", e.Name(), err)
		}
		if info.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(b.tmp, e.Name())); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("fs: remove stale temp file: %w", err)
		}
	}
	return nil
}

// Put creates key with exactly size bytes from r. It returns
// objstore.ErrExists if key exists, ErrInvalidKey or ErrKeyConflict for a key
// the directory cannot hold, and an error wrapping io.ErrUnexpectedEOF if r
// holds fewer than size bytes. See the package doc for the crash ordering.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	path, err := b.path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("put %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := b.writeTemp(ctx, r, size)
	if tmp != "" {
		// After the link the object has its own name; this removes only
		// the temp name. Failing to remove it leaks a file New cleans up.
		defer os.Remove(tmp)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := b.link(tmp, path); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// writeTemp copies size bytes from r into a new fsynced temp file and
// returns its path. The path is returned also on error, for removal.
func (b *Bucket) writeTemp(ctx context.Context, r io.Reader, size int64) (string, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("name temp file: %w", err)
	}
	path := filepath.Join(b.tmp, "put-"+hex.EncodeToString(id[:]))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return "", fmt.Errorf("create temp file: %w", err)
	}
	if err := copyCtx(ctx, f, r, size); err != nil {
		_ = f.Close() // the copy error is the one to report
		return path, err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return path, fmt.Errorf("sync temp file: %w", err)
	}
	if err := f.Close(); err != nil {
		return path, fmt.Errorf("close temp file: %w", err)
	}
	return path, nil
}

// copyCtx copies exactly n bytes from r to w, checking ctx between chunks.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader, n int64) error {
	if br, ok := r.(*bytes.Reader); ok && int64(br.Len()) == n {
		// A body already in memory (a flush's segment) is written as it
		// is: through io.CopyN's buffer, copying it was a tenth of a
		// producing gateway's CPU.
		if _, err := br.WriteTo(w); err != nil {
			return fmt.Errorf("copy body: %w", err)
		}
		return nil
	}
	for done := int64(0); done < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := io.CopyN(w, r, min(n-done, copyChunk))
		done += c
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("read body: got %d of %d bytes: %w", done, n, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return fmt.Errorf("copy body: %w", err)
		}
	}
	return nil
}

// link gives the complete temp file its key's name, create-only, and makes
// the name durable.
func (b *Bucket) link(tmp, path string) error {
	dir := filepath.Dir(path)
	for attempt := 1; ; attempt++ {
		err := b.mkdirAll(dir)
		if err == nil {
			err = os.Link(tmp, path)
		}
		if err == nil {
			break
		}
		if errors.Is(err, iofs.ErrExist) {
			if info, serr := os.Lstat(path); serr == nil && info.IsDir() {
				return ErrKeyConflict
			}
			return objstore.ErrExists
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return ErrKeyConflict
		}
		// A concurrent Delete removed a directory on the path once it was
		// empty.
		if errors.Is(err, iofs.ErrNotExist) && attempt < maxLinkAttempts {
			continue
		}
		return fmt.Errorf("link into place: %w", err)
	}
	return syncDir(dir)
}

// mkdirAll creates dir and its missing parents up to the root, fsyncing the
// parent of each directory it creates so the path survives a crash.
func (b *Bucket) mkdirAll(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil || errors.Is(err, syscall.ENOTDIR):
		return ErrKeyConflict
	case !errors.Is(err, iofs.ErrNotExist):
		return fmt.Errorf("stat %s: %w", dir, err)
	case dir == b.root:
		return fmt.Errorf("root directory %s is gone: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	if err := b.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, iofs.ErrExist) {
		if errors.Is(err, syscall.ENOTDIR) {
			return ErrKeyConflict
		}
		return fmt.Errorf("create directory: %w", err)
	}
	return syncDir(parent)
}

// syncDir fsyncs a directory, making the names created or removed in it
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for sync: %w", err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close directory %s: %w", dir, err)
	}
	return nil
}

// GetRange returns a reader over length bytes of key from off (length < 0:
// to the end). It returns objstore.ErrNotExist for a missing key and
// objstore.ErrInvalidRange for an off outside the object, as documented on
// objstore.Bucket. The reader holds the file open until closed; a Delete
// meanwhile does not disturb it.
func (b *Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	path, err := b.path(key)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, notExist(err))
	}
	info, err := f.Stat()
	if err == nil && info.IsDir() {
		err = objstore.ErrNotExist
	}
	if err == nil {
		var n int64
		if n, err = clampRange(info.Size(), off, length); err == nil {
			return sectionFile{io.NewSectionReader(f, off, n), f}, nil
		}
	}
	_ = f.Close() // read-only; the error above is the one to report
	return nil, fmt.Errorf("get %s [%d,+%d): %w", key, off, length, err)
}

// clampRange checks off against an object of size bytes and returns how
// many bytes a read of length (negative: to the end) from off yields.
func clampRange(size, off, length int64) (int64, error) {
	if off < 0 || off > size || (off == size && size > 0) {
		return 0, objstore.ErrInvalidRange
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	return n, nil
}

// sectionFile is a range of an open file that closes the file.
type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

// notExist translates "no such file", including a path through a file
// ("a/b" where "a" is an object), into objstore.ErrNotExist.
func notExist(err error) error {
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return objstore.ErrNotExist
	}
	return err
}

// Size returns key's size in bytes, or objstore.ErrNotExist.
func (b *Bucket) Size(ctx context.Context, key string) (int64, error) {
	path, err := b.path(key)
	if err != nil {
		return 0, fmt.Errorf("size: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("size %s: %w", key, err)
	}
	info, err := os.Stat(path)
	if err == nil && !info.Mode().IsRegular() {
		err = objstore.ErrNotExist
	}
	if err != nil {
		return 0, fmt.Errorf("size %s: %w", key, notExist(err))
	}
	return info.Size(), nil
}

// Delete removes key; a missing key is not an error. It then removes the
// parent directories that became empty, up to the root.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	path, err := b.path(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if info, err := os.Lstat(path); err != nil || info.IsDir() {
		if err != nil && !errors.Is(notExist(err), objstore.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
		return nil // no such object; a directory is not an object
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	dir := filepath.Dir(path)
	// ErrNotExist: a concurrent Delete already removed the emptied directory.
	if err := syncDir(dir); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	b.pruneEmptyDirs(dir)
	return nil
}

// pruneEmptyDirs removes dir and its parents below the root while they are
// empty. It is best effort: rmdir fails on a directory that is not empty,
// which is where it stops, and a leftover empty directory is harmless.
func (b *Bucket) pruneEmptyDirs(dir string) {
	for ; dir != b.root && len(dir) > len(b.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}
