package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// probeSize is the size of the probe object: large enough that a ranged read
// of its middle cannot be confused with a read of its start or end, small
// enough to cost nothing.
const probeSize = 256

// ProbeReport records which of the guarantees Strata relies on a store
// provided during one Probe. A false field is a finding about the store, not
// an error of Probe.
type ProbeReport struct {
	// Key is the probe object's key (already deleted when Probe returns).
	Key string
	// ReadAfterWrite: Size and a full read right after Put returned exactly
	// what was written.
	ReadAfterWrite bool
	// RangedRead: a GetRange of the middle of the object returned exactly
	// those bytes.
	RangedRead bool
	// ConditionalWrite: a second Put of the same key returned ErrExists and
	// left the original bytes in place. Without it, create-only Puts are not
	// enforced and a key collision silently replaces data.
	ConditionalWrite bool
	// List: List under the probe's prefix returned the key.
	List bool
	// Delete: Delete succeeded and the key was gone afterwards.
	Delete bool
	// Issues describes each failed check, in the order they ran.
	Issues []string
}

// OK reports whether the store provided every capability.
func (r ProbeReport) OK() bool {
	return r.ReadAfterWrite && r.RangedRead && r.ConditionalWrite && r.List && r.Delete
}

// String summarises the report on one line, for a single log entry.
func (r ProbeReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "objstore probe %s: read-after-write=%s ranged-read=%s conditional-write=%s list=%s delete=%s",
		r.Key, okString(r.ReadAfterWrite), okString(r.RangedRead), okString(r.ConditionalWrite),
		okString(r.List), okString(r.Delete))
	if len(r.Issues) > 0 {
		fmt.Fprintf(&b, " issues=[%s]", strings.Join(r.Issues, "; "))
	}
	return b.String()
}

func okString(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSING"
}

// Probe checks b's guarantees with one uniquely named object under prefix:
// read-after-write (Size and a full read), a ranged read of the middle bytes,
// create-only Put (a second Put must return ErrExists), List, and Delete. It
// deletes the probe object before returning, also on failure, as far as the
// store allows.
//
// Probe returns an error only when the store cannot do the basics: the first
// Put fails, or the full read fails with an error other than ErrNotExist (a
// missing object right after a successful Put is a read-after-write finding).
// Every other shortfall is recorded in the report, with a reason in Issues.
func Probe(ctx context.Context, b Bucket, prefix string) (ProbeReport, error) {
	var rep ProbeReport
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return rep, fmt.Errorf("probe: name object: %w", err)
	}
	rep.Key = prefix + "strata-probe-" + hex.EncodeToString(id[:])
	data := probeData(id[:])
	if err := b.Put(ctx, rep.Key, bytes.NewReader(data), int64(len(data))); err != nil {
		return rep, fmt.Errorf("probe: put %s: %w", rep.Key, err)
	}
	err := probeReads(ctx, b, &rep, data)
	if err == nil {
		probeConditionalWrite(ctx, b, &rep, data)
		probeList(ctx, b, &rep, prefix)
	}
	probeDelete(ctx, b, &rep)
	return rep, err
}

// probeData returns probeSize bytes that depend on both the position and the
// probe's random id, so neither a read of the wrong range nor another probe's
// object matches by accident.
func probeData(seed []byte) []byte {
	data := make([]byte, probeSize)
	for i := range data {
		data[i] = byte(i) ^ seed[i%len(seed)]
	}
	return data
}

func (r *ProbeReport) issue(format string, args ...any) {
	r.Issues = append(r.Issues, fmt.Sprintf(format, args...))
}

// probeReads checks Size, a full read and a ranged read. It returns an error
// only when the full read fails for a reason other than ErrNotExist.
func probeReads(ctx context.Context, b Bucket, rep *ProbeReport, data []byte) error {
	size, err := b.Size(ctx, rep.Key)
	sizeOK := err == nil && size == int64(len(data))
	if !sizeOK {
		rep.issue("size after put: got %d, %v; want %d", size, err, len(data))
	}
	got, err := readAll(ctx, b, rep.Key, 0, -1)
	switch {
	case errors.Is(err, ErrNotExist):
		rep.issue("read after put: %v", err)
	case err != nil:
		return fmt.Errorf("probe: read %s: %w", rep.Key, err)
	case !bytes.Equal(got, data):
		rep.issue("read after put returned %d bytes that differ from the %d written", len(got), len(data))
	default:
		rep.ReadAfterWrite = sizeOK
	}

	off, n := int64(len(data)/4), int64(len(data)/2)
	got, err = readAll(ctx, b, rep.Key, off, n)
	switch {
	case err != nil:
		rep.issue("ranged read [%d,%d): %v", off, off+n, err)
	case !bytes.Equal(got, data[off:off+n]):
		rep.issue("ranged read [%d,%d) returned %d wrong bytes", off, off+n, len(got))
	default:
		rep.RangedRead = true
	}
	return nil
}

func probeConditionalWrite(ctx context.Context, b Bucket, rep *ProbeReport, data []byte) {
	other := bytes.Repeat([]byte{0xA5}, len(data))
	err := b.Put(ctx, rep.Key, bytes.NewReader(other), int64(len(other)))
	if !errors.Is(err, ErrExists) {
		rep.issue("second put of the same key: got %v, want ErrExists", err)
		return
	}
	got, err := readAll(ctx, b, rep.Key, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		rep.issue("second put returned ErrExists but the object changed (%v)", err)
		return
	}
	rep.ConditionalWrite = true
}

func probeList(ctx context.Context, b Bucket, rep *ProbeReport, prefix string) {
	err := b.List(ctx, prefix, func(key string) error {
		if key == rep.Key {
			rep.List = true
		}
		return nil
	})
	switch {
	case err != nil:
		rep.List = false
		rep.issue("list %q: %v", prefix, err)
	case !rep.List:
		rep.issue("list %q did not return the probe key", prefix)
	}
}

func probeDelete(ctx context.Context, b Bucket, rep *ProbeReport) {
	if err := b.Delete(ctx, rep.Key); err != nil {
		rep.issue("delete: %v", err)
		return
	}
	if _, err := b.Size(ctx, rep.Key); !errors.Is(err, ErrNotExist) {
		rep.issue("size after delete: got %v, want ErrNotExist", err)
		return
	}
	rep.Delete = true
}

func readAll(ctx context.Context, b Bucket, key string, off, length int64) (_ []byte, err error) {
	rc, err := b.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	return io.ReadAll(rc)
}
