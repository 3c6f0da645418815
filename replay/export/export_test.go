package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/stratalog/strata/replay"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/objstore/fs"
)

func TestFileKey(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	key := fileKey("orders", day, 3, 1000, 1999)
	if want := "orders/date=2026-11-01/part-00003-00000000000000001000-00000000000000001999.parquet"; key != want {
		t.Fatalf("key %s, want %s", key, want)
	}
	f, ok := parseFileKey(strings.TrimPrefix(key, "orders/"))
	if !ok || f.partition != 3 || f.first != 1000 || f.last != 1999 {
		t.Fatalf("parsed %+v %v", f, ok)
	}
	for _, bad := range []string{
		"date=2026-11-01/part-00003-1000-999.parquet",
		"date=2026-13-01/part-00003-1-2.parquet",
		"date=2026-11-01/part-00003-1-2.parquet.tmp",
		"date=2026-11-01/part-x-1-2.parquet",
		"metadata/v1.metadata.json",
	} {
		if _, ok := parseFileKey(bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestExportedOverlap(t *testing.T) {
	out, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	put := func(p int32, first, last int64) {
		if err := out.Put(t.Context(), fileKey("t", day, p, first, last), strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	put(0, 0, 9)
	put(0, 10, 19)
	put(1, 5, 5)
	next, files, err := exported(t.Context(), out, "t")
	if err != nil || files != 3 || next[0] != 20 || next[1] != 6 || len(next) != 2 {
		t.Fatalf("next %v, files %d, err %v", next, files, err)
	}
	put(0, 15, 30)
	if _, _, err := exported(t.Context(), out, "t"); !errors.Is(err, ErrOverlap) {
		t.Fatalf("overlap: %v", err)
	}
}

// testJob is a Job that writes to a directory, fed records by hand.
func testJob(t testing.TB, dec *Decoder, fileBytes int64) (*Job, string) {
	t.Helper()
	dir := t.TempDir()
	out, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	j, err := New(Config{Index: noIndex{}, Source: out, Out: out, Replay: replay.Options{Topic: "t"},
		FileBytes: fileBytes, Decoder: dec, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return j, dir
}

// value is record i's value: 100 bytes that do not compress.
func value(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	b := make([]byte, 100)
	for k := range b {
		b[k] = byte(rng.Uint32())
	}
	return b
}

type noIndex struct{ replay.Index }

func readRows(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r := parquet.NewGenericReader[map[string]any](f, f.Schema())
	rows := make([]map[string]any, f.NumRows())
	for i := range rows {
		rows[i] = map[string]any{}
	}
	n, err := r.Read(rows)
	if n != len(rows) {
		t.Fatalf("read %d of %d rows: %v", n, len(rows), err)
	}
	return rows
}

// TestFilesRoundTrip: records written through partitionFile come back from
// the files with their columns; files are cut by size and by date, and
// each file's name carries its offsets.
func TestFilesRoundTrip(t *testing.T) {
	j, dir := testJob(t, nil, 64<<10)
	f := &partitionFile{job: j, partition: 2}
	t0 := time.Date(2026, 11, 1, 23, 0, 0, 0, time.UTC)
	const n = 3000
	for i := range n {
		rec := replay.Record{Partition: 2, Offset: int64(i), Timestamp: t0.Add(time.Duration(i) * 2 * time.Second).UnixMilli(),
			Key: []byte(fmt.Sprint("k", i)), Value: value(i),
			Headers: []batch.RecordHeader{{Key: "h", Value: []byte("v")}}}
		if i%10 == 0 {
			rec.Key, rec.Headers = nil, nil
		}
		if err := f.add(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.finish(t.Context()); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "t", "date=*", "*.parquet"))
	if len(paths) < 4 {
		t.Fatalf("%d files, want several (64 KiB each, two dates)", len(paths))
	}
	next := int64(0)
	for _, p := range paths { // lexical: by date, then offset
		fr, ok := parseFileKey(filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p))
		if !ok || fr.first != next {
			t.Fatalf("%s: parsed %+v, want first offset %d", p, fr, next)
		}
		for _, row := range readRows(t, p) {
			off := row["offset"].(int64)
			if off != next {
				t.Fatalf("%s: offset %d, want %d", p, off, next)
			}
			ts := t0.Add(time.Duration(off) * 2 * time.Second)
			if got := row["timestamp"]; got != ts.UnixMilli() {
				t.Fatalf("offset %d: timestamp %v (%T), want %v", off, got, got, ts)
			}
			if !strings.Contains(p, "date="+ts.Format(time.DateOnly)) {
				t.Fatalf("offset %d of %v in %s", off, ts, p)
			}
			if off%10 == 0 && row["key"] != nil {
				t.Fatalf("offset %d: key %v, want null", off, row["key"])
			}
			if row["value"] != string(value(int(off))) || row["partition"].(int32) != 2 || row["topic"] != "t" {
				t.Fatalf("offset %d: row %v", off, row)
			}
			next++
		}
		if next-1 != fr.last {
			t.Fatalf("%s: last offset %d, name says %d", p, next-1, fr.last)
		}
	}
	if next != n {
		t.Fatalf("%d rows, want %d", next, n)
	}
}

// registry is a fixed set of schemas. Only for the unit test of the Avro
// mapping; cmd/strata's test runs it against the schema registry itself.
type registry map[int]sr.SubjectSchema

func (r registry) SchemaByID(_ context.Context, id int) (sr.Schema, error) {
	s, ok := r[id]
	if !ok {
		return sr.Schema{}, &sr.ResponseError{ErrorCode: 40403}
	}
	return s.Schema, nil
}

func (r registry) SchemaByVersion(_ context.Context, subject string, _ int) (sr.SubjectSchema, error) {
	best := sr.SubjectSchema{}
	for _, s := range r {
		if s.Subject == subject && s.Version > best.Version {
			best = s
		}
	}
	return best, nil
}

const (
	orderV1 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"int"},{"name":"item","type":"string"}]}`
	orderV2 = `{"type":"record","name":"Order","fields":[
		{"name":"id","type":"long"},{"name":"item","type":"string"},
		{"name":"price","type":["null","double"],"default":null},
		{"name":"tags","type":{"type":"array","items":"string"},"default":[]},
		{"name":"attrs","type":{"type":"map","values":"int"},"default":{}},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"},"default":0},
		{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]},"default":"NEW"},
		{"name":"ref","type":["null","string","long"],"default":null},
		{"name":"ship","type":["null",{"type":"record","name":"Ship","fields":[{"name":"city","type":"string"}]}],"default":null}]}`
)

func wire(id int, schema string, v any) []byte {
	b := avro.MustParse(schema)
	data, err := avro.Marshal(b, v)
	if err != nil {
		panic(err)
	}
	return append([]byte{0, 0, 0, 0, byte(id)}, data...)
}

// TestDecodeAvro: values of two versions of a subject come back as typed
// columns of the latest version's schema.
func TestDecodeAvro(t *testing.T) {
	reg := registry{
		1: {Subject: "t-value", Version: 1, ID: 1, Schema: sr.Schema{Schema: orderV1}},
		2: {Subject: "t-value", Version: 2, ID: 2, Schema: sr.Schema{Schema: orderV2}},
	}
	dec, err := NewDecoder(t.Context(), reg, "t-value")
	if err != nil {
		t.Fatal(err)
	}
	j, dir := testJob(t, dec, 0)
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	values := [][]byte{
		wire(1, orderV1, map[string]any{"id": 7, "item": "pen"}),
		wire(2, orderV2, map[string]any{"id": int64(8), "item": "ink", "price": 2.5, "tags": []string{"a", "b"},
			"attrs": map[string]any{"x": 1}, "at": at, "status": "PAID", "ref": map[string]any{"long": int64(42)},
			"ship": map[string]any{"Ship": map[string]any{"city": "Oslo"}}}),
		nil,
	}
	f := &partitionFile{job: j, partition: 0}
	for i, v := range values {
		if err := f.add(t.Context(), replay.Record{Offset: int64(i), Timestamp: at.UnixMilli(), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.add(t.Context(), replay.Record{Offset: 3, Timestamp: at.UnixMilli(), Value: []byte("plain")}); !errors.Is(err, ErrNotDecodable) {
		t.Fatalf("a value not in the wire format: %v", err)
	}
	if err := f.finish(t.Context()); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "t", "date=*", "*.parquet"))
	if len(paths) != 1 {
		t.Fatalf("files %v", paths)
	}
	checkFieldIDs(t, paths[0])
	rows := readRows(t, paths[0])
	got := fmt.Sprint(rows[0]["value"], rows[0]["value_schema_id"], " | ", rows[1]["value"], rows[1]["value_schema_id"], " | ", rows[2]["value"], rows[2]["value_schema_id"])
	t.Log(got)
	v0 := rows[0]["value"].(map[string]any)
	v1 := rows[1]["value"].(map[string]any)
	if v0["id"] != int64(7) || v0["item"] != "pen" || v0["price"] != nil || rows[0]["value_schema_id"] != int32(1) {
		t.Fatalf("v1 value: %v", got)
	}
	if v1["id"] != int64(8) || v1["price"] != 2.5 || v1["status"] != "PAID" || fmt.Sprint(v1["tags"]) != "[a b]" ||
		fmt.Sprint(v1["ship"]) != "map[city:Oslo]" || rows[1]["value_schema_id"] != int32(2) {
		t.Fatalf("v2 value: %v", got)
	}
	if rows[2]["value"] != nil || rows[2]["value_schema_id"] != nil {
		t.Fatalf("tombstone: %v", got)
	}
}

// checkFieldIDs fails unless every field of the file at path, nested ones
// included, has a field id of its own, as Iceberg requires. (The repeated
// groups of LIST and MAP are structure, not fields, and have none.)
func checkFieldIDs(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	var walk func(prefix string, n parquet.Node)
	walk = func(prefix string, n parquet.Node) {
		for _, c := range n.Fields() {
			name := prefix + "." + c.Name()
			structural := c.Repeated() && (c.Name() == "list" || c.Name() == "key_value" || !c.Leaf() && len(c.Fields()) == 2 && c.Fields()[0].Name() == "key")
			switch {
			case structural:
			case c.ID() == 0:
				t.Errorf("%s has no field id", name)
			case seen[c.ID()] != "":
				t.Errorf("%s and %s have field id %d", seen[c.ID()], name, c.ID())
			default:
				seen[c.ID()] = name
			}
			if !c.Leaf() {
				walk(name, c)
			}
		}
	}
	walk("", f.Schema())
	t.Logf("%d field ids", len(seen))
}
