package compact

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
)

// benchLog returns n batches of 100 records each, 100-byte values, keys drawn
// from 1,000 so that most records are superseded, in codec c.
func benchLog(b *testing.B, n int, c batch.Codec) [][]byte {
	b.Helper()
	var (
		log [][]byte
		off int64
	)
	for range n {
		s := spec{base: off, codec: c}
		for range 100 {
			s.recs = append(s.recs, kv{key: fmt.Appendf(nil, "key-%04d", off*7919%1000), value: fmt.Appendf(nil, "%0100d", off)})
			off++
		}
		log = append(log, encode(b, s))
	}
	return log
}

// size returns the bytes of the batches.
func size(log [][]byte) int64 {
	var n int64
	for _, b := range log {
		n += int64(len(b))
	}
	return n
}

// reportRaw reports throughput in uncompressed bytes (the log's size without
// compression) as raw-MB/s, next to MB/s of stored bytes.
func reportRaw(b *testing.B, raw int64) {
	b.ReportMetric(float64(raw)*float64(b.N)/b.Elapsed().Seconds()/1e6, "raw-MB/s")
}

// BenchmarkClean measures Cleaner.Clean over a log (its map already built),
// in MB/s of input batches as stored and as uncompressed (raw-MB/s);
// BenchmarkClean/add-* measures OffsetMap.Add.
func BenchmarkClean(b *testing.B) {
	raw := size(benchLog(b, 100, batch.CodecNone))
	for _, c := range codecs {
		log := benchLog(b, 100, c)
		size := size(log)
		b.Run("add-"+c.String(), func(b *testing.B) {
			defer reportRaw(b, raw)
			b.SetBytes(size)
			for b.Loop() {
				m := NewOffsetMap(1<<20, 0)
				for _, bt := range log {
					if err := m.Add(bt); err != nil {
						b.Fatal(err)
					}
				}
				m.Close()
			}
		})
		b.Run("clean-"+c.String(), func(b *testing.B) {
			defer reportRaw(b, raw)
			m := buildMap(b, log)
			b.SetBytes(size)
			for b.Loop() {
				cl := &Cleaner{Map: m, Now: now, DeleteRetentionMs: deleteRetMs}
				for _, bt := range log {
					if _, err := cl.Clean(bt, batch.Header{}); err != nil {
						b.Fatal(err)
					}
				}
				cl.Close()
			}
		})
	}
}

// BenchmarkRewrite merges partition 1 out of 32 local L0 objects (fs bucket),
// in MB/s of partition 1's input blocks. baseline-put-get is the same bytes
// PUT as one object and read back with one GET: the bucket's raw speed in the
// same run, to compare with.
func BenchmarkRewrite(b *testing.B) {
	bucket := newBucket(b)
	in := writeL0(b, bucket, 32, 512, 0)
	var size int64
	for _, e := range in.entries {
		size += e.Length
	}
	ctx := context.Background()
	run := func(b *testing.B, cfg func() Config) {
		b.SetBytes(size)
		for b.Loop() {
			res, err := Rewrite(ctx, cfg(), in.entries)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			for _, key := range res.Objects {
				if err := bucket.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
	}
	b.Run("baseline-put-get", func(b *testing.B) {
		data := in.all()
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("raw/%d", i)
			i++
			if err := bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
			readObject(b, bucket, key)
			b.StopTimer()
			if err := bucket.Delete(ctx, key); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("merge", func(b *testing.B) {
		run(b, func() Config { return Config{Bucket: bucket, NewKey: keys("out")} })
	})
	b.Run("merge-clean", func(b *testing.B) {
		m := buildMap(b, in.batches)
		run(b, func() Config {
			c := &Cleaner{Map: m, Now: now, DeleteRetentionMs: deleteRetMs}
			return Config{Bucket: bucket, NewKey: keys("out"), Clean: c.Clean}
		})
	})
}
