package export

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/stratalog/strata/replay"
	"github.com/stratalog/strata/tiered/batch"
)

// TestIcebergCommit: a commit adds the files the table lacks as one
// snapshot, a second commit with nothing new writes nothing, new files
// append a snapshot that keeps the earlier manifests, and files of another
// schema are refused. (cmd/strata's tests read the tables with pyiceberg.)
func TestIcebergCommit(t *testing.T) {
	j, dir := testJob(t, nil, 0)
	j.cfg.IcebergLocation = "file://" + filepath.ToSlash(dir) + "/t"
	write := func(first, n int64, day time.Time) {
		t.Helper()
		f := &partitionFile{job: j}
		for o := first; o < first+n; o++ {
			if err := f.add(t.Context(), replay.Record{Offset: o, Timestamp: day.UnixMilli(), Value: value(int(o))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.finish(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	d1, d2 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	write(0, 10, d1)
	write(10, 5, d2)
	commit := func() (int, map[string]bool) {
		t.Helper()
		if err := j.commitIceberg(t.Context(), j.schema); err != nil {
			t.Fatal(err)
		}
		meta, version, err := loadTableMetadata(t.Context(), j.cfg.Out, "t")
		if err != nil || meta == nil {
			t.Fatalf("metadata: %v", err)
		}
		held, err := tableFiles(t.Context(), j.cfg.Out, "t", j.cfg.IcebergLocation, meta)
		if err != nil {
			t.Fatal(err)
		}
		return version, held
	}
	if v, held := commit(); v != 1 || len(held) != 2 {
		t.Fatalf("first commit: v%d holding %v", v, held)
	}
	if v, held := commit(); v != 1 || len(held) != 2 {
		t.Fatalf("commit of nothing new: v%d holding %v", v, held)
	}
	write(15, 3, d2)
	v, held := commit()
	if v != 2 || len(held) != 3 {
		t.Fatalf("append: v%d holding %v", v, held)
	}
	for p := range held {
		if !strings.HasPrefix(p, j.cfg.IcebergLocation+"/date=2026-11-0") {
			t.Fatalf("data file path %s", p)
		}
	}

	// Files of another schema (bytes values as strings) are refused.
	if err := j.commitIceberg(t.Context(), Schema(parquet.Optional(parquet.String()), false)); !errors.Is(err, ErrIcebergSchema) {
		t.Fatalf("another schema: %v", err)
	}
}

// manifestEntry is a manifest entry with the fields these tests check,
// decoded by hamba/avro from the manifest's own (writer) schema.
type manifestEntry struct {
	Status   int32 `avro:"status"`
	DataFile struct {
		FilePath    string     `avro:"file_path"`
		RecordCount int64      `avro:"record_count"`
		ColumnSizes *[]kvLong  `avro:"column_sizes"`
		ValueCounts *[]kvLong  `avro:"value_counts"`
		NullCounts  *[]kvLong  `avro:"null_value_counts"`
		LowerBounds *[]kvBytes `avro:"lower_bounds"`
		UpperBounds *[]kvBytes `avro:"upper_bounds"`
	} `avro:"data_file"`
}

type kvLong struct {
	Key   int32 `avro:"key"`
	Value int64 `avro:"value"`
}

type kvBytes struct {
	Key   int32  `avro:"key"`
	Value []byte `avro:"value"`
}

func longs(kv *[]kvLong) map[int]int64 {
	m := map[int]int64{}
	if kv != nil {
		for _, e := range *kv {
			m[int(e.Key)] = e.Value
		}
	}
	return m
}

func byteMap(kv *[]kvBytes) map[int][]byte {
	m := map[int][]byte{}
	if kv != nil {
		for _, e := range *kv {
			m[int(e.Key)] = e.Value
		}
	}
	return m
}

// readManifestEntries commits j's files to its table and returns the
// entries of the current snapshot's manifests, by data file path.
func readManifestEntries(t *testing.T, j *Job) map[string]manifestEntry {
	t.Helper()
	if err := j.commitIceberg(t.Context(), j.schema); err != nil {
		t.Fatal(err)
	}
	meta, _, err := loadTableMetadata(t.Context(), j.cfg.Out, "t")
	if err != nil || meta == nil {
		t.Fatalf("metadata: %v", err)
	}
	list, err := currentManifests(t.Context(), j.cfg.Out, "t", j.cfg.IcebergLocation, meta)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]manifestEntry{}
	for _, mf := range list {
		key, _ := keyOf("t", j.cfg.IcebergLocation, mf["manifest_path"].(string))
		data, err := readObject(t.Context(), j.cfg.Out, key)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := ocf.NewDecoder(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for dec.HasNext() {
			var e manifestEntry
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			out[e.DataFile.FilePath] = e
		}
		if err := dec.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// footerSizes sums the compressed size of each field id's column chunks
// in the Parquet file at path, and returns its row group count.
func footerSizes(t *testing.T, path string) (map[int]int64, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int64{}
	for g, rg := range f.Metadata().RowGroups {
		for i := range rg.Columns {
			id := f.RowGroups()[g].ColumnChunks()[i].(*parquet.FileColumnChunk).Node().ID()
			sizes[id] += rg.Columns[i].MetaData.TotalCompressedSize
		}
	}
	return sizes, len(f.Metadata().RowGroups)
}

// TestIcebergColumnStats: each manifest entry carries its file's column
// statistics: column sizes as the footer has them, value and null counts
// of the rows written, and bounds equal to the least and greatest offset,
// timestamp (in microseconds), partition, topic and key of the file's
// rows, merged over several row groups; keys and values are cut to 16
// bytes, the upper bound incremented; lists get counts but no bounds.
func TestIcebergColumnStats(t *testing.T) {
	j, dir := testJob(t, nil, 0)
	j.rowGroupBytes = 4 << 10 // several row groups per file, whose statistics merge
	j.cfg.IcebergLocation = "file://" + filepath.ToSlash(dir) + "/t"
	type want struct {
		rows, nullKeys, minOff, maxOff, minTs, maxTs int64
		minValue, maxValue                           []byte
	}
	d1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	wants := map[string]*want{}
	f := &partitionFile{job: j, partition: 3}
	for o := int64(100); o < 400; o++ {
		day := d1
		if o >= 250 {
			day = d1.AddDate(0, 0, 1)
		}
		rec := replay.Record{Partition: 3, Offset: o,
			Timestamp: day.Add(time.Duration(o*7919%86400) * time.Second).UnixMilli(), // not in offset order
			Key:       fmt.Appendf(nil, "a-key-longer-than-16-bytes-%04d", o*31%1000), Value: value(int(o)),
			Headers: []batch.RecordHeader{{Key: "h", Value: []byte("v")}}}
		if o%7 == 0 {
			rec.Key = nil
		}
		if err := f.add(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
		path := j.cfg.IcebergLocation + "/" + strings.TrimPrefix(fileKey("t", day, 3, 0, 0), "t/")
		path = path[:strings.Index(path, "/part-")]
		w := wants[path]
		if w == nil {
			w = &want{minOff: o, maxOff: o, minTs: rec.Timestamp, maxTs: rec.Timestamp, minValue: rec.Value, maxValue: rec.Value}
			wants[path] = w
		}
		w.rows++
		if rec.Key == nil {
			w.nullKeys++
		}
		w.minOff, w.maxOff = min(w.minOff, o), max(w.maxOff, o)
		w.minTs, w.maxTs = min(w.minTs, rec.Timestamp), max(w.maxTs, rec.Timestamp)
		if bytes.Compare(rec.Value, w.minValue) < 0 {
			w.minValue = rec.Value
		}
		if bytes.Compare(rec.Value, w.maxValue) > 0 {
			w.maxValue = rec.Value
		}
	}
	if err := f.finish(t.Context()); err != nil {
		t.Fatal(err)
	}

	entries := readManifestEntries(t, j)
	if len(entries) != 2 {
		t.Fatalf("%d manifest entries, want one per date", len(entries))
	}
	for path, e := range entries {
		w := wants[path[:strings.Index(path, "/part-")]]
		if w == nil {
			t.Fatalf("unexpected data file %s", path)
		}
		sizes, groups := footerSizes(t, filepath.Join(dir, "t", strings.TrimPrefix(path, j.cfg.IcebergLocation+"/")))
		if groups < 2 {
			t.Fatalf("%s: %d row groups, want several", path, groups)
		}
		df := e.DataFile
		values, nulls := longs(df.ValueCounts), longs(df.NullCounts)
		lower, upper := byteMap(df.LowerBounds), byteMap(df.UpperBounds)
		t.Logf("%s: %d rows, %d row groups, sizes %v, values %v, nulls %v", path, df.RecordCount, groups, longs(df.ColumnSizes), values, nulls)
		if df.RecordCount != w.rows || !maps.Equal(longs(df.ColumnSizes), sizes) {
			t.Errorf("%s: %d rows, column sizes %v; want %d rows, sizes %v", path, df.RecordCount, longs(df.ColumnSizes), w.rows, sizes)
		}
		for id := 1; id <= 6; id++ {
			if values[id] != w.rows {
				t.Errorf("%s: value count of field %d is %d, want %d", path, id, values[id], w.rows)
			}
		}
		if nulls[1] != 0 || nulls[2] != 0 || nulls[3] != 0 || nulls[4] != 0 || nulls[5] != w.nullKeys || nulls[6] != 0 {
			t.Errorf("%s: null counts %v, want %d null keys", path, nulls, w.nullKeys)
		}
		if values[9] == 0 || values[10] == 0 {
			t.Errorf("%s: no value counts for the headers' key and value: %v", path, values)
		}
		for _, b := range []struct {
			id           int
			lower, upper []byte
		}{
			{1, []byte("t"), []byte("t")},
			{2, le32(3), le32(3)},
			{3, le64(w.minOff), le64(w.maxOff)},
			{4, le64(w.minTs * 1000), le64(w.maxTs * 1000)},
			{5, []byte("a-key-longer-tha"), []byte("a-key-longer-thb")},
			{6, w.minValue[:16], nil},
		} {
			if !bytes.Equal(lower[b.id], b.lower) || b.upper != nil && !bytes.Equal(upper[b.id], b.upper) {
				t.Errorf("%s: field %d bounds %x..%x, want %x..%x", path, b.id, lower[b.id], upper[b.id], b.lower, b.upper)
			}
		}
		// The value's upper bound: 16 bytes or fewer, above every value.
		if u := upper[6]; len(u) == 0 || len(u) > 16 || bytes.Compare(u, w.maxValue) <= 0 {
			t.Errorf("%s: value upper bound %x, max value %x", path, u, w.maxValue)
		}
		for _, id := range []int{7, 9, 10, 11} {
			if lower[id] != nil || upper[id] != nil {
				t.Errorf("%s: bounds for field %d, inside a list", path, id)
			}
		}
	}
}

// TestIcebergColumnStatsDecoded: with a Decoder, the decoded value's
// primitive fields, those of nested structs included, get bounds in their
// Iceberg types (long, string, double, timestamptz in microseconds), and
// the fields of lists and maps counts only.
func TestIcebergColumnStatsDecoded(t *testing.T) {
	reg := registry{
		1: {Subject: "t-value", Version: 1, ID: 1, Schema: sr.Schema{Schema: orderV1}},
		2: {Subject: "t-value", Version: 2, ID: 2, Schema: sr.Schema{Schema: orderV2}},
	}
	dec, err := NewDecoder(t.Context(), reg, "t-value")
	if err != nil {
		t.Fatal(err)
	}
	j, dir := testJob(t, dec, 0)
	j.cfg.IcebergLocation = "file://" + filepath.ToSlash(dir) + "/t"
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	f := &partitionFile{job: j, partition: 0}
	add := func(o int64, v []byte) {
		t.Helper()
		if err := f.add(t.Context(), replay.Record{Offset: o, Timestamp: at.UnixMilli(), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	add(0, wire(1, orderV1, map[string]any{"id": 70, "item": "pen"}))
	for i := int64(1); i <= 20; i++ {
		v := map[string]any{"id": i * 3, "item": fmt.Sprint("item-", i), "tags": []string{"a"},
			"attrs": map[string]any{"x": int(i)}, "at": at.Add(time.Duration(i) * time.Minute), "status": "NEW"}
		if i%2 == 0 {
			v["price"] = float64(i) / 4
		}
		if i%5 == 0 {
			v["ship"] = map[string]any{"Ship": map[string]any{"city": fmt.Sprint("city-", i)}}
		}
		add(i, wire(2, orderV2, v))
	}
	add(21, nil)
	if err := f.finish(t.Context()); err != nil {
		t.Fatal(err)
	}
	entries := readManifestEntries(t, j)
	if len(entries) != 1 {
		t.Fatalf("%d manifest entries, want 1", len(entries))
	}
	for path, e := range entries {
		df := e.DataFile
		values, nulls := longs(df.ValueCounts), longs(df.NullCounts)
		lower, upper := byteMap(df.LowerBounds), byteMap(df.UpperBounds)
		id := func(names ...string) int {
			t.Helper()
			var n parquet.Node = j.schema
		next:
			for _, name := range names {
				for _, c := range n.Fields() {
					if c.Name() == name {
						n = c
						continue next
					}
				}
				t.Fatalf("no field %v", names)
			}
			return n.ID()
		}
		for _, b := range []struct {
			field        []string
			lower, upper []byte
			nulls        int64
		}{
			{[]string{"value", "id"}, le64(3), le64(70), 1},
			{[]string{"value", "item"}, []byte("item-1"), []byte("pen"), 1},
			{[]string{"value", "price"}, le64f(0.5), le64f(5), 12},
			{[]string{"value", "at"}, le64(at.Add(time.Minute).UnixMicro()), le64(at.Add(20 * time.Minute).UnixMicro()), 2},
			{[]string{"value", "ship", "city"}, []byte("city-10"), []byte("city-5"), 18},
			{[]string{"value_schema_id"}, le32(1), le32(2), 1},
		} {
			fid := id(b.field...)
			if !bytes.Equal(lower[fid], b.lower) || !bytes.Equal(upper[fid], b.upper) || values[fid] != 22 || nulls[fid] != b.nulls {
				t.Errorf("%s: %v (field %d): bounds %x..%x, %d values, %d nulls; want %x..%x, 22 values, %d nulls",
					path, b.field, fid, lower[fid], upper[fid], values[fid], nulls[fid], b.lower, b.upper, b.nulls)
			}
		}
		for _, field := range [][]string{{"value", "tags", "list", "element"}, {"value", "attrs", "key_value", "key"}, {"value", "attrs", "key_value", "value"}} {
			fid := id(field...)
			if values[fid] == 0 || lower[fid] != nil || upper[fid] != nil {
				t.Errorf("%s: %v (field %d): %d values, bounds %x..%x; want counts only", path, field, fid, values[fid], lower[fid], upper[fid])
			}
		}
	}
}

func le64f(f float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)) }

// TestIcebergBound: Parquet statistics in Iceberg's single-value
// serialization, truncation and the values that keep no bound.
func TestIcebergBound(t *testing.T) {
	leaf := func(n parquet.Node, typ string) statsColumn { return statsColumn{typ: typ, node: n, bounded: true} }
	ts := leaf(parquet.TimestampAdjusted(parquet.Millisecond, true), "timestamptz")
	tsNanos := leaf(parquet.TimestampAdjusted(parquet.Nanosecond, true), "timestamptz")
	timeMillis := leaf(parquet.Time(parquet.Millisecond), "time")
	u32, u64 := leaf(parquet.Uint(32), "long"), leaf(parquet.Uint(64), "long")
	dbl, flt := leaf(parquet.Leaf(parquet.DoubleType), "double"), leaf(parquet.Leaf(parquet.FloatType), "float")
	str, bin := leaf(parquet.String(), "string"), leaf(parquet.Leaf(parquet.ByteArrayType), "binary")
	dec := leaf(parquet.Decimal(2, 20, parquet.ByteArrayType), "decimal(20, 2)")
	fixed := leaf(parquet.Leaf(parquet.FixedLenByteArrayType(20)), "fixed[20]")
	long16 := strings.Repeat("x", 15)
	for _, tc := range []struct {
		name  string
		col   statsColumn
		v     parquet.Value
		upper bool
		want  []byte // nil: no bound
	}{
		{"boolean", leaf(parquet.Leaf(parquet.BooleanType), "boolean"), parquet.BooleanValue(true), false, []byte{1}},
		{"int", leaf(parquet.Int(32), "int"), parquet.Int32Value(-2), false, []byte{0xfe, 0xff, 0xff, 0xff}},
		{"timestamp ms as µs", ts, parquet.Int64Value(1_700_000_000_123), false, le64(1_700_000_000_123_000)},
		{"timestamp out of range in µs", ts, parquet.Int64Value(math.MaxInt64 / 10), false, nil},
		{"timestamp in ns", tsNanos, parquet.Int64Value(1), false, nil},
		{"time ms as µs", timeMillis, parquet.Int32Value(1500), false, le64(1_500_000)},
		{"uint32 as long", u32, parquet.Int32Value(-1), false, le64(math.MaxUint32)},
		{"uint64 within long", u64, parquet.Int64Value(5), true, le64(5)},
		{"uint64 past long", u64, parquet.Int64Value(-1), true, nil},
		{"double", dbl, parquet.DoubleValue(2.5), false, le64f(2.5)},
		{"double NaN", dbl, parquet.DoubleValue(math.NaN()), true, nil},
		{"double +0 as lower", dbl, parquet.DoubleValue(0), false, le64f(math.Copysign(0, -1))},
		{"double -0 as upper", dbl, parquet.DoubleValue(math.Copysign(0, -1)), true, le64f(0)},
		{"float NaN", flt, parquet.FloatValue(float32(math.NaN())), false, nil},
		{"short string", str, parquet.ByteArrayValue([]byte("abc")), true, []byte("abc")},
		{"string cut by characters", str, parquet.ByteArrayValue([]byte(long16 + "éé")), false, []byte(long16 + "é")},
		{"string upper incremented", str, parquet.ByteArrayValue([]byte(long16 + "éé")), true, []byte(long16 + "ê")},
		{"string upper past the last character", str, parquet.ByteArrayValue([]byte(long16 + "\U0010FFFFz")), true, []byte(strings.Repeat("x", 14) + "y")},
		{"string upper past a surrogate", str, parquet.ByteArrayValue([]byte(long16 + "\uD7FFz")), true, []byte(long16 + "\uE000")},
		{"invalid UTF-8", str, parquet.ByteArrayValue([]byte{0xff}), false, nil},
		{"binary cut", bin, parquet.ByteArrayValue(bytes.Repeat([]byte{7}, 20)), false, bytes.Repeat([]byte{7}, 16)},
		{"binary upper drops 0xff", bin, parquet.ByteArrayValue(append(bytes.Repeat([]byte{7}, 14), 0xff, 0xff, 0xff)), true, append(bytes.Repeat([]byte{7}, 13), 8)},
		{"binary upper all 0xff", bin, parquet.ByteArrayValue(bytes.Repeat([]byte{0xff}, 17)), true, nil},
		{"decimal minimal bytes", dec, parquet.ByteArrayValue([]byte{0, 0, 0x7f}), false, []byte{0x7f}},
		{"negative decimal", dec, parquet.ByteArrayValue([]byte{0xff, 0xff, 0x80}), false, []byte{0x80}},
		{"decimal keeps its sign byte", dec, parquet.ByteArrayValue([]byte{0, 0, 0x80}), false, []byte{0, 0x80}},
		{"long fixed", fixed, parquet.FixedLenByteArrayValue(make([]byte, 20)), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := icebergBound(tc.col, tc.v, tc.upper)
			if ok != (tc.want != nil) || !bytes.Equal(got, tc.want) {
				t.Fatalf("bound %x (%v), want %x", got, ok, tc.want)
			}
		})
	}
}
