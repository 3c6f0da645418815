package compact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// Defaults of Config.
const (
	// DefaultTargetBytes is the default Config.TargetBytes: large enough
	// that a long replay reads few objects with large GETs, small enough
	// that the one output object Rewrite buffers fits beside a gateway's
	// other work. Kafka's log.segment.bytes default is 1 GiB; Strata's
	// objects are buffered, not appended to a file.
	DefaultTargetBytes = 128 << 20
	// DefaultGetParallelism is the default Config.GetParallelism.
	DefaultGetParallelism = 4
)

// Config configures Rewrite.
type Config struct {
	// Bucket holds the input objects and receives the output. Required.
	Bucket objstore.Bucket
	// NewKey returns a never-used object key for each object Rewrite
	// writes. Required.
	NewKey func() string
	// TargetBytes cuts an output object once its blocks reach this size:
	// a batch added to an object of TargetBytes or more starts a new one.
	// Zero or negative: DefaultTargetBytes (128 MiB).
	TargetBytes int64
	// MaxSpan cuts an output object before a batch whose MaxTimestamp is
	// more than MaxSpan after the object's first batch's, as Kafka rolls a
	// segment after segment.ms; batches without a timestamp (-1) never
	// cut. Zero or negative: no limit.
	MaxSpan time.Duration
	// BlockSize is the segment writer's block size
	// (segment.WriterOptions.BlockSize). Zero: the writer's default.
	BlockSize int
	// Clean, if set, rewrites each batch b (with header h) on its way to
	// the output: it returns the batch to keep, or nil to drop it. It must
	// keep the batch's base and last offsets (ErrInvalid otherwise), and
	// may return b itself. Cleaner.Clean is one. Nil keeps every batch as
	// it is.
	Clean func(b []byte, h batch.Header) ([]byte, error)
	// GetParallelism bounds the ranged GETs in flight. Zero or negative:
	// DefaultGetParallelism (4).
	GetParallelism int
}

// Result is what Rewrite wrote.
type Result struct {
	// Entries index the batches kept, in offset order, with Object set: the
	// entries to commit in place of the input's. Empty when no batch was
	// kept. Nil on error.
	Entries []segment.IndexEntry
	// Objects are the keys of the objects written, in order. On error they
	// include the key of a PUT that failed, which may or may not exist:
	// nothing references any of them.
	Objects []string
	// BytesRead counts the bytes of the ranged GETs, BytesWritten those of
	// the objects PUT.
	BytesRead, BytesWritten int64
	// Gets and Puts count the requests.
	Gets, Puts int
}

// Rewrite reads the batches that entries index, passes each through
// cfg.Clean if set, and writes those kept into new per-partition segment
// objects of about cfg.TargetBytes. See the package doc for the crash
// contract and memory use.
//
// entries must be one partition's (same TopicID and Partition), each with an
// Object, in increasing offset order without overlap; gaps are allowed.
// Otherwise Rewrite returns an error wrapping ErrInvalid before any request.
// With no entries it does nothing.
//
// Offsets never change, so every output entry lies within
// [entries[0].BaseOffset, entries[len-1].LastOffset]; without Clean, the
// output holds exactly the input's batches, byte for byte.
//
// Errors: input that does not match its index entries, or batches that fail
// batch.Verify, wrap ErrCorrupt (and the segment or batch package's
// sentinel); a missing input object wraps objstore.ErrNotExist; Clean's and
// the bucket's errors are returned wrapped. On error, Result.Objects lists
// the objects already written.
func Rewrite(ctx context.Context, cfg Config, entries []segment.IndexEntry) (Result, error) {
	if err := cfg.validate(entries); err != nil {
		return Result{}, err
	}
	if len(entries) == 0 {
		return Result{}, nil
	}
	cfg.setDefaults()
	var input int64
	for _, e := range entries {
		input += e.Length
	}
	o := &output{cfg: cfg, topicID: entries[0].TopicID, partition: entries[0].Partition, input: input}
	err := fetchInOrder(ctx, cfg.Bucket, plan(entries), cfg.GetParallelism, func(s span, buf []byte) error {
		o.res.Gets++
		o.res.BytesRead += int64(len(buf))
		return o.addSpan(ctx, s, buf)
	})
	if err == nil && o.w != nil {
		err = o.flush(ctx)
	}
	if err != nil {
		o.res.Entries = nil
		return o.res, fmt.Errorf("rewrite partition %d offsets %d to %d: %w",
			entries[0].Partition, entries[0].BaseOffset, entries[len(entries)-1].LastOffset, err)
	}
	return o.res, nil
}

// validate checks cfg and entries (see Rewrite).
func (cfg *Config) validate(entries []segment.IndexEntry) error {
	if cfg.Bucket == nil || cfg.NewKey == nil {
		return fmt.Errorf("rewrite: config without Bucket or NewKey: %w", ErrInvalid)
	}
	for i, e := range entries {
		var err error
		switch {
		case e.Object == "":
			err = errors.New("no object")
		case e.TopicID != entries[0].TopicID || e.Partition != entries[0].Partition:
			err = fmt.Errorf("partition %d of topic %x after partition %d of topic %x",
				e.Partition, e.TopicID, entries[0].Partition, entries[0].TopicID)
		case e.BaseOffset < 0 || e.LastOffset < e.BaseOffset:
			err = fmt.Errorf("offsets %d to %d", e.BaseOffset, e.LastOffset)
		case i > 0 && e.BaseOffset <= entries[i-1].LastOffset:
			err = fmt.Errorf("offset %d after offset %d", e.BaseOffset, entries[i-1].LastOffset)
		case e.Position < 0 || e.Length < batch.HeaderSize || e.Length > math.MaxUint32:
			err = fmt.Errorf("%d bytes at %d", e.Length, e.Position)
		}
		if err != nil {
			return fmt.Errorf("rewrite: entry %d: %w: %w", i, err, ErrInvalid)
		}
	}
	return nil
}

