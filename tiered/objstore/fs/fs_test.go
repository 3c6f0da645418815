package fs_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/objstore/objstoretest"
)

func newBucket(t *testing.T) *fs.Bucket {
	t.Helper()
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatalf("fs.New: %v", err)
	}
	return b
}

func TestAcceptance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return newBucket(t) })
}

func TestInvalidKeys(t *testing.T) {
	b := newBucket(t)
	ctx := t.Context()
	for _, key := range []string{
		"", "/abs", "a//b", "a/", "a/./b", "..", "../escape", "a/../../b", "a\x00b", ".strata-tmp/x", ".strata-tmp",
	} {
		err := b.Put(ctx, key, bytes.NewReader([]byte("x")), 1)
		if !errors.Is(err, fs.ErrInvalidKey) {
			t.Errorf("Put(%q): got %v, want ErrInvalidKey", key, err)
		}
		if _, err := b.Size(ctx, key); !errors.Is(err, fs.ErrInvalidKey) {
			t.Errorf("Size(%q): got %v, want ErrInvalidKey", key, err)
		}
		if _, err := b.GetRange(ctx, key, 0, -1); !errors.Is(err, fs.ErrInvalidKey) {
			t.Errorf("GetRange(%q): got %v, want ErrInvalidKey", key, err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, fs.ErrInvalidKey) {
			t.Errorf("Delete(%q): got %v, want ErrInvalidKey", key, err)
		}
	}
	// Dots inside a segment are ordinary names.
	for _, key := range []string{"a..b", ".hidden", "a/...", ".strata-tmpx"} {
		if err := b.Put(ctx, key, bytes.NewReader([]byte("x")), 1); err != nil {
			t.Errorf("Put(%q): %v", key, err)
		}
	}
}

func TestKeyConflict(t *testing.T) {
	b := newBucket(t)
	ctx := t.Context()
	put := func(key string) error { return b.Put(ctx, key, bytes.NewReader([]byte("x")), 1) }
	if err := put("a/b"); err != nil {
		t.Fatal(err)
	}
	if err := put("a"); !errors.Is(err, fs.ErrKeyConflict) {
		t.Errorf("Put of a key that is a directory: got %v, want ErrKeyConflict", err)
	}
	if err := put("a/b/c"); !errors.Is(err, fs.ErrKeyConflict) {
		t.Errorf("Put of a key under an object: got %v, want ErrKeyConflict", err)
	}
	if _, err := b.Size(ctx, "a"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Size of a directory: got %v, want ErrNotExist", err)
	}
	if _, err := b.Size(ctx, "a/b/c"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Size of a key under an object: got %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a directory: %v", err)
	}
	if _, err := b.Size(ctx, "a/b"); err != nil {
		t.Errorf("object under a directory Delete was called on: %v", err)
	}
}

// TestCrashLeftovers checks what a crash can leave: a temp file is never
// listed and is removed by New once stale; an object linked into place is
// complete.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := b.Put(ctx, "seg/1", bytes.NewReader([]byte("complete")), 8); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, ".strata-tmp", "put-fresh")
	stale := filepath.Join(dir, ".strata-tmp", "put-stale")
	for _, p := range []string{fresh, stale} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := b.List(ctx, "", func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "seg/1" {
		t.Fatalf("List = %q, want only seg/1", keys)
	}
	if _, err := fs.New(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file after New: %v, want removed", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file after New: %v, want kept (another Bucket may be writing it)", err)
	}
}

// TestDeletePrunesDirectories checks that Delete leaves no empty
// directories behind, so a long-lived store does not accumulate them.
func TestDeletePrunesDirectories(t *testing.T) {
	dir := t.TempDir()
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, k := range []string{"x/y/z/1", "x/2"} {
		if err := b.Put(ctx, k, bytes.NewReader([]byte("v")), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "x/y/z/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x", "y")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("x/y after deleting its only object: %v, want removed", err)
	}
	if err := b.Delete(ctx, "x/2"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != ".strata-tmp" {
		t.Errorf("root after deleting every object holds %v, want only .strata-tmp", entries)
	}
}
