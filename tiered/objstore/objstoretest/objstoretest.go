package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stratalog/strata/tiered/objstore"
)

// Run runs the acceptance suite as parallel subtests of t. newBucket returns
// an empty bucket for one subtest; it is called concurrently from several
// subtests and must register its own cleanup.
func Run(t *testing.T, newBucket func(t *testing.T) objstore.Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b objstore.Bucket)
	}{
		{"RoundTrip", testRoundTrip},
		{"Readers", testReaders},
		{"CreateOnly", testCreateOnly},
		{"CreateOnlyRace", testCreateOnlyRace},
		{"GetRange", testGetRange},
		{"GetRangeEmpty", testGetRangeEmpty},
		{"Size", testSize},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStop", testListStop},
		{"ConcurrentPuts", testConcurrentPuts},
		{"Canceled", testCanceled},
		{"Probe", testProbe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBucket(t))
		})
	}
}

// data returns n deterministic pseudo-random bytes, different per seed.
func data(seed uint64, n int) []byte {
	buf := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	_, _ = rand.NewChaCha8(s).Read(buf) // never fails
	return buf
}

func put(t *testing.T, b objstore.Bucket, key string, p []byte) {
	t.Helper()
	if err := b.Put(t.Context(), key, bytes.NewReader(p), int64(len(p))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(p), err)
	}
}

func read(ctx context.Context, b objstore.Bucket, key string, off, length int64) (_ []byte, err error) {
	rc, err := b.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	return io.ReadAll(rc)
}

func mustRead(t *testing.T, b objstore.Bucket, key string, off, length int64) []byte {
	t.Helper()
	p, err := read(t.Context(), b, key, off, length)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): %v", key, off, length, err)
	}
	return p
}

func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; they differ from byte %d", what, len(got), len(want), i)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func testRoundTrip(t *testing.T, b objstore.Bucket) {
	for i, n := range []int{0, 1, 4096, 5 << 20} {
		key := fmt.Sprintf("roundtrip/%d", n)
		p := data(uint64(i), n)
		put(t, b, key, p)
		size, err := b.Size(t.Context(), key)
		if err != nil || size != int64(n) {
			t.Fatalf("Size(%q) = %d, %v; want %d", key, size, err, n)
		}
		wantBytes(t, "read "+key, mustRead(t, b, key, 0, -1), p)
	}
}

// onlyReader hides every method but Read, like a network stream.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// testReaders checks that Put reads exactly size bytes from any reader and
// that a short reader fails without leaving an object.
func testReaders(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	p := data(7, 100_000)
	if err := b.Put(ctx, "readers/stream", onlyReader{bytes.NewReader(p)}, int64(len(p))); err != nil {
		t.Fatalf("Put of a non-seekable reader: %v", err)
	}
	wantBytes(t, "non-seekable", mustRead(t, b, "readers/stream", 0, -1), p)

	if err := b.Put(ctx, "readers/longer", bytes.NewReader(p), 1000); err != nil {
		t.Fatalf("Put of 1000 bytes from a longer reader: %v", err)
	}
	wantBytes(t, "longer seekable reader", mustRead(t, b, "readers/longer", 0, -1), p[:1000])

	r := bytes.NewReader(p)
	if _, err := r.Seek(500, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "readers/offset", r, 1000); err != nil {
		t.Fatalf("Put from a reader at offset 500: %v", err)
	}
	wantBytes(t, "reader at an offset", mustRead(t, b, "readers/offset", 0, -1), p[500:1500])

	for name, r := range map[string]io.Reader{
		"short-seekable": bytes.NewReader(p[:10]),
		"short-stream":   onlyReader{bytes.NewReader(p[:10])},
	} {
		key := "readers/" + name
		err := b.Put(ctx, key, r, 11)
		if err == nil {
			t.Fatalf("Put(%q) of 11 bytes from a 10-byte reader succeeded", key)
		}
		_, err = b.Size(ctx, key)
		wantErr(t, "Size after a failed Put of "+key, err, objstore.ErrNotExist)
	}
}

func testCreateOnly(t *testing.T, b objstore.Bucket) {
	first, second := data(1, 1000), data(2, 2000)
	put(t, b, "create-only", first)
	err := b.Put(t.Context(), "create-only", bytes.NewReader(second), int64(len(second)))
	wantErr(t, "second Put", err, objstore.ErrExists)
	wantBytes(t, "object after a refused Put", mustRead(t, b, "create-only", 0, -1), first)
}

