package batch

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Record is one decoded record of a batch.
type Record struct {
	// Offset is the batch's BaseOffset plus the record's offset delta.
	Offset int64
	// Timestamp is the batch's FirstTimestamp plus the record's timestamp
	// delta, or the batch's MaxTimestamp when the batch uses LogAppendTime.
	Timestamp int64
	// Key is nil for a null key, and empty but not nil for an empty one.
	Key []byte
	// Value is nil for a null value (a tombstone), and empty but not nil for
	// an empty one.
	Value []byte
	// Headers are the record headers, in order.
	Headers []RecordHeader
}

// RecordHeader is one record header. Kafka forbids a null key; the value may
// be null (nil).
type RecordHeader struct {
	Key   string
	Value []byte
}

// Decoder decodes the records of batches, reusing its decompressors' state
// from batch to batch. It is not safe for concurrent use. Records it returns
// alias the batch (uncompressed) or a fresh buffer per batch (compressed),
// never the Decoder, so they stay valid after the next call; except from a
// scratch Decoder (NewScratchDecoder).
type Decoder struct {
	max  int
	gz   *gzip.Reader
	lz4  *lz4.Reader
	zstd *zstd.Decoder
	// scratch, on a scratch Decoder, is the buffer each batch decompresses
	// into, kept for the next one; reuse marks a scratch Decoder.
	scratch []byte
	reuse   bool
}

// maxScratch is the largest decompression buffer a scratch Decoder keeps
// between batches: a bigger batch gets a buffer of its own, so one huge
// batch does not pin its size for good.
const maxScratch = 8 << 20

// NewScratchDecoder returns a Decoder (see NewDecoder) that decompresses
// every batch into one buffer it keeps, so that a stream of batches
// allocates nothing in the steady state. The records fn sees alias that
// buffer: they are valid only until fn returns.
func NewScratchDecoder(maxDecompressed int) *Decoder {
	return &Decoder{max: max(maxDecompressed, 0), reuse: true}
}

// Limit returns the Decoder's decompression limit.
func (d *Decoder) Limit() int { return d.max }

// NewDecoder returns a Decoder that refuses to decompress a batch's records to
// more than maxDecompressed bytes (ErrTooLarge), so that a small compressed
// batch cannot claim unbounded memory. Besides the output, the codecs' working
// memory is bounded by their formats (lz4 blocks are at most 4 MiB) and, for
// zstd, by the same limit.
func NewDecoder(maxDecompressed int) *Decoder {
	return &Decoder{max: max(maxDecompressed, 0)}
}

// Close releases the decompressors' resources. The Decoder stays usable.
func (d *Decoder) Close() {
	if d.zstd != nil {
		d.zstd.Close()
		d.zstd = nil
	}
}

// EachRecord decodes the batch at the start of b with a new Decoder; see
// Decoder.EachRecord.
func EachRecord(b []byte, maxDecompressed int, fn func(Record) error) error {
	d := NewDecoder(maxDecompressed)
	defer d.Close()
	return d.EachRecord(b, fn)
}

// Records returns the records of the batch at the start of b; see
// Decoder.EachRecord.
func Records(b []byte, maxDecompressed int) ([]Record, error) {
	d := NewDecoder(maxDecompressed)
	defer d.Close()
	return d.Records(b)
}