func (cfg *Config) setDefaults() {
	if cfg.TargetBytes <= 0 {
		cfg.TargetBytes = DefaultTargetBytes
	}
	if cfg.GetParallelism <= 0 {
		cfg.GetParallelism = DefaultGetParallelism
	}
}

// output writes the batches Rewrite keeps into one object at a time.
type output struct {
	cfg       Config
	topicID   [16]byte
	partition int32
	input     int64 // bytes of input not yet added; sizes the buffer

	buf     bytes.Buffer
	w       *segment.Writer // nil between objects
	firstTs int64           // MaxTimestamp of the object's first timed batch, or -1
	res     Result
}

// addSpan checks the blocks of a fetched span and adds their batches.
func (o *output) addSpan(ctx context.Context, s span, buf []byte) error {
	for _, e := range s.entries {
		block := buf[e.Position-s.off : e.Position-s.off+e.Length]
		if err := segment.CheckBlock(block, e); err != nil {
			return fmt.Errorf("block at %d of %s: %w: %w", e.Position, e.Object, ErrCorrupt, err)
		}
		err := batch.Each(block, func(b []byte, h batch.Header) error {
			if _, err := batch.Verify(b); err != nil {
				return fmt.Errorf("block at %d of %s: %w", e.Position, e.Object, corrupt(err))
			}
			return o.add(ctx, b, h)
		})
		if err != nil {
			return err
		}
		o.input -= e.Length
	}
	return nil
}

// add passes one verified batch through Clean and appends what is kept.
func (o *output) add(ctx context.Context, b []byte, h batch.Header) error {
	if o.cfg.Clean != nil {
		out, err := o.cfg.Clean(b, h)
		if err != nil {
			return fmt.Errorf("clean batch at offset %d: %w", h.BaseOffset, err)
		}
		if out == nil {
			return nil
		}
		oh, err := batch.Verify(out)
		if err == nil && (len(out) != oh.Size() || oh.BaseOffset != h.BaseOffset || oh.LastOffset() != h.LastOffset()) {
			err = fmt.Errorf("%d bytes, offsets %d to %d", len(out), oh.BaseOffset, oh.LastOffset())
		}
		if err != nil {
			return fmt.Errorf("clean batch at offsets %d to %d returned a bad batch: %w: %w",
				h.BaseOffset, h.LastOffset(), ErrInvalid, err)
		}
		b, h = out, oh
	}
	if o.w != nil && o.cut(h) {
		if err := o.flush(ctx); err != nil {
			return err
		}
	}
	if o.w == nil {
		o.start()
	}
	if err := o.w.Add(o.topicID, o.partition, b); err != nil {
		return fmt.Errorf("write batch at offset %d: %w", h.BaseOffset, err)
	}
	if o.firstTs < 0 && h.MaxTimestamp >= 0 {
		o.firstTs = h.MaxTimestamp
	}
	return nil
}

// cut reports whether the batch with header h starts a new object.
func (o *output) cut(h batch.Header) bool {
	if o.w.Size() >= o.cfg.TargetBytes {
		return true
	}
	return o.cfg.MaxSpan > 0 && o.firstTs >= 0 && h.MaxTimestamp-o.firstTs > o.cfg.MaxSpan.Milliseconds()
}

// start begins a new object in the reused buffer.
func (o *output) start() {
	o.buf.Reset()
	// Size the buffer once for a whole object (what is left of the input,
	// up to the target, plus room for the last batch and the footer)
	// rather than let it double its way up.
	o.buf.Grow(int(min(o.input, o.cfg.TargetBytes)) + 1<<16)
	o.w = segment.NewWriter(&o.buf, segment.WriterOptions{BlockSize: o.cfg.BlockSize})
	o.firstTs = -1
}

// flush completes the current object and PUTs it.
func (o *output) flush(ctx context.Context) error {
	entries, err := o.w.Close()
	o.w = nil
	if err != nil {
		return fmt.Errorf("close segment: %w", err)
	}
	key := o.cfg.NewKey()
	data := o.buf.Bytes()
	// Listed before the PUT: a failed PUT may still have created the
	// object, which the caller then knows to leave to garbage collection.
	o.res.Objects = append(o.res.Objects, key)
	if err := put(ctx, o.cfg.Bucket, key, data); err != nil {
		return err
	}
	o.res.Puts++
	o.res.BytesWritten += int64(len(data))
	for _, e := range entries {
		e.Object = key
		o.res.Entries = append(o.res.Entries, e)
	}
	return nil
}

// put PUTs data under key. Keys are never reused, so ErrExists means that an
// earlier attempt of this very PUT (retried by the bucket's client after an
// ambiguous failure) created it; it is checked by size.
func put(ctx context.Context, bucket objstore.Bucket, key string, data []byte) error {
	err := bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
	if errors.Is(err, objstore.ErrExists) {
		size, serr := bucket.Size(ctx, key)
		if serr == nil && size == int64(len(data)) {
			return nil
		}
		if serr == nil {
			serr = fmt.Errorf("it holds %d bytes, not %d", size, len(data))
		}
		err = fmt.Errorf("%w, and %w", err, serr)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}
