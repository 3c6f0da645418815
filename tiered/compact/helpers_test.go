package compact

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/segment"
)

var (
	topicA = [16]byte{0xa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	codecs = []batch.Codec{batch.CodecNone, batch.CodecGzip, batch.CodecSnappy, batch.CodecLZ4, batch.CodecZstd}
)

// baseTime is the timestamp of the test logs' first record.
const baseTime = 1_700_000_000_000

// kv is a record of a test log: a key and a value, nil for null. Offsets and
// timestamps come from the batch.
type kv struct {
	key, value []byte
}

// rec is a record with a key and value, where "<nil>" spells a null.
func rec(key, value string) kv {
	r := kv{key: []byte(key), value: []byte(value)}
	if key == "<nil>" {
		r.key = nil
	}
	if value == "<nil>" {
		r.value = nil
	}
	return r
}

// spec describes a test batch.
type spec struct {
	base  int64
	codec batch.Codec
	recs  []kv
	// attrs are extra attributes (AttrTransactional, AttrControl,
	// AttrLogAppendTime); pid > 0 makes the batch that idempotent
	// producer's, with epoch 2 and base sequence seq.
	attrs int16
	pid   int64
	seq   int32
	// gap leaves offsets out between records (as an earlier compaction
	// does): record i is at base + i*(gap+1).
	gap int64
}

// encode encodes s, with record i at timestamp baseTime + offset*1000.
func encode(t testing.TB, s spec) []byte {
	t.Helper()
	b := batch.Batch{
		BaseOffset: s.base, PartitionLeaderEpoch: 5, Codec: s.codec, Attributes: s.attrs,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, KeepOffsets: true,
	}
	if s.pid > 0 {
		b.ProducerID, b.ProducerEpoch, b.BaseSequence = s.pid, 2, s.seq
	}
	for i, r := range s.recs {
		off := s.base + int64(i)*(s.gap+1)
		b.Records = append(b.Records, batch.Record{
			Offset: off, Timestamp: baseTime + off*1000, Key: r.key, Value: r.value,
			Headers: []batch.RecordHeader{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}},
		})
	}
	if s.attrs&batch.AttrLogAppendTime != 0 {
		b.MaxTimestamp = baseTime + 999
	}
	out, err := batch.Encode(b)
	if err != nil {
		t.Fatalf("encode %+v: %v", s, err)
	}
	return out
}

// header verifies b and returns its header.
func header(t testing.TB, b []byte) batch.Header {
	t.Helper()
	h, err := batch.Verify(b)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return h
}

// records decodes the records of every batch in b.
func records(t testing.TB, b []byte) []batch.Record {
	t.Helper()
	var out []batch.Record
	err := batch.Each(b, func(b []byte, _ batch.Header) error {
		rs, err := batch.Records(b, 1<<20)
		out = append(out, rs...)
		return err
	})
	if err != nil {
		t.Fatalf("records: %v", err)
	}
	return out
}

// newBucket returns a local-directory bucket in a test directory.
func newBucket(t testing.TB) *fs.Bucket {
	t.Helper()
	b, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keys returns a NewKey that names objects out/0, out/1, ...
func keys(prefix string) func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("%s/%06d", prefix, n.Add(1)-1) }
}

// added is one segment.Writer.Add of a test L0 object.
type added struct {
	partition int32
	batches   []byte
}

// putSegment writes adds into a segment, PUTs it under key and returns its
// index entries with Object set.
func putSegment(t testing.TB, bucket objstore.Bucket, key string, blockSize int, adds []added) []segment.IndexEntry {
	t.Helper()
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, segment.WriterOptions{BlockSize: blockSize})
	for _, a := range adds {
		if err := w.Add(topicA, a.partition, a.batches); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	entries, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.Put(context.Background(), key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		entries[i].Object = key
	}
	return entries
}

// of returns the entries of partition p.
func of(entries []segment.IndexEntry, p int32) []segment.IndexEntry {
	var out []segment.IndexEntry
	for _, e := range entries {
		if e.Partition == p {
			out = append(out, e)
		}
	}
	return out
}

// readObject reads a whole object.
func readObject(t testing.TB, bucket objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := bucket.GetRange(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readBack reads the objects a Rewrite wrote through their footers and
// returns the batches in entry order, checking that each footer matches the
// Result's entries for that object.
func readBack(t testing.TB, bucket objstore.Bucket, res Result) []byte {
	t.Helper()
	var out []byte
	i := 0
	for _, key := range res.Objects {
		obj := readObject(t, bucket, key)
		r := bytes.NewReader(obj)
		entries, err := segment.ReadIndex(r, int64(len(obj)))
		if err != nil {
			t.Fatalf("ReadIndex %s: %v", key, err)
		}
		for _, e := range entries {
			e.Object = key
			if i >= len(res.Entries) || res.Entries[i] != e {
				t.Fatalf("object %s entry %+v, result has %d entries", key, e, len(res.Entries))
			}
			i++
			if e.TopicID != topicA {
				t.Fatalf("entry of topic %x", e.TopicID)
			}
			block, err := segment.ReadBlock(r, e)
			if err != nil {
				t.Fatal(err)
			}
			err = batch.Each(block, func(b []byte, _ batch.Header) error {
				_, err := batch.Verify(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, block...)
		}
	}
	if i != len(res.Entries) {
		t.Fatalf("objects hold %d entries, result %d", i, len(res.Entries))
	}
	return out
}

// faultBucket wraps a Bucket to produce, on demand, what a real store only
// does by accident: a failing PUT, a PUT whose client retried after an
// ambiguous failure (ErrExists for an object it wrote itself), and GETs held
// until a test lets them finish. It is a fake for those faults only.
type faultBucket struct {
	objstore.Bucket
	// failPut fails the PUT with this number (1-based); 0 never.
	failPut int
	// retriedPut makes every PUT write the object, then PUT it again and
	// return that second PUT's result, as a client retrying does.
	retriedPut bool
	// hold, if set, is called at the start of every GetRange with the
	// call's number (0-based) and may block.
	hold func(n int)

	mu   sync.Mutex
	puts int
	gets int
}

func (f *faultBucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f.mu.Lock()
	f.puts++
	n := f.puts
	f.mu.Unlock()
	if n == f.failPut {
		return fmt.Errorf("injected failure of put %d", n)
	}
	if !f.retriedPut {
		return f.Bucket.Put(ctx, key, r, size)
	}
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	if err := f.Bucket.Put(ctx, key, bytes.NewReader(data), size); err != nil {
		return err
	}
	return f.Bucket.Put(ctx, key, bytes.NewReader(data), size)
}

func (f *faultBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	f.mu.Lock()
	n := f.gets
	f.gets++
	f.mu.Unlock()
	if f.hold != nil {
		f.hold(n)
	}
	return f.Bucket.GetRange(ctx, key, off, length)
}

// listAll returns every key in bucket.
func listAll(t testing.TB, bucket objstore.Bucket) []string {
	t.Helper()
	var out []string
	if err := bucket.List(context.Background(), "", func(key string) error {
		out = append(out, key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