// testCreateOnlyRace checks that of concurrent Puts of one key exactly one
// wins and the object holds the winner's bytes.
func testCreateOnlyRace(t *testing.T, b objstore.Bucket) {
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			p := data(uint64(100+i), 64<<10)
			errs[i] = b.Put(t.Context(), "race", bytes.NewReader(p), int64(len(p)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Puts %d and %d of one key both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Fatalf("Put %d: got %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no Put of the key succeeded")
	}
	wantBytes(t, "object after the race", mustRead(t, b, "race", 0, -1), data(uint64(100+winner), 64<<10))
}

func testGetRange(t *testing.T, b objstore.Bucket) {
	p := data(3, 1000)
	put(t, b, "range", p)
	for _, tc := range []struct {
		name        string
		off, length int64
		want        []byte
	}{
		{"whole", 0, -1, p},
		{"middle", 100, 200, p[100:300]},
		{"from-start", 0, 10, p[:10]},
		{"to-end", 900, -1, p[900:]},
		{"exactly-to-end", 900, 100, p[900:]},
		{"past-end-cut-short", 900, 500, p[900:]},
		{"last-byte", 999, 1, p[999:]},
		{"zero-length", 10, 0, nil},
		{"huge-length", 1, 1 << 62, p[1:]},
	} {
		got := mustRead(t, b, "range", tc.off, tc.length)
		wantBytes(t, tc.name, got, tc.want)
	}
	for _, tc := range []struct {
		name        string
		off, length int64
	}{
		{"off-at-end", 1000, -1},
		{"off-at-end-with-length", 1000, 10},
		{"off-beyond-end", 5000, 10},
		{"off-negative", -1, 10},
	} {
		_, err := read(t.Context(), b, "range", tc.off, tc.length)
		wantErr(t, tc.name, err, objstore.ErrInvalidRange)
	}
	_, err := read(t.Context(), b, "missing", 0, -1)
	wantErr(t, "missing key", err, objstore.ErrNotExist)
	_, err = read(t.Context(), b, "missing", 10, 10)
	wantErr(t, "missing key with a range", err, objstore.ErrNotExist)
}

func testGetRangeEmpty(t *testing.T, b objstore.Bucket) {
	put(t, b, "empty", nil)
	for _, length := range []int64{-1, 0, 10} {
		got := mustRead(t, b, "empty", 0, length)
		wantBytes(t, fmt.Sprintf("empty object, length %d", length), got, nil)
	}
	_, err := read(t.Context(), b, "empty", 1, -1)
	wantErr(t, "empty object, off 1", err, objstore.ErrInvalidRange)
}

func testSize(t *testing.T, b objstore.Bucket) {
	_, err := b.Size(t.Context(), "size/missing")
	wantErr(t, "Size of a missing key", err, objstore.ErrNotExist)
	for _, n := range []int{0, 1, 12345} {
		key := fmt.Sprintf("size/%d", n)
		put(t, b, key, data(4, n))
		got, err := b.Size(t.Context(), key)
		if err != nil || got != int64(n) {
			t.Fatalf("Size(%q) = %d, %v; want %d", key, got, err, n)
		}
	}
}

func testDelete(t *testing.T, b objstore.Bucket) {
	ctx := t.Context()
	put(t, b, "del/a/b", data(5, 10))
	put(t, b, "del/a/c", data(6, 10))
	for i := range 2 { // the second time, the key is already gone
		if err := b.Delete(ctx, "del/a/b"); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := b.Delete(ctx, "del/never"); err != nil {
		t.Fatalf("Delete of a key never written: %v", err)
	}
	_, err := b.Size(ctx, "del/a/b")
	wantErr(t, "Size after Delete", err, objstore.ErrNotExist)
	_, err = read(ctx, b, "del/a/b", 0, -1)
	wantErr(t, "GetRange after Delete", err, objstore.ErrNotExist)
	wantBytes(t, "sibling after Delete", mustRead(t, b, "del/a/c", 0, -1), data(6, 10))

	// The store may be asked to write a key again after deleting it (Strata
	// never does), and the last key of a "directory" may go and come back.
	if err := b.Delete(ctx, "del/a/c"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	put(t, b, "del/a/c", data(7, 10))
	wantBytes(t, "key written after Delete", mustRead(t, b, "del/a/c", 0, -1), data(7, 10))
}

func list(t *testing.T, b objstore.Bucket, prefix string) []string {
	t.Helper()
	keys := []string{} // not nil, for comparisons with empty results
	err := b.List(t.Context(), prefix, func(key string) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func testList(t *testing.T, b objstore.Bucket) {
	// Chosen so that lexical order differs from a naive directory walk:
	// '-' and '.' sort before '/', which sorts before letters.
	// No key is also the "directory" of others ("a" and "a/b"): objstore/fs
	// cannot hold that, and Strata's key layout never needs it.
	keys := []string{
		"list/a", "list/a-b", "list/a.b", "list/ab", "list/b",
		"list/c/d.e", "list/c/d/e", "list/c-d", "list/c.d",
		"list/x/y/z", "lists", "other/x",
	}
	for i, k := range keys {
		put(t, b, k, data(uint64(i), i))
	}
	sorted := slices.Sorted(slices.Values(keys))
	filter := func(prefix string) []string {
		out := []string{}
		for _, k := range sorted {
			if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
				out = append(out, k)
			}
		}
		return out
	}
	for _, prefix := range []string{"", "list/", "list", "list/a", "list/c/", "list/c/d", "list/c/d/", "list/x/y", "nope/", "lis", "z"} {
		got, want := list(t, b, prefix), filter(prefix)
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func testListStop(t *testing.T, b objstore.Bucket) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("stop/%d", i), data(uint64(i), 1))
	}
	errStop := errors.New("stop here")
	var seen []string
	err := b.List(t.Context(), "stop/", func(key string) error {
		seen = append(seen, key)
		if len(seen) == 2 {
			return errStop
		}
		return nil
	})
	wantErr(t, "List with fn failing", err, errStop)
	if want := []string{"stop/0", "stop/1"}; !slices.Equal(seen, want) {
		t.Fatalf("List called fn with %q, want %q and then stop", seen, want)
	}
}

func testConcurrentPuts(t *testing.T, b objstore.Bucket) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := data(uint64(i), 32<<10+i)
			// Half share a "directory", half get their own.
			key := fmt.Sprintf("conc/shared/%02d", i)
			if i%2 == 1 {
				key = fmt.Sprintf("conc/own%02d/k", i)
			}
			errs[i] = b.Put(t.Context(), key, bytes.NewReader(p), int64(len(p)))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Puts: %v", err)
	}
	keys := list(t, b, "conc/")
	if len(keys) != n {
		t.Fatalf("List after %d concurrent Puts returned %d keys: %q", n, len(keys), keys)
	}
	for i := range n {
		key := fmt.Sprintf("conc/shared/%02d", i)
		if i%2 == 1 {
			key = fmt.Sprintf("conc/own%02d/k", i)
		}
		wantBytes(t, key, mustRead(t, b, key, 0, -1), data(uint64(i), 32<<10+i))
	}
}

// testCanceled checks that every method returns an error wrapping
// context.Canceled for a canceled context, and that a canceled Put leaves
// no object.
func testCanceled(t *testing.T, b objstore.Bucket) {
	put(t, b, "cancel/existing", data(8, 100))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	p := data(9, 1<<20)
	err := b.Put(ctx, "cancel/new", bytes.NewReader(p), int64(len(p)))
	wantErr(t, "Put", err, context.Canceled)
	_, err = b.Size(t.Context(), "cancel/new")
	wantErr(t, "Size after a canceled Put", err, objstore.ErrNotExist)

	_, err = b.GetRange(ctx, "cancel/existing", 0, -1)
	wantErr(t, "GetRange", err, context.Canceled)
	_, err = b.Size(ctx, "cancel/existing")
	wantErr(t, "Size", err, context.Canceled)
	err = b.Delete(ctx, "cancel/existing")
	wantErr(t, "Delete", err, context.Canceled)
	err = b.List(ctx, "cancel/", func(string) error { return nil })
	wantErr(t, "List", err, context.Canceled)
	if _, err := b.Size(t.Context(), "cancel/existing"); err != nil {
		t.Fatalf("Size after a canceled Delete: %v", err)
	}
}

func testProbe(t *testing.T, b objstore.Bucket) {
	rep, err := objstore.Probe(t.Context(), b, "probe/")
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Probe found missing capabilities: %s", rep)
	}
	if keys := list(t, b, "probe/"); len(keys) != 0 {
		t.Fatalf("Probe left keys behind: %q", keys)
	}
	t.Log(rep)
}
