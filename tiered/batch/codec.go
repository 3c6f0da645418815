package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is the compression codec of a batch's records section (attribute bits
// 0-2). The values are Kafka's.
type Codec int8

// The codecs Kafka defines. Values 5 to 7 are invalid.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns the codec's name as Kafka's compression.type spells it.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

func (c Codec) valid() bool { return c >= CodecNone && c <= CodecZstd }

// xerialMagic starts the snappy-java stream framing ("xerial") that the Java
// client and librdkafka write: the magic, a version and a minimum compatible
// version (int32 each), then blocks of [length int32][raw snappy block].
const xerialMagic = "\x82SNAPPY\x00"

const (
	xerialHeaderSize = 16
	// xerialBlockSize is the uncompressed block size snappy-java writes.
	xerialBlockSize = 32 << 10
	// maxSnappyRatio bounds how much a snappy block can expand: the best
	// element is a 3-byte copy of 64 bytes. A declared length beyond it is
	// a lie, and rejecting it keeps a 5-byte header from making us allocate
	// the whole limit.
	maxSnappyRatio = 22
)

// decompress decodes src, compressed with c, into d's scratch buffer (a new
// slice when it has none) of at most max bytes. Malformed input wraps ErrCorrupt; output over max wraps ErrTooLarge.
func (d *Decoder) decompress(c Codec, src []byte) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch c {
	case CodecGzip:
		out, err = d.gunzip(d.scratch[:0], src)
	case CodecSnappy:
		out, err = unsnappy(d.scratch[:0], src, d.max)
	case CodecLZ4:
		out, err = d.unlz4(d.scratch[:0], src)
	case CodecZstd:
		out, err = d.unzstd(d.scratch[:0], src)
	default:
		return nil, fmt.Errorf("decompress: codec %v: %w", c, ErrCorrupt)
	}
	if err != nil {
		if !errors.Is(err, ErrTooLarge) {
			err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("decompress %v: %w", c, err)
	}
	return out, nil
}

// readLimited reads r to the end into dst (a new slice when nil) of at most
// max bytes, starting from a capacity of hint. The slice never grows beyond
// max+1 bytes, so the limit bounds memory as well as output.
func readLimited(dst []byte, r io.Reader, limit, hint int) ([]byte, error) {
	buf := slices.Grow(dst[:0], min(max(hint, 512), limit+1))
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				return nil, fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge)
			}
			buf = slices.Grow(buf, min(cap(buf), limit+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if len(buf) > limit {
				return nil, fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge)
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *Decoder) gunzip(dst, src []byte) ([]byte, error) {
	if d.gz == nil {
		d.gz = new(gzip.Reader)
	}
	if err := d.gz.Reset(bytes.NewReader(src)); err != nil {
		return nil, err
	}
	return readLimited(dst, d.gz, d.max, 4*len(src))
}

func (d *Decoder) unlz4(dst, src []byte) ([]byte, error) {
	if d.lz4 == nil {
		d.lz4 = lz4.NewReader(nil)
	}
	d.lz4.Reset(bytes.NewReader(src))
	return readLimited(dst, d.lz4, d.max, 4*len(src))
}

func (d *Decoder) unzstd(dst, src []byte) ([]byte, error) {
	if d.zstd == nil {
		z, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // DecodeAll only: no goroutines
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(max(d.max, 1))),
		)
		if err != nil {
			return nil, err
		}
		d.zstd = z
	}
	out, err := d.zstd.DecodeAll(src, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, fmt.Errorf("more than %d bytes: %w", d.max, ErrTooLarge)
	}
	return out, err
}

// unsnappy decodes either framing Kafka clients use for snappy: the xerial
// stream (Java, librdkafka) or a raw snappy block (franz-go, sarama).
func unsnappy(dst, src []byte, max int) ([]byte, error) {
	if hasXerialHeader(src) {
		return unxerial(dst, src[xerialHeaderSize:], max)
	}
	return unsnappyBlock(dst, src, max)
}

