package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// List calls fn with every key that starts with prefix, in lexical (byte)
// order, and stops at and returns the first error fn returns, unwrapped.
// prefix is any string, not necessarily a valid key. Keys Put or Deleted
// during the walk may or may not be seen. Temp files are never listed.
//
// Lexical key order is not the order of a plain directory walk: '/' sorts
// after '-' and '.', so "a.b" comes before "a/c" although a walk sorting
// names would visit directory "a" before file "a.b". The walk therefore sorts
// each directory's entries by the key prefix they stand for, dir names with
// a trailing '/'. Every key under a directory shares that prefix, so the
// keys of a directory form one contiguous run and the walk emits them in
// order.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string) error) error {
	// Start at the deepest directory that prefix fully names.
	base := prefix[:strings.LastIndexByte(prefix, '/')+1]
	dir := b.root
	if base != "" {
		if validateKey(strings.TrimSuffix(base, "/")) != nil {
			return nil // no valid key starts with an invalid path
		}
		dir = filepath.Join(b.root, filepath.FromSlash(base))
	}
	return b.walk(ctx, dir, base, prefix, fn)
}

// walk lists the keys under dir, whose own key prefix is base ("" or ending
// in '/').
func (b *Bucket) walk(ctx context.Context, dir, base, prefix string, fn func(string) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // removed by a concurrent Delete, or prefix runs through an object
	}
	if err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := base + e.Name()
		switch {
		case e.IsDir():
			if base == "" && e.Name() == tmpDirName {
				continue
			}
			name += "/"
			// The directory's keys all start with name: skip it unless
			// they can match prefix.
			if !strings.HasPrefix(name, prefix) && !strings.HasPrefix(prefix, name) {
				continue
			}
		case e.Type().IsRegular():
			if !strings.HasPrefix(name, prefix) {
				continue
			}
		default:
			continue // symlinks and other non-objects
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %q: %w", prefix, err)
		}
		if sub, ok := strings.CutSuffix(name, "/"); ok {
			err = b.walk(ctx, filepath.Join(b.root, filepath.FromSlash(sub)), name, prefix, fn)
		} else {
			err = fn(name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
