package segment

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/stratalog/strata/tiered/batch"
)

// DefaultBlockSize is the default WriterOptions.BlockSize.
const DefaultBlockSize = 1 << 20

// WriterOptions configure a Writer.
type WriterOptions struct {
	// BlockSize is the size at which a block is closed: a batch added to a
	// block of BlockSize bytes or more starts a new block, so that a ranged
	// read of one block stays small. A block holds whole batches, so it may
	// exceed BlockSize by up to one batch. Zero or negative means
	// DefaultBlockSize (1 MiB).
	BlockSize int
}

// Writer writes a segment object to an io.Writer: blocks as batches are
// added, then the footer and trailer on Close. It is not safe for concurrent
// use.
//
// The object is complete only after Close returns without error. Writer does
// not close the underlying io.Writer; the caller uploads or closes it (and
// checks that error too), then commits the entries to the index. Readers
// find blocks only through an index, so a partial object is never read.
type Writer struct {
	w         io.Writer
	blockSize int64
	size      int64
	entries   []IndexEntry // the last one is the block that may grow
	last      map[partitionKey]int64
	err       error // the first write error; the Writer is unusable after it
	closed    bool
	// maxEntries is MaxEntries; tests lower it.
	maxEntries int
	// headers is check's result, reused from one Add to the next: a segment
	// of 10,000 partitions is 10,000 Adds.
	headers []batch.Header
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer, opts WriterOptions) *Writer {
	bs := int64(opts.BlockSize)
	if bs <= 0 {
		bs = DefaultBlockSize
	}
	return &Writer{w: w, blockSize: bs, last: make(map[partitionKey]int64), maxEntries: MaxEntries}
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// Add appends batches, one or more whole RecordBatch v2 batches of the given
// partition, in offset order. Consecutive Adds for the same partition extend
// its current block until it reaches BlockSize; another partition starts a
// new block. A partition may appear again after another one, in a new block.
//
// Add reads batch headers only (the producer's CRC is the caller's to check,
// with batch.Verify). It checks every batch before writing any: a malformed
// header returns the batch package's error, a base offset not above the last
// offset written for the partition returns ErrOutOfOrder, and a footer that
// would outgrow MaxFooterLength returns ErrTooManyBlocks; in all these cases
// nothing is written and the Writer stays usable. A write error is returned
// by this and every later call.
func (w *Writer) Add(topicID [16]byte, partition int32, batches []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	key := partitionKey{topicID, partition}
	hs, err := w.check(key, batches)
	if err != nil {
		return fmt.Errorf("add batches of partition %d: %w", partition, err)
	}
	pos := 0
	for _, h := range hs {
		if err := w.addBatch(key, batches[pos:pos+h.Size()], h); err != nil {
			return err
		}
		pos += h.Size()
	}
	return nil
}

// check parses and validates the headers of batches for partition key
// without changing what the Writer wrote. The headers it returns are good
// until the next check.
func (w *Writer) check(key partitionKey, batches []byte) ([]batch.Header, error) {
	if key.partition < 0 {
		return nil, fmt.Errorf("negative partition")
	}
	if len(batches) == 0 {
		return nil, fmt.Errorf("no batch")
	}
	last, seen := w.last[key]
	cur, open := IndexEntry{}, len(w.entries) > 0
	if open {
		cur = w.entries[len(w.entries)-1]
	}
	blocks := len(w.entries)
	hs := w.headers[:0]
	err := batch.Each(batches, func(_ []byte, h batch.Header) error {
		if err := h.Check(); err != nil {
			return err
		}
		if seen && h.BaseOffset <= last {
			return fmt.Errorf("base offset %d after offset %d: %w", h.BaseOffset, last, ErrOutOfOrder)
		}
		last, seen = h.LastOffset(), true
		if !open || !w.extends(cur, key, h) {
			cur, open = IndexEntry{TopicID: key.topicID, Partition: key.partition}, true
			if blocks++; blocks > w.maxEntries {
				return ErrTooManyBlocks
			}
		}
		cur.Length += int64(h.Size())
		cur.Records += int64(h.NumRecords)
		hs = append(hs, h)
		return nil
	})
	w.headers = hs
	return hs, err
}

// extends reports whether a batch with header h goes into block cur rather
// than a new one.
func (w *Writer) extends(cur IndexEntry, key partitionKey, h batch.Header) bool {
	return cur.TopicID == key.topicID && cur.Partition == key.partition &&
		cur.Length < w.blockSize &&
		cur.Length+int64(h.Size()) <= math.MaxUint32 && // the footer's length field
		cur.Records+int64(h.NumRecords) <= math.MaxUint32 // the footer's records field
}

// addBatch writes one checked batch and records it in the index.
func (w *Writer) addBatch(key partitionKey, b []byte, h batch.Header) error {
	n := len(w.entries)
	if n == 0 || !w.extends(w.entries[n-1], key, h) {
		w.entries = append(w.entries, IndexEntry{
			TopicID:      key.topicID,
			Partition:    key.partition,
			BaseOffset:   h.BaseOffset,
			MaxTimestamp: h.MaxTimestamp,
			Position:     w.size,
		})
		n++
	}
	if err := w.write(b); err != nil {
		return err
	}
	e := &w.entries[n-1]
	e.LastOffset = h.LastOffset()
	e.MaxTimestamp = max(e.MaxTimestamp, h.MaxTimestamp)
	e.Length += int64(len(b))
	e.Records += int64(h.NumRecords)
	w.last[key] = e.LastOffset
	return nil
}

// write writes b and counts it, keeping the first error.
func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.size += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("write segment at byte %d: %w", w.size, err)
	}
	return w.err
}

func (w *Writer) usable() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

// Close writes the footer and trailer and returns the index entries, one per
// block in object order, with Position and Length set and Object empty. After
// Close, the Writer returns ErrClosed. A segment without blocks is valid.
func (w *Writer) Close() ([]IndexEntry, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	w.closed = true
	if err := w.write(encodeIndex(w.entries)); err != nil {
		return nil, err
	}
	return slices.Clone(w.entries), nil
}