// hasXerialHeader reports whether b starts with a xerial stream header.
func hasXerialHeader(b []byte) bool {
	return len(b) >= xerialHeaderSize && string(b[:len(xerialMagic)]) == xerialMagic
}

// unsnappyBlock appends the decoding of one raw snappy block to dst, failing
// if dst would exceed max bytes.
func unsnappyBlock(dst, src []byte, max int) ([]byte, error) {
	n, err := snappyLen(src, max-len(dst))
	if err != nil {
		return nil, err
	}
	dst = slices.Grow(dst, n)
	// DecodeStrict is standard snappy, as the Java and C decoders accept,
	// without the s2 extensions s2.Decode would also take. Given the room,
	// it decodes in place into dst's spare capacity.
	if _, err := snappy.DecodeStrict(dst[len(dst):], src); err != nil {
		return nil, err
	}
	return dst[:len(dst)+n], nil
}

// snappyLen returns the decoded length a snappy block declares, checked
// against room and against what the block's size can produce.
func snappyLen(src []byte, room int) (int, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return 0, err
	}
	if n > room {
		return 0, fmt.Errorf("more than %d bytes: %w", room, ErrTooLarge)
	}
	if n > maxSnappyRatio*len(src) {
		return 0, fmt.Errorf("snappy block of %d bytes claims %d", len(src), n)
	}
	return n, nil
}

// unxerial decodes the blocks of a xerial stream after its header. Like
// snappy-java's SnappyInputStream it accepts concatenated streams, whose
// headers appear where a block length would.
func unxerial(dst, src []byte, max int) ([]byte, error) {
	// Walk the blocks once to check the framing and sum the declared
	// lengths, so that the output is allocated once and never beyond max.
	total := 0
	err := eachXerialBlock(src, func(block []byte) error {
		n, err := snappyLen(block, max-total)
		total += n
		return err
	})
	if err != nil {
		return nil, err
	}
	out := slices.Grow(dst, total)
	err = eachXerialBlock(src, func(block []byte) error {
		out, err = unsnappyBlock(out, block, total)
		return err
	})
	return out, err
}

// eachXerialBlock calls fn with each snappy block of a xerial stream.
func eachXerialBlock(src []byte, fn func(block []byte) error) error {
	for len(src) > 0 {
		if hasXerialHeader(src) {
			src = src[xerialHeaderSize:]
			continue
		}
		if len(src) < 4 {
			return errors.New("xerial: partial block length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return fmt.Errorf("xerial: block of %d bytes, have %d", n, len(src))
		}
		if err := fn(src[:n]); err != nil {
			return err
		}
		src = src[n:]
	}
	return nil
}

// compress appends src compressed with c to dst. It writes snappy in the
// xerial framing, as the Java client does, because every client reads it.
func compress(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		buf := bytes.NewBuffer(dst)
		w := gzip.NewWriter(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		dst = append(dst, xerialMagic...)
		dst = binary.BigEndian.AppendUint32(dst, 1) // version
		dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
		for len(src) > 0 {
			n := min(len(src), xerialBlockSize)
			block := snappy.Encode(nil, src[:n])
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(block)))
			dst = append(dst, block...)
			src = src[n:]
		}
		return dst, nil
	case CodecLZ4:
		buf := bytes.NewBuffer(dst)
		w := lz4.NewWriter(buf)
		// 64 KiB blocks, as the Java client writes, keep readers' buffers small.
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, err
		}
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CodecZstd:
		w, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true),
			zstd.WithWindowSize(64<<10), // small windows keep readers' memory low
		)
		if err != nil {
			return nil, err
		}
		out := w.EncodeAll(src, dst)
		if err := w.Close(); err != nil {
			return nil, err
		}
		return out, nil
	}
	return nil, fmt.Errorf("compress: unknown codec %v", c)
}
