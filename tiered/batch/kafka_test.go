package batch

// Cross-checks against franz-go, an independent implementation of the format
// used by real clients: kmsg encodes and parses batch headers and records,
// kgo compresses and decompresses them as its producer and consumer do, and a
// kgo producer against kfake yields batches exactly as a client sends them.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var kgoCodecs = map[Codec]kgo.CompressionCodec{
	CodecNone:   kgo.NoCompression(),
	CodecGzip:   kgo.GzipCompression(),
	CodecSnappy: kgo.SnappyCompression(),
	CodecLZ4:    kgo.Lz4Compression(),
	CodecZstd:   kgo.ZstdCompression(),
}

// kmsgBatch encodes recs with kmsg and compresses them with kgo's compressor,
// computing the CRC as a producer does.
func kmsgBatch(t *testing.T, c Codec, base int64, recs []Record) []byte {
	t.Helper()
	var raw []byte
	for i, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.Timestamp - recs[0].Timestamp,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		body := kr.AppendTo(nil)[1:] // drop the zero length AppendTo wrote
		kr.Length = int32(len(body))
		raw = kr.AppendTo(raw)
	}
	records := raw
	if c != CodecNone {
		comp, err := kgo.DefaultCompressor(kgoCodecs[c])
		if err != nil {
			t.Fatal(err)
		}
		out, used := comp.Compress(new(bytes.Buffer), raw)
		if used != kgo.CompressionCodecType(c) {
			t.Fatalf("kgo compressed with %v, want %v", used, c)
		}
		records = bytes.Clone(out)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          base,
		Length:               int32(minLength + len(records)),
		PartitionLeaderEpoch: 4,
		Magic:                2,
		Attributes:           int16(c),
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       recs[0].Timestamp,
		MaxTimestamp:         recs[0].Timestamp,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              records,
	}
	for _, r := range recs {
		kb.MaxTimestamp = max(kb.MaxTimestamp, r.Timestamp)
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[posCRC:], crc32.Checksum(b[posAttributes:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestDecodeKmsgBatch decodes batches that kmsg encoded and kgo compressed.
func TestDecodeKmsgBatch(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			want := sampleRecords(50)
			b := kmsgBatch(t, c, 500, want)
			h, err := Verify(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != 500 || h.NumRecords != 50 || h.Compression() != c || h.Idempotent() {
				t.Fatalf("header %+v", h)
			}
			got, err := Records(b, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				want[i].Offset = 500 + int64(i)
				if err := sameRecord(got[i], want[i]); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
		})
	}
}

// TestEncodeReadByKmsg parses Encode's output with kmsg and kgo's decompressor.
func TestEncodeReadByKmsg(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			desc := sampleBatch(c, 50)
			b := mustEncode(t, desc)
			h, err := ReadHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			got := Header{
				BaseOffset: kb.FirstOffset, Length: kb.Length, PartitionLeaderEpoch: kb.PartitionLeaderEpoch,
				Magic: kb.Magic, CRC: uint32(kb.CRC), Attributes: kb.Attributes, LastOffsetDelta: kb.LastOffsetDelta,
				FirstTimestamp: kb.FirstTimestamp, MaxTimestamp: kb.MaxTimestamp, ProducerID: kb.ProducerID,
				ProducerEpoch: kb.ProducerEpoch, BaseSequence: kb.FirstSequence, NumRecords: kb.NumRecords,
			}
			if got != h {
				t.Fatalf("kmsg header\n got %+v\nwant %+v", got, h)
			}
			if sum := crc32.Checksum(b[posAttributes:], crc32.MakeTable(crc32.Castagnoli)); uint32(kb.CRC) != sum {
				t.Fatalf("crc %08x, computed %08x", uint32(kb.CRC), sum)
			}
			raw, err := kgo.DefaultDecompressor().Decompress(kb.Records, kgo.CompressionCodecType(c))
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range desc.Records {
				var kr kmsg.Record
				if err := kr.ReadFrom(raw); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				n, m := binary.Varint(raw)
				raw = raw[int(n)+m:]
				r := Record{
					Offset:    kb.FirstOffset + int64(kr.OffsetDelta),
					Timestamp: kb.FirstTimestamp + kr.TimestampDelta64,
					Key:       kr.Key, Value: kr.Value,
				}
				for _, h := range kr.Headers {
					r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
				}
				want.Offset = desc.BaseOffset + int64(i)
				if err := sameRecord(r, want); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			if len(raw) != 0 {
				t.Fatalf("%d bytes after the records", len(raw))
			}
		})
	}
}

