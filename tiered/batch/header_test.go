package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"slices"
	"testing"
)

// mustEncode encodes b or fails the test.
func mustEncode(t testing.TB, b Batch) []byte {
	t.Helper()
	out, err := Encode(b)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return out
}

// sampleRecords returns n deterministic records covering null and empty keys
// and values and headers.
func sampleRecords(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		r := Record{Timestamp: 1_700_000_000_000 + int64(i*7%5)}
		switch i % 4 {
		case 0:
			r.Key, r.Value = []byte("key-"+string(rune('a'+i%26))), bytes.Repeat([]byte{byte(i)}, i%50)
		case 1:
			r.Key, r.Value = nil, []byte("value with a null key")
		case 2:
			r.Key, r.Value = []byte{}, nil // empty key, tombstone
			r.Headers = []RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "", Value: nil}}
		case 3:
			r.Key, r.Value = []byte("k"), []byte{}
			r.Headers = []RecordHeader{{Key: "trace", Value: []byte{}}}
		}
		recs[i] = r
	}
	return recs
}

func sampleBatch(codec Codec, n int) Batch {
	return Batch{
		BaseOffset:           1000,
		PartitionLeaderEpoch: 7,
		Codec:                codec,
		ProducerID:           42,
		ProducerEpoch:        3,
		BaseSequence:         100,
		Records:              sampleRecords(n),
	}
}

// fixCRC recomputes the CRC of the batch at the start of b after a test edits it.
func fixCRC(b []byte) {
	n := lengthOverhead + int(int32(binary.BigEndian.Uint32(b[posLength:])))
	binary.BigEndian.PutUint32(b[posCRC:], crc32.Checksum(b[posAttributes:n], castagnoli))
}

func TestReadHeader(t *testing.T) {
	good := mustEncode(t, sampleBatch(CodecNone, 5))
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"whole batch", good, nil},
		{"batch and more", append(bytes.Clone(good), 1, 2, 3), nil},
		{"empty", nil, ErrTruncated},
		{"before magic", good[:16], ErrTruncated},
		{"partial header", good[:HeaderSize-1], ErrTruncated},
		{"partial records", good[:len(good)-1], ErrTruncated},
		{"magic 1", edit(func(b []byte) { b[posMagic] = 1 }), ErrUnsupportedMagic},
		{"magic 1 short", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 26, 0, 0, 0, 0, 1}, ErrUnsupportedMagic},
		{"length below header", edit(func(b []byte) { binary.BigEndian.PutUint32(b[posLength:], minLength-1) }), ErrCorrupt},
		{"negative length", edit(func(b []byte) { binary.BigEndian.PutUint32(b[posLength:], 0x80000000) }), ErrCorrupt},
		{"huge length", edit(func(b []byte) { binary.BigEndian.PutUint32(b[posLength:], math.MaxInt32) }), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReadHeader(tt.in)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("ReadHeader: %v, want %v", err, tt.want)
			}
			if err == nil && h.Size() != len(good) {
				t.Fatalf("Size %d, want %d", h.Size(), len(good))
			}
		})
	}
}