// Records returns the records of the batch at the start of b; see EachRecord.
func (d *Decoder) Records(b []byte) ([]Record, error) {
	var recs []Record
	err := d.EachRecord(b, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// EachRecord verifies the batch at the start of b (as Verify: header, fields,
// CRC), decompresses its records section, and calls fn with each record in
// order. It stops at and returns the first error fn returns, unwrapped.
//
// Errors: those of Verify; ErrTooLarge if the records decompress to more than
// the Decoder's limit; ErrCorrupt if decompression fails, a length or varint
// is malformed, the records do not fill the section exactly, their count
// differs from NumRecords, or offset deltas are not increasing within
// [0, LastOffsetDelta]. It never panics, and allocates at most in proportion
// to the input and the limit. fn sees no record of a batch whose section
// fails to decompress, but may see records before a malformed one.
//
// A batch with NumRecords 0 (compaction keeps such batches to preserve
// producer state) yields nothing and its records section is not read, as in
// Kafka's DefaultRecordBatch.
func (d *Decoder) EachRecord(b []byte, fn func(Record) error) error {
	p, err := d.open(b)
	if err != nil {
		return err
	}
	return p.each(fn)
}

// EachVerifiedRecord is EachRecord for a batch the caller has just checked
// with Verify, which returned h: it decodes the records without computing
// the CRC again (a reader that checks every batch before deciding whether
// to decode it would otherwise pay for the CRC twice). b is the batch, as
// Verify read it. The records are checked as EachRecord checks them.
func (d *Decoder) EachVerifiedRecord(b []byte, h Header, fn func(Record) error) error {
	p, err := d.openVerified(b, h)
	if err != nil {
		return err
	}
	return p.each(fn)
}

// each decodes the batch's records in order and calls fn with each.
func (p *recordParser) each(fn func(Record) error) error {
	for i := int32(0); i < p.h.NumRecords; i++ {
		r, err := p.record(true)
		if err != nil {
			return fmt.Errorf("batch at offset %d: record %d: %w", p.h.BaseOffset, i, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return p.end()
}

// EachKeyValue is EachRecord for a caller that needs only each record's key
// and value: it checks the same structure and returns the same errors, but
// skips headers without decoding them, so it allocates nothing of its own.
func (d *Decoder) EachKeyValue(b []byte, fn func(key, value []byte) error) error {
	p, err := d.open(b)
	if err != nil {
		return err
	}
	for i := int32(0); i < p.h.NumRecords; i++ {
		r, err := p.record(false)
		if err != nil {
			return fmt.Errorf("batch at offset %d: record %d: %w", p.h.BaseOffset, i, err)
		}
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return p.end()
}

// open verifies the batch at the start of b and returns a parser of its
// records section, decompressed. A batch with NumRecords 0 (compaction
// keeps such batches to preserve producer state) has its records section
// left unread, as in Kafka's DefaultRecordBatch.
func (d *Decoder) open(b []byte) (recordParser, error) {
	h, err := Verify(b)
	if err != nil {
		return recordParser{h: h}, err
	}
	return d.openVerified(b, h)
}

// openVerified is open for a batch Verify accepted with header h.
func (d *Decoder) openVerified(b []byte, h Header) (recordParser, error) {
	if h.NumRecords == 0 {
		return recordParser{h: h}, nil
	}
	if len(b) < h.Size() {
		return recordParser{}, fmt.Errorf("batch at offset %d: %d bytes, header says %d: %w", h.BaseOffset, len(b), h.Size(), ErrCorrupt)
	}
	var err error
	data := b[HeaderSize:h.Size()]
	if c := h.Compression(); c != CodecNone {
		if data, err = d.decompress(c, data); err != nil {
			return recordParser{}, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if d.reuse && cap(data) <= maxScratch {
			d.scratch = data[:0]
		}
	}
	if int64(h.NumRecords)*minRecordSize > int64(len(data)) {
		return recordParser{}, fmt.Errorf("batch at offset %d: %d records cannot fit in %d bytes: %w",
			h.BaseOffset, h.NumRecords, len(data), ErrCorrupt)
	}
	return recordParser{h: h, buf: data, prevDelta: -1}, nil
}

// recordParser consumes records from buf.
type recordParser struct {
	h         Header
	buf       []byte
	prevDelta int64
}

// end checks that the records filled the section exactly.
func (p *recordParser) end() error {
	if len(p.buf) != 0 {
		return fmt.Errorf("batch at offset %d: %d bytes after the last record: %w",
			p.h.BaseOffset, len(p.buf), ErrCorrupt)
	}
	return nil
}

// record decodes one record (see the package doc for its layout); without
// withHeaders its headers are checked and skipped, and Headers is nil.
func (p *recordParser) record(withHeaders bool) (Record, error) {
	n, err := p.varint()
	if err != nil {
		return Record{}, err
	}
	if n < 0 || int64(n) > int64(len(p.buf)) {
		return Record{}, fmt.Errorf("record length %d, %d bytes left: %w", n, len(p.buf), ErrCorrupt)
	}
	body := recordParser{h: p.h, buf: p.buf[:n], prevDelta: p.prevDelta}
	r, err := body.body(withHeaders)
	if err != nil {
		return Record{}, err
	}
	if len(body.buf) != 0 {
		return Record{}, fmt.Errorf("%d bytes after the record's fields: %w", len(body.buf), ErrCorrupt)
	}
	p.buf, p.prevDelta = p.buf[n:], body.prevDelta
	return r, nil
}

// body decodes the fields of a record after its length.
func (p *recordParser) body(withHeaders bool) (Record, error) {
	if len(p.buf) < 1 {
		return Record{}, fmt.Errorf("record attributes: %w", ErrCorrupt)
	}
	p.buf = p.buf[1:] // record attributes: unused by Kafka
	tsDelta, err := p.varlong()
	if err != nil {
		return Record{}, err
	}
	offDelta, err := p.varint()
	if err != nil {
		return Record{}, err
	}
	if int64(offDelta) <= p.prevDelta || offDelta > p.h.LastOffsetDelta {
		return Record{}, fmt.Errorf("offset delta %d after %d, last %d: %w",
			offDelta, p.prevDelta, p.h.LastOffsetDelta, ErrCorrupt)
	}
	p.prevDelta = int64(offDelta)
	r := Record{Offset: p.h.BaseOffset + int64(offDelta), Timestamp: p.h.FirstTimestamp + tsDelta}
	if p.h.LogAppendTime() {
		r.Timestamp = p.h.MaxTimestamp
	}
	if r.Key, err = p.bytes(); err != nil {
		return Record{}, err
	}
	if r.Value, err = p.bytes(); err != nil {
		return Record{}, err
	}
	r.Headers, err = p.headers(withHeaders)
	return r, err
}

// headers decodes a record's header count and headers, or with decode
// unset only checks and skips them.
func (p *recordParser) headers(decode bool) ([]RecordHeader, error) {
	n, err := p.varint()
	if err != nil {
		return nil, err
	}
	// A header is at least two bytes (two lengths): bound the count by
	// what is left before allocating.
	if n < 0 || int64(n)*2 > int64(len(p.buf)) {
		return nil, fmt.Errorf("header count %d, %d bytes left: %w", n, len(p.buf), ErrCorrupt)
	}
	if n == 0 {
		return nil, nil
	}
	var hs []RecordHeader
	if decode {
		hs = make([]RecordHeader, n)
	}
	for i := range int(n) {
		k, err := p.bytes()
		if err != nil {
			return nil, err
		}
		if k == nil {
			return nil, fmt.Errorf("null header key: %w", ErrCorrupt)
		}
		v, err := p.bytes()
		if err != nil {
			return nil, err
		}
		if decode {
			hs[i] = RecordHeader{Key: string(k), Value: v}
		}
	}
	return hs, nil
}

// bytes decodes a varint length (-1 for null) and that many bytes, aliasing buf.
func (p *recordParser) bytes() ([]byte, error) {
	n, err := p.varint()
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	if n < 0 || int64(n) > int64(len(p.buf)) {
		return nil, fmt.Errorf("field length %d, %d bytes left: %w", n, len(p.buf), ErrCorrupt)
	}
	b := p.buf[:n:n]
	p.buf = p.buf[n:]
	return b, nil
}

// varint decodes a zigzag varint that must fit an int32, as Kafka's
// ByteUtils.readVarint requires (at most 5 bytes).
func (p *recordParser) varint() (int32, error) {
	v, n := binary.Varint(p.buf)
	if n <= 0 || n > binary.MaxVarintLen32 || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("bad varint: %w", ErrCorrupt)
	}
	p.buf = p.buf[n:]
	return int32(v), nil
}

// varlong decodes a zigzag varint of up to 10 bytes.
func (p *recordParser) varlong() (int64, error) {
	v, n := binary.Varint(p.buf)
	if n <= 0 {
		return 0, fmt.Errorf("bad varlong: %w", ErrCorrupt)
	}
	p.buf = p.buf[n:]
	return v, nil
}
