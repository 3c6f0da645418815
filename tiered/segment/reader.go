package segment

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/stratalog/strata/tiered/batch"
)

// ReadIndex reads the index of the segment object r of size bytes: the
// trailer, then the footer, with one ReadAt each. It returns the entries in
// object order, with Object empty. Corruption (including an object shorter
// than size) wraps ErrCorrupt, an unknown version ErrUnsupportedVersion, and
// a read error is returned wrapped as is. It never panics, and allocates no
// more than the footer length, which is checked against size and
// MaxFooterLength first.
func ReadIndex(r io.ReaderAt, size int64) ([]IndexEntry, error) {
	if size < TrailerSize {
		return nil, fmt.Errorf("read segment index: object of %d bytes: %w", size, ErrCorrupt)
	}
	var tb [TrailerSize]byte
	if err := readAt(r, tb[:], size-TrailerSize); err != nil {
		return nil, fmt.Errorf("read segment trailer: %w", err)
	}
	t, err := DecodeTrailer(tb[:])
	if err != nil {
		return nil, fmt.Errorf("read segment index: %w", err)
	}
	if t.IndexSize() > size {
		return nil, fmt.Errorf("read segment index: index of %d bytes in an object of %d: %w", t.IndexSize(), size, ErrCorrupt)
	}
	footer := make([]byte, t.FooterLength)
	if err := readAt(r, footer, size-t.IndexSize()); err != nil {
		return nil, fmt.Errorf("read segment footer: %w", err)
	}
	entries, err := DecodeFooter(footer, t, size)
	if err != nil {
		return nil, fmt.Errorf("read segment index: %w", err)
	}
	return entries, nil
}

// ReadBlock reads the block e locates from r and checks it with CheckBlock.
func ReadBlock(r io.ReaderAt, e IndexEntry) ([]byte, error) {
	if e.Position < 0 || e.Length < batch.HeaderSize || e.Length > math.MaxUint32 {
		return nil, fmt.Errorf("read block: %d bytes at %d: %w", e.Length, e.Position, ErrCorrupt)
	}
	b := make([]byte, e.Length)
	if err := readAt(r, b, e.Position); err != nil {
		return nil, fmt.Errorf("read block at %d: %w", e.Position, err)
	}
	if err := CheckBlock(b, e); err != nil {
		return nil, err
	}
	return b, nil
}

// CheckBlock checks that block is what e describes: whole batches with valid
// headers (batch.Header.Check), increasing offsets, starting at e.BaseOffset
// and ending at e.LastOffset, with e.Records records and e.MaxTimestamp as
// their largest MaxTimestamp. It reads headers only, not the batches' CRCs.
// Any mismatch wraps ErrCorrupt.
func CheckBlock(block []byte, e IndexEntry) error {
	if int64(len(block)) != e.Length {
		return fmt.Errorf("check block at %d: %d bytes, entry says %d: %w", e.Position, len(block), e.Length, ErrCorrupt)
	}
	got := IndexEntry{BaseOffset: -1, LastOffset: -1, MaxTimestamp: math.MinInt64}
	err := batch.Each(block, func(_ []byte, h batch.Header) error {
		if err := h.Check(); err != nil {
			return err
		}
		if got.BaseOffset < 0 {
			got.BaseOffset = h.BaseOffset
		} else if h.BaseOffset <= got.LastOffset {
			return fmt.Errorf("batch at offset %d after offset %d", h.BaseOffset, got.LastOffset)
		}
		got.LastOffset = h.LastOffset()
		got.Records += int64(h.NumRecords)
		got.MaxTimestamp = max(got.MaxTimestamp, h.MaxTimestamp)
		return nil
	})
	if err == nil && (got.BaseOffset != e.BaseOffset || got.LastOffset != e.LastOffset ||
		got.Records != e.Records || got.MaxTimestamp != e.MaxTimestamp) {
		err = fmt.Errorf("block holds offsets %d-%d, %d records, max timestamp %d; entry says %d-%d, %d, %d",
			got.BaseOffset, got.LastOffset, got.Records, got.MaxTimestamp,
			e.BaseOffset, e.LastOffset, e.Records, e.MaxTimestamp)
	}
	if err != nil {
		return fmt.Errorf("check block at %d: %w: %w", e.Position, ErrCorrupt, err)
	}
	return nil
}

// readAt fills p from r at off. A short read at the end of the object means
// the object is shorter than its caller said: corruption. Other errors are
// the reader's, returned as they are.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil // io.ReaderAt may return io.EOF with a full read
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%d of %d bytes at %d: %w", n, len(p), off, ErrCorrupt)
	}
	return err
}