// TestEncodeReadByKgoConsumer runs Encode's output through the code path a
// franz-go consumer uses on fetch responses.
func TestEncodeReadByKgoConsumer(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			var all []byte
			var want []Record
			for i := range 3 {
				desc := sampleBatch(c, 10)
				desc.BaseOffset = int64(i * 10)
				all = append(all, mustEncode(t, desc)...)
				for j, r := range desc.Records {
					r.Offset = desc.BaseOffset + int64(j)
					want = append(want, r)
				}
			}
			fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t"},
				&kmsg.FetchResponseTopicPartition{RecordBatches: all, HighWatermark: 30}, kgo.DefaultDecompressor(), nil)
			if fp.Err != nil {
				t.Fatal(fp.Err)
			}
			if len(fp.Records) != len(want) {
				t.Fatalf("kgo decoded %d records, want %d", len(fp.Records), len(want))
			}
			for i, kr := range fp.Records {
				r := Record{Offset: kr.Offset, Timestamp: kr.Timestamp.UnixMilli(), Key: kr.Key, Value: kr.Value}
				for _, h := range kr.Headers {
					r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
				}
				// kgo returns empty keys and values as nil; compare contents.
				w := want[i]
				w.Key, w.Value = nilIfEmpty(w.Key), nilIfEmpty(w.Value)
				r.Key, r.Value = nilIfEmpty(r.Key), nilIfEmpty(r.Value)
				for j := range w.Headers {
					w.Headers[j].Value = nilIfEmpty(w.Headers[j].Value)
					r.Headers[j].Value = nilIfEmpty(r.Headers[j].Value)
				}
				if err := sameRecord(r, w); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
		})
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// TestDecodeFranzGoProducer captures the batches a franz-go producer sends
// (through kfake's request hook) and decodes them, for every codec and, for
// snappy, both framings: kgo writes raw snappy, and xerial when streaming
// compression merges batches, as the Java client always does.
func TestDecodeFranzGoProducer(t *testing.T) {
	type producer struct {
		name  string
		codec Codec
		opts  []kgo.Opt
	}
	producers := []producer{{name: "snappy-xerial", codec: CodecSnappy, opts: xerialOpts()}}
	for _, c := range allCodecs {
		producers = append(producers, producer{name: c.String(), codec: c, opts: []kgo.Opt{kgoProducerCodec(c)}})
	}
	for _, p := range producers {
		t.Run(p.name, func(t *testing.T) {
			const n = 3000
			batches := produceWithKgo(t, n, p.opts...)
			next, xerial, compressed := 0, 0, 0
			for _, req := range batches {
				err := Each(req, func(b []byte, h Header) error {
					if _, err := Verify(b); err != nil {
						return err
					}
					// kgo sends a batch uncompressed when compressing
					// would not shrink it.
					if c := h.Compression(); c != p.codec && c != CodecNone || !h.Idempotent() || h.BaseSequence != int32(next) {
						t.Errorf("batch header %+v, want codec %v, idempotent, sequence %d", h, p.codec, next)
					}
					if h.Compression() == p.codec {
						compressed++
					}
					if hasXerialHeader(b[HeaderSize:]) {
						xerial++
					}
					return EachRecord(b, 16<<20, func(r Record) error {
						if err := checkProduced(r, next); err != nil {
							return err
						}
						next++
						return nil
					})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if next != n || compressed == 0 {
				t.Fatalf("decoded %d records, want %d; %d batches used the codec", next, n, compressed)
			}
			t.Logf("%d requests, %d xerial batches", len(batches), xerial)
		})
	}
}

// produceValue is the value of the i-th produced record: its index, then
// filler that compresses.
func produceValue(i int) []byte {
	return fmt.Appendf(nil, "%06d:%s", i, bytes.Repeat([]byte{'a' + byte(i%26)}, 10+i%90))
}

// checkProduced checks that r is the i-th record produceWithKgo sent.
func checkProduced(r Record, i int) error {
	if string(r.Key) != "key" || !bytes.Equal(r.Value, produceValue(i)) {
		return fmt.Errorf("record %d: key %q value %q, want value %q", i, r.Key, r.Value, produceValue(i))
	}
	if len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "v" {
		return fmt.Errorf("record %d: headers %v", i, r.Headers)
	}
	return nil
}

func kgoProducerCodec(c Codec) kgo.Opt { return kgo.ProducerBatchCompression(kgoCodecs[c]) }

// xerialOpts make kgo merge its backlog of small batches with streaming
// compression, which frames snappy as xerial.
func xerialOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		kgo.StreamingCompression(),
		kgo.ProducerBatchMaxBytes(16 << 10),
		kgo.MaxProduceRequestsInflightPerBroker(1),
	}
}

// produceWithKgo produces n records with a franz-go client to a kfake cluster,
// the first alone and the rest at once, and returns the records field of
// every produce request the client sent, in order.
func produceWithKgo(t *testing.T, n int, opts ...kgo.Opt) [][]byte {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	var (
		mu      sync.Mutex
		batches [][]byte
	)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				batches = append(batches, bytes.Clone(p.Records))
			}
		}
		return nil, nil, false
	})
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cluster.ListenAddrs()...),
		kgo.DefaultProduceTopic("t"),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte("key"), Value: produceValue(i), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
	}
	// The first record alone gets a produce response back before the
	// rest, which streaming compression waits for.
	if err := cl.ProduceSync(ctx, recs[0]).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, recs[1:]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return batches
}