func TestHeaderFields(t *testing.T) {
	b := mustEncode(t, Batch{
		BaseOffset:           1 << 40,
		PartitionLeaderEpoch: -1,
		Codec:                CodecZstd,
		Attributes:           AttrTransactional | AttrLogAppendTime,
		MaxTimestamp:         99,
		ProducerID:           5,
		ProducerEpoch:        2,
		BaseSequence:         math.MaxInt32 - 1,
		Records:              sampleRecords(3),
	})
	h, err := Verify(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 1 << 40, Length: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2,
		CRC: h.CRC, Attributes: AttrTransactional | AttrLogAppendTime | int16(CodecZstd),
		LastOffsetDelta: 2, FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 99,
		ProducerID: 5, ProducerEpoch: 2, BaseSequence: math.MaxInt32 - 1, NumRecords: 3,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"LastOffset", h.LastOffset(), int64(1<<40 + 2)},
		{"Compression", h.Compression(), CodecZstd},
		{"Transactional", h.Transactional(), true},
		{"Control", h.Control(), false},
		{"LogAppendTime", h.LogAppendTime(), true},
		{"DeleteHorizon", h.DeleteHorizon(), false},
		{"Idempotent", h.Idempotent(), true},
		{"LastSequence wraps", h.LastSequence(), int32(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLastSequence(t *testing.T) {
	tests := []struct {
		base, delta, want int32
	}{
		{-1, 10, -1},
		{0, 0, 0},
		{5, 4, 9},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 2, 5, 2},
	}
	for _, tt := range tests {
		h := Header{BaseSequence: tt.base, LastOffsetDelta: tt.delta}
		if got := h.LastSequence(); got != tt.want {
			t.Errorf("LastSequence(base %d, delta %d) = %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

func TestVerify(t *testing.T) {
	good := mustEncode(t, sampleBatch(CodecGzip, 4))
	tests := []struct {
		name   string
		edit   func(b []byte)
		fixCRC bool
		want   error
	}{
		{"good", func([]byte) {}, false, nil},
		{"base offset rewritten", func(b []byte) { SetBaseOffset(b, 77) }, false, nil},
		{"leader epoch rewritten", func(b []byte) { SetPartitionLeaderEpoch(b, 9) }, false, nil},
		{"flipped record byte", func(b []byte) { b[len(b)-3] ^= 1 }, false, ErrCorrupt},
		{"flipped attribute", func(b []byte) { b[posAttributes+1] ^= 0x10 }, false, ErrCorrupt},
		{"flipped crc", func(b []byte) { b[posCRC] ^= 0xff }, false, ErrCorrupt},
		{"negative base offset", func(b []byte) { SetBaseOffset(b, -1) }, false, ErrCorrupt},
		{"last offset overflows", func(b []byte) { SetBaseOffset(b, math.MaxInt64-1) }, false, ErrCorrupt},
		{"negative count", func(b []byte) { binary.BigEndian.PutUint32(b[posNumRecords:], 0xffffffff) }, true, ErrCorrupt},
		{"negative last delta", func(b []byte) { binary.BigEndian.PutUint32(b[posLastDelta:], 0xffffffff) }, true, ErrCorrupt},
		{"more records than offsets", func(b []byte) { binary.BigEndian.PutUint32(b[posNumRecords:], 5) }, true, ErrCorrupt},
		{"codec 5", func(b []byte) { b[posAttributes+1] |= 0x07; b[posAttributes+1] &^= 0x02 }, true, ErrCorrupt},
		{"magic 0", func(b []byte) { b[posMagic] = 0 }, false, ErrUnsupportedMagic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tt.edit(b)
			if tt.fixCRC {
				fixCRC(b)
			}
			_, err := Verify(b)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyUncompressedCountBound(t *testing.T) {
	b := mustEncode(t, Batch{Records: []Record{{}}, LastOffsetDelta: 100})
	binary.BigEndian.PutUint32(b[posNumRecords:], 2) // two records need 14 bytes; there are ~8
	fixCRC(b)
	if _, err := Verify(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify: %v, want ErrCorrupt", err)
	}
}

func TestEach(t *testing.T) {
	var all []byte
	var want []int64
	for i, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := sampleBatch(c, i+1)
		b.BaseOffset = int64(i * 10)
		want = append(want, b.BaseOffset)
		all = append(all, mustEncode(t, b)...)
	}
	var got []int64
	err := Each(all, func(b []byte, h Header) error {
		if len(b) != h.Size() || cap(b) != len(b) {
			t.Errorf("batch len %d cap %d, size %d", len(b), cap(b), h.Size())
		}
		if _, err := Verify(b); err != nil {
			t.Errorf("Verify: %v", err)
		}
		got = append(got, h.BaseOffset)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("base offsets %v, want %v", got, want)
	}

	t.Run("empty", func(t *testing.T) {
		if err := Each(nil, func([]byte, Header) error { t.Fatal("called"); return nil }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("trailing partial batch", func(t *testing.T) {
		n := 0
		err := Each(all[:len(all)-5], func([]byte, Header) error { n++; return nil })
		if !errors.Is(err, ErrTruncated) || n != len(want)-1 {
			t.Fatalf("Each: %v after %d batches, want ErrTruncated after %d", err, n, len(want)-1)
		}
	})
	t.Run("callback error", func(t *testing.T) {
		stop := errors.New("stop")
		if err := Each(all, func([]byte, Header) error { return stop }); err != stop {
			t.Fatalf("Each: %v, want the callback's error unwrapped", err)
		}
	})
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{
		CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy",
		CodecLZ4: "lz4", CodecZstd: "zstd", 6: "codec(6)",
	} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", c, got, want)
		}
	}
}
