package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/klauspost/compress/s2"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// sameRecord compares records, telling nil from empty keys and values.
func sameRecord(got, want Record) error {
	if got.Offset != want.Offset || got.Timestamp != want.Timestamp {
		return fmt.Errorf("offset/timestamp %d/%d, want %d/%d", got.Offset, got.Timestamp, want.Offset, want.Timestamp)
	}
	if err := sameBytes("key", got.Key, want.Key); err != nil {
		return err
	}
	if err := sameBytes("value", got.Value, want.Value); err != nil {
		return err
	}
	if len(got.Headers) != len(want.Headers) {
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key {
			return fmt.Errorf("header %d key %q, want %q", i, got.Headers[i].Key, want.Headers[i].Key)
		}
		if err := sameBytes("header value", got.Headers[i].Value, want.Headers[i].Value); err != nil {
			return err
		}
	}
	return nil
}

func sameBytes(what string, got, want []byte) error {
	if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
		return fmt.Errorf("%s %q (nil %t), want %q (nil %t)", what, got, got == nil, want, want == nil)
	}
	return nil
}

func TestRoundTrip(t *testing.T) {
	for _, c := range allCodecs {
		for _, n := range []int{0, 1, 3, 200} {
			t.Run(fmt.Sprintf("%v/%d", c, n), func(t *testing.T) {
				desc := sampleBatch(c, n)
				b := mustEncode(t, desc)
				h, err := Verify(b)
				if err != nil {
					t.Fatal(err)
				}
				if h.Size() != len(b) || h.NumRecords != int32(n) || h.LastOffsetDelta != int32(max(n-1, 0)) {
					t.Fatalf("header %+v for %d records of %d bytes", h, n, len(b))
				}
				if wantCodec := c; n > 0 && h.Compression() != wantCodec || n == 0 && h.Compression() != CodecNone {
					t.Fatalf("codec %v", h.Compression())
				}
				recs, err := Records(b, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != n {
					t.Fatalf("%d records, want %d", len(recs), n)
				}
				for i, r := range recs {
					want := desc.Records[i]
					want.Offset = desc.BaseOffset + int64(i)
					if err := sameRecord(r, want); err != nil {
						t.Fatalf("record %d: %v", i, err)
					}
				}
			})
		}
	}
}

func TestEncodeTimestamps(t *testing.T) {
	recs := []Record{{Timestamp: 50}, {Timestamp: 20}, {Timestamp: 90}, {Timestamp: 60}}
	t.Run("create time", func(t *testing.T) {
		h, got := encodeDecode(t, Batch{Records: recs})
		if h.FirstTimestamp != 50 || h.MaxTimestamp != 90 {
			t.Fatalf("first %d max %d, want 50 90", h.FirstTimestamp, h.MaxTimestamp)
		}
		for i := range got {
			if got[i].Timestamp != recs[i].Timestamp {
				t.Fatalf("record %d timestamp %d, want %d", i, got[i].Timestamp, recs[i].Timestamp)
			}
		}
	})
	t.Run("log append time", func(t *testing.T) {
		h, got := encodeDecode(t, Batch{Attributes: AttrLogAppendTime, MaxTimestamp: 1234, Records: recs})
		if h.MaxTimestamp != 1234 || !h.LogAppendTime() {
			t.Fatalf("header %+v", h)
		}
		for i := range got {
			if got[i].Timestamp != 1234 {
				t.Fatalf("record %d timestamp %d, want the append time", i, got[i].Timestamp)
			}
		}
	})
	t.Run("delete horizon", func(t *testing.T) {
		h, got := encodeDecode(t, Batch{Attributes: AttrDeleteHorizon, FirstTimestamp: 7, Records: recs})
		if h.FirstTimestamp != 7 || !h.DeleteHorizon() {
			t.Fatalf("header %+v", h)
		}
		for i := range got {
			if got[i].Timestamp != recs[i].Timestamp {
				t.Fatalf("record %d timestamp %d, want %d", i, got[i].Timestamp, recs[i].Timestamp)
			}
		}
	})
	t.Run("no records", func(t *testing.T) {
		h, _ := encodeDecode(t, Batch{Codec: CodecGzip, LastOffsetDelta: 4})
		if h.FirstTimestamp != -1 || h.MaxTimestamp != -1 || h.LastOffsetDelta != 4 || h.Compression() != CodecNone {
			t.Fatalf("header %+v", h)
		}
	})
}

func encodeDecode(t *testing.T, b Batch) (Header, []Record) {
	t.Helper()
	enc := mustEncode(t, b)
	h, err := Verify(enc)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Records(enc, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return h, recs
}

// TestEncodeKeepOffsets encodes what compaction writes: a subset of records
// keeping their offsets and the original batch's last offset.
func TestEncodeKeepOffsets(t *testing.T) {
	recs := []Record{{Offset: 100}, {Offset: 103}, {Offset: 107}}
	h, got := encodeDecode(t, Batch{BaseOffset: 100, KeepOffsets: true, LastOffsetDelta: 9, Records: recs})
	if h.LastOffset() != 109 || h.NumRecords != 3 {
		t.Fatalf("header %+v", h)
	}
	for i := range got {
		if got[i].Offset != recs[i].Offset {
			t.Fatalf("record %d offset %d, want %d", i, got[i].Offset, recs[i].Offset)
		}
	}
	for _, bad := range [][]Record{
		{{Offset: 99}},
		{{Offset: 101}, {Offset: 101}},
		{{Offset: 100 + math.MaxInt32 + 1}},
	} {
		if _, err := Encode(Batch{BaseOffset: 100, KeepOffsets: true, Records: bad}); err == nil {
			t.Errorf("Encode(%v) succeeded", bad)
		}
	}
}

func TestEncodeInvalid(t *testing.T) {
	for name, b := range map[string]Batch{
		"compression attribute": {Attributes: 1},
		"codec 7":               {Codec: 7},
		"negative last delta":   {LastOffsetDelta: -1},
	} {
		if _, err := Encode(b); err == nil {
			t.Errorf("%s: Encode succeeded", name)
		}
	}
}

// rawBatch builds a batch around a hand-made records section.
func rawBatch(codec Codec, numRecords, lastDelta int32, records []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	b = append(b, records...)
	putHeader(b, Header{
		Length: int32(len(b) - lengthOverhead), Magic: Magic, Attributes: int16(codec),
		LastOffsetDelta: lastDelta, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		NumRecords: numRecords,
	})
	fixCRC(b)
	return b
}

func varints(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return b
}

// record builds a record from its fields after the length, adding the length.
func record(fields ...[]byte) []byte {
	body := bytes.Join(fields, nil)
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func TestEachRecordCorrupt(t *testing.T) {
	attrs := []byte{0}
	good := record(attrs, varints(0, 0, 1), []byte("k"), varints(1), []byte("v"), varints(0))
	tests := []struct {
		name    string
		n, last int32
		recs    []byte
	}{
		{"count above records", 2, 1, append(bytes.Clone(good), good...)[:len(good)+1]},
		{"count below records", 1, 1, append(bytes.Clone(good), good...)},
		{"negative record length", 1, 0, append(varints(-2), good[1:]...)},
		{"record length past end", 1, 0, append(varints(100), good[1:]...)},
		{"record longer than fields", 1, 0, record(attrs, varints(0, 0, -1, -1, 0), []byte{0})},
		{"record shorter than fields", 1, 0, append(varints(3), good[1:]...)},
		{"key length past record", 1, 0, record(attrs, varints(0, 0, 50), []byte("k"), varints(-1, 0))},
		{"key length -2", 1, 0, record(attrs, varints(0, 0, -2, -1, 0))},
		{"negative offset delta", 1, 0, record(attrs, varints(0, -1, -1, -1, 0))},
		{"offset delta past last", 1, 0, record(attrs, varints(0, 1, -1, -1, 0))},
		{"offset deltas not increasing", 2, 1, append(record(attrs, varints(0, 0, -1, -1, 0)), record(attrs, varints(0, 0, -1, -1, 0))...)},
		{"header count past end", 1, 0, record(attrs, varints(0, 0, -1, -1, 100))},
		{"negative header count", 1, 0, record(attrs, varints(0, 0, -1, -1, -1))},
		{"null header key", 1, 0, record(attrs, varints(0, 0, -1, -1, 1, -1, -1))},
		{"varint over 5 bytes", 1, 0, record(attrs, varints(0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, varints(-1, -1, 0))},
		{"varint over int32", 1, 0, record(attrs, varints(0, math.MaxInt32+1, -1, -1, 0))},
		{"unterminated varlong", 1, 0, record(attrs, bytes.Repeat([]byte{0xff}, 11))},
		{"missing attributes", 1, 0, append(varints(0), make([]byte, 6)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range allCodecs {
				recs, err := compress(nil, c, tt.recs)
				if err != nil {
					t.Fatal(err)
				}
				b := rawBatch(c, tt.n, tt.last, recs)
				err = EachRecord(b, 1<<20, func(Record) error { return nil })
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%v: EachRecord: %v, want ErrCorrupt", c, err)
				}
			}
		})
	}

	t.Run("good", func(t *testing.T) {
		recs, err := Records(rawBatch(CodecNone, 1, 0, good), 100)
		if err != nil || len(recs) != 1 || string(recs[0].Key) != "k" || string(recs[0].Value) != "v" {
			t.Fatalf("Records: %v, %v", recs, err)
		}
	})
	t.Run("bad compressed data", func(t *testing.T) {
		for _, c := range allCodecs[1:] {
			err := EachRecord(rawBatch(c, 1, 0, good), 1<<20, func(Record) error { return nil })
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%v: EachRecord: %v, want ErrCorrupt", c, err)
			}
		}
	})
}

// TestDecompressLimit checks that highly compressible records beyond the
// limit fail with ErrTooLarge, and that the limit is inclusive.
func TestDecompressLimit(t *testing.T) {
	desc := Batch{Records: []Record{{Value: make([]byte, 1<<20)}}}
	for _, c := range allCodecs[1:] {
		desc.Codec = c
		b := mustEncode(t, desc)
		raw, _, err := desc.appendRecords(nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := EachRecord(b, len(raw)-1, func(Record) error { return nil }); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%v: limit %d: %v, want ErrTooLarge", c, len(raw)-1, err)
		}
		if err := EachRecord(b, len(raw), func(Record) error { return nil }); err != nil {
			t.Errorf("%v: limit %d: %v", c, len(raw), err)
		}
		t.Logf("%v: %d bytes decompress to %d", c, len(b), len(raw))
	}
}

func TestSnappyFramings(t *testing.T) {
	desc := sampleBatch(CodecNone, 300) // more than one 32 KiB xerial block
	for i := range desc.Records {
		desc.Records[i].Value = bytes.Repeat([]byte{byte(i)}, 200)
	}
	raw, _, err := desc.appendRecords(nil, desc.Records[0].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) <= xerialBlockSize {
		t.Fatalf("records section of %d bytes fits one xerial block", len(raw))
	}
	xerial, err := compress(nil, CodecSnappy, raw)
	if err != nil {
		t.Fatal(err)
	}
	half := len(raw) / 2
	// snappy-java accepts concatenated streams; so do we.
	concat, _ := compress(nil, CodecSnappy, raw[:half])
	tail, _ := compress(nil, CodecSnappy, raw[half:])
	concat = append(concat, tail...)

	for name, section := range map[string][]byte{
		"raw":          s2.EncodeSnappy(nil, raw),
		"xerial":       xerial,
		"concatenated": concat,
	} {
		t.Run(name, func(t *testing.T) {
			b := rawBatch(CodecSnappy, int32(len(desc.Records)), int32(len(desc.Records)-1), section)
			recs, err := Records(b, len(raw))
			if err != nil {
				t.Fatal(err)
			}
			for i := range recs {
				if !bytes.Equal(recs[i].Value, desc.Records[i].Value) {
					t.Fatalf("record %d value differs", i)
				}
			}
			if _, err := Records(b, len(raw)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("limit below size: %v, want ErrTooLarge", err)
			}
		})
	}
	t.Run("lying length", func(t *testing.T) {
		// A 6-byte block claiming 1 GiB must fail before allocating it.
		block := append(binary.AppendUvarint(nil, 1<<30), 0, 0, 0, 0)
		b := rawBatch(CodecSnappy, 1, 0, block)
		if _, err := Records(b, 2<<30); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Records: %v, want ErrCorrupt", err)
		}
	})
	t.Run("truncated xerial", func(t *testing.T) {
		b := rawBatch(CodecSnappy, int32(len(desc.Records)), int32(len(desc.Records)-1), xerial[:len(xerial)-1])
		if _, err := Records(b, 1<<20); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Records: %v, want ErrCorrupt", err)
		}
	})
}

// TestDecoderReuse decodes many batches of every codec with one Decoder, and
// checks that records of earlier batches stay intact.
func TestDecoderReuse(t *testing.T) {
	d := NewDecoder(1 << 20)
	defer d.Close()
	var kept [][]Record
	var want [][]Record
	for i := range 20 {
		desc := sampleBatch(allCodecs[i%len(allCodecs)], i+1)
		recs, err := d.Records(mustEncode(t, desc))
		if err != nil {
			t.Fatal(err)
		}
		kept, want = append(kept, recs), append(want, desc.Records)
	}
	for i := range kept {
		for j := range kept[i] {
			w := want[i][j]
			w.Offset = 1000 + int64(j)
			if err := sameRecord(kept[i][j], w); err != nil {
				t.Fatalf("batch %d record %d: %v", i, j, err)
			}
		}
	}
}

func TestEachRecordStops(t *testing.T) {
	b := mustEncode(t, sampleBatch(CodecLZ4, 10))
	stop := errors.New("stop")
	n := 0
	err := EachRecord(b, 1<<20, func(Record) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("EachRecord: %v after %d records", err, n)
	}
}

// TestScratchDecoder: a scratch Decoder decodes every codec correctly while
// reusing one buffer, and a stream of snappy batches of records without
// headers allocates nothing once the buffer has grown.
func TestScratchDecoder(t *testing.T) {
	d := NewScratchDecoder(1 << 20)
	defer d.Close()
	for i := range 20 {
		desc := sampleBatch(allCodecs[i%len(allCodecs)], i+1)
		j := 0
		err := d.EachRecord(mustEncode(t, desc), func(r Record) error {
			w := desc.Records[j]
			w.Offset = 1000 + int64(j)
			j++
			return sameRecord(r, w)
		})
		if err != nil || j != len(desc.Records) {
			t.Fatalf("batch %d: %d records, %v", i, j, err)
		}
	}
	plain := Batch{Codec: CodecSnappy, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i := range 50 {
		plain.Records = append(plain.Records, Record{Timestamp: int64(i), Key: []byte("k"), Value: bytes.Repeat([]byte{'v'}, 1000)})
	}
	b := mustEncode(t, plain)
	count := func(Record) error { return nil }
	if err := d.EachRecord(b, count); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(20, func() { _ = d.EachRecord(b, count) }); allocs > 0 {
		t.Fatalf("%v allocations per snappy batch, want none", allocs)
	}
}
