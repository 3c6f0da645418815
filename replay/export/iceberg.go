package export

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/stratalog/strata/tiered/objstore"
)

// ErrIcebergSchema is returned when the table's schema is not the one this
// export's files have (a --decode export into a table of bytes, or a new
// subject version with other fields): an Iceberg table keeps one schema
// here, so start another output. Not worth retrying.
var ErrIcebergSchema = errors.New("export: the Iceberg table has another schema than the files")

// Iceberg layout under <topic>/ (a catalog-less table, as Hadoop tables
// are: the newest metadata/v<N>.metadata.json is the table's state, and the
// create-only PUT of v<N+1> is the commit):
//
//	metadata/v1.metadata.json, v2.metadata.json, …
//	metadata/snap-<snapshot id>-<uuid>.avro   manifest list
//	metadata/<uuid>-m0.avro                   manifest
//
// The partition spec is day(timestamp), named timestamp_day (partition
// field id 1000), which is what the date=… directories hold.
const (
	icebergMetadataDir = "metadata/"
	partitionFieldID   = 1000
)

// commitIceberg adds to the topic's Iceberg table every exported file it
// does not hold yet (those of this run, and those of a run killed before
// its commit), as one append snapshot. With nothing to add it commits
// nothing.
func (j *Job) commitIceberg(ctx context.Context, schema *parquet.Schema) error {
	out, topic, loc := j.cfg.Out, j.topic, strings.TrimSuffix(j.cfg.IcebergLocation, "/")
	tableSchema, lastID, err := icebergSchema(schema)
	if err != nil {
		return err
	}
	files, err := listDataFiles(ctx, out, topic)
	if err != nil {
		return err
	}
	meta, version, err := loadTableMetadata(ctx, out, topic)
	if err != nil {
		return err
	}
	held := map[string]bool{}
	if meta != nil {
		if !sameSchema(meta, tableSchema) {
			return fmt.Errorf("%w: %s/metadata/v%d.metadata.json", ErrIcebergSchema, topic, version)
		}
		if held, err = tableFiles(ctx, out, topic, loc, meta); err != nil {
			return err
		}
	}
	var added []icebergFile
	for _, f := range files {
		path := loc + "/" + strings.TrimPrefix(f.key, topic+"/")
		if held[path] {
			continue
		}
		ff, err := describeFile(ctx, out, f, path)
		if err != nil {
			return err
		}
		added = append(added, ff)
	}
	if len(added) == 0 {
		return nil
	}
	return j.commitSnapshot(ctx, meta, version, tableSchema, lastID, added)
}

// icebergFile is one data file as a manifest lists it.
type icebergFile struct {
	path       string
	day        int32 // days since 1970-01-01
	rows, size int64
	stats      fileStats
}

// listDataFiles lists the exported data files of topic.
func listDataFiles(ctx context.Context, out objstore.Bucket, topic string) ([]fileRange, error) {
	var files []fileRange
	err := out.List(ctx, topic+"/", func(key string) error {
		if f, ok := parseFileKey(strings.TrimPrefix(key, topic+"/")); ok {
			f.key = key
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: list %s/: %w", topic, err)
	}
	return files, nil
}

// describeFile reads f's size and, from its footer, its row count and
// column statistics.
func describeFile(ctx context.Context, out objstore.Bucket, f fileRange, path string) (icebergFile, error) {
	size, err := out.Size(ctx, f.key)
	if err != nil {
		return icebergFile{}, fmt.Errorf("export: size of %s: %w", f.key, err)
	}
	pf, err := parquet.OpenFile(&bucketReaderAt{ctx: ctx, b: out, key: f.key}, size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return icebergFile{}, fmt.Errorf("export: footer of %s: %w", f.key, err)
	}
	date := f.key[strings.Index(f.key, "date=")+len("date=") : strings.Index(f.key, "/part-")]
	day, _ := time.Parse(time.DateOnly, date) // parseFileKey checked it
	stats, err := columnStats(pf)
	if err != nil {
		return icebergFile{}, fmt.Errorf("export: column statistics of %s: %w", f.key, err)
	}
	return icebergFile{path: path, day: int32(day.Unix() / 86400), rows: pf.NumRows(), size: size, stats: stats}, nil
}

// bucketReaderAt reads an object with ranged GETs. It holds a context
// because io.ReaderAt has no place for one; it lives for one call.
type bucketReaderAt struct {
	ctx context.Context
	b   objstore.Bucket
	key string
}

func (r *bucketReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.b.GetRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// tableMetadata is a metadata file, kept as parsed JSON so that a rewrite
// keeps what this package does not know.
type tableMetadata = map[string]any

// loadTableMetadata returns the newest metadata of topic's table and its
// version, or nil and 0 when there is no table.
func loadTableMetadata(ctx context.Context, out objstore.Bucket, topic string) (tableMetadata, int, error) {
	version := 0
	err := out.List(ctx, topic+"/"+icebergMetadataDir+"v", func(key string) error {
		name := strings.TrimPrefix(key, topic+"/"+icebergMetadataDir+"v")
		if n, err := strconv.Atoi(strings.TrimSuffix(name, ".metadata.json")); err == nil && strings.HasSuffix(name, ".metadata.json") {
			version = max(version, n)
		}
		return nil
	})
	if err != nil || version == 0 {
		return nil, 0, err
	}
	data, err := readObject(ctx, out, metadataKey(topic, version))
	if err != nil {
		return nil, 0, err
	}
	var meta tableMetadata
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, 0, fmt.Errorf("export: %s: %w", metadataKey(topic, version), err)
	}
	return meta, version, nil
}

func metadataKey(topic string, version int) string {
	return fmt.Sprintf("%s/%sv%d.metadata.json", topic, icebergMetadataDir, version)
}

func readObject(ctx context.Context, b objstore.Bucket, key string) ([]byte, error) {
	rc, err := b.GetRange(ctx, key, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("export: read %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("export: read %s: %w", key, err)
	}
	return data, nil
}

func sameSchema(meta tableMetadata, schema map[string]any) bool {
	schemas, _ := meta["schemas"].([]any)
	a, _ := json.Marshal(schema)
	for _, s := range schemas {
		if m, ok := s.(map[string]any); ok && fmt.Sprint(m["schema-id"]) == fmt.Sprint(meta["current-schema-id"]) {
			b, _ := json.Marshal(m)
			return bytes.Equal(a, b)
		}
	}
	return false
}

// keyOf turns a path under the table's location back into a key.
func keyOf(topic, loc, path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, loc+"/")
	return topic + "/" + rest, ok
}

// tableFiles returns the paths of the data files the current snapshot
// holds, from its manifest list and manifests.
func tableFiles(ctx context.Context, out objstore.Bucket, topic, loc string, meta tableMetadata) (map[string]bool, error) {
	held := map[string]bool{}
	listPath := ""
	snaps, _ := meta["snapshots"].([]any)
	for _, s := range snaps {
		if m, ok := s.(map[string]any); ok && fmt.Sprint(m["snapshot-id"]) == fmt.Sprint(meta["current-snapshot-id"]) {
			listPath, _ = m["manifest-list"].(string)
		}
	}
	if listPath == "" {
		return held, nil
	}
	manifests, err := readAvroRecords(ctx, out, topic, loc, listPath)
	if err != nil {
		return nil, err
	}
	for _, mf := range manifests {
		path, _ := mf["manifest_path"].(string)
		entries, err := readAvroRecords(ctx, out, topic, loc, path)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			df, _ := e["data_file"].(map[string]any)
			if p, ok := df["file_path"].(string); ok && fmt.Sprint(e["status"]) != "2" {
				held[p] = true
			}
		}
	}
	return held, nil
}

func readAvroRecords(ctx context.Context, out objstore.Bucket, topic, loc, path string) ([]map[string]any, error) {
	key, ok := keyOf(topic, loc, path)
	if !ok {
		return nil, fmt.Errorf("export: %s is outside the table's location %s", path, loc)
	}
	data, err := readObject(ctx, out, key)
	if err != nil {
		return nil, err
	}
	dec, err := ocf.NewDecoder(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", key, err)
	}
	var recs []map[string]any
	for dec.HasNext() {
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("export: %s: %w", key, err)
		}
		recs = append(recs, r)
	}
	return recs, dec.Error()
}

// commitSnapshot writes a manifest of added, a manifest list of the
// current snapshot's manifests and it, and metadata v<version+1> naming the
// new snapshot, create-only: the commit. A lost race (another commit took
// that version) fails with objstore.ErrExists, and the rerun commits again.
func (j *Job) commitSnapshot(ctx context.Context, meta tableMetadata, version int, schema map[string]any, lastID int, added []icebergFile) error {
	out, topic, loc := j.cfg.Out, j.topic, strings.TrimSuffix(j.cfg.IcebergLocation, "/")
	now := time.Now().UnixMilli()
	snapshotID := randomID()
	var parentID any
	seq := int64(1)
	var prevManifests []map[string]any
	if meta == nil {
		meta = newTableMetadata(loc, topic, schema, lastID)
	} else {
		parentID = meta["current-snapshot-id"]
		seq = int64(toFloat(meta["last-sequence-number"])) + 1
		var err error
		if prevManifests, err = currentManifests(ctx, out, topic, loc, meta); err != nil {
			return err
		}
	}
	specJSON := `[{"name":"timestamp_day","transform":"day","source-id":4,"field-id":1000}]`
	schemaJSON, _ := json.Marshal(schema)

	// 1. The manifest of the added files.
	var rows int64
	entries := make([]any, len(added))
	for i, f := range added {
		rows += f.rows
		dataFile := f.stats.manifestFields()
		maps.Copy(dataFile, map[string]any{
			"content": int32(0), "file_path": f.path, "file_format": "PARQUET",
			"partition":    map[string]any{"timestamp_day": time.Unix(int64(f.day)*86400, 0).UTC()},
			"record_count": f.rows, "file_size_in_bytes": f.size,
		})
		entries[i] = map[string]any{
			"status": int32(1), "snapshot_id": snapshotID, "sequence_number": nil, "file_sequence_number": nil,
			"data_file": dataFile,
		}
	}
	uuid := newUUID()
	manifestPath := fmt.Sprintf("%s/%s%s-m0.avro", loc, icebergMetadataDir, uuid)
	manifest, err := writeAvro(manifestEntrySchema, entries, map[string][]byte{
		"schema": schemaJSON, "schema-id": []byte("0"), "partition-spec": []byte(specJSON),
		"partition-spec-id": []byte("0"), "format-version": []byte("2"), "content": []byte("data"),
	})
	if err != nil {
		return err
	}
	if err := putObject(ctx, out, topic, loc, manifestPath, manifest); err != nil {
		return err
	}

	// 2. The manifest list: the parent's manifests and the new one.
	days := make([]int32, len(added))
	for i, f := range added {
		days[i] = f.day
	}
	lo, hi := slices.Min(days), slices.Max(days)
	list := make([]any, 0, len(prevManifests)+1)
	for _, m := range prevManifests {
		list = append(list, m)
	}
	list = append(list, map[string]any{
		"manifest_path": manifestPath, "manifest_length": int64(len(manifest)), "partition_spec_id": int32(0),
		"content": int32(0), "sequence_number": seq, "min_sequence_number": seq, "added_snapshot_id": snapshotID,
		"added_files_count": int32(len(added)), "existing_files_count": int32(0), "deleted_files_count": int32(0),
		"added_rows_count": rows, "existing_rows_count": int64(0), "deleted_rows_count": int64(0),
		"partitions": []any{map[string]any{"contains_null": false, "contains_nan": nil,
			"lower_bound": le32(lo), "upper_bound": le32(hi)}},
	})
	listPath := fmt.Sprintf("%s/%ssnap-%d-1-%s.avro", loc, icebergMetadataDir, snapshotID, uuid)
	listData, err := writeAvro(manifestFileSchema, list, map[string][]byte{
		"snapshot-id": []byte(strconv.FormatInt(snapshotID, 10)), "sequence-number": []byte(strconv.FormatInt(seq, 10)),
		"format-version": []byte("2"),
	})
	if err != nil {
		return err
	}
	if err := putObject(ctx, out, topic, loc, listPath, listData); err != nil {
		return err
	}

	// 3. The metadata naming the snapshot: the commit.
	summary := map[string]any{"operation": "append", "added-data-files": strconv.Itoa(len(added)),
		"added-records": strconv.FormatInt(rows, 10), "strata.topic": topic}
	snap := map[string]any{"snapshot-id": snapshotID, "sequence-number": seq, "timestamp-ms": now,
		"manifest-list": listPath, "summary": summary, "schema-id": 0}
	if parentID != nil {
		snap["parent-snapshot-id"] = parentID
	}
	next := maps.Clone(meta)
	next["last-sequence-number"] = seq
	next["last-updated-ms"] = now
	next["current-snapshot-id"] = snapshotID
	next["snapshots"] = append(sliceOf(meta["snapshots"]), snap)
	next["snapshot-log"] = append(sliceOf(meta["snapshot-log"]), map[string]any{"timestamp-ms": now, "snapshot-id": snapshotID})
	next["refs"] = map[string]any{"main": map[string]any{"snapshot-id": snapshotID, "type": "branch"}}
	if version > 0 {
		next["metadata-log"] = append(sliceOf(meta["metadata-log"]), map[string]any{
			"timestamp-ms": meta["last-updated-ms"], "metadata-file": fmt.Sprintf("%s/%sv%d.metadata.json", loc, icebergMetadataDir, version)})
	}
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	key := metadataKey(topic, version+1)
	if err := out.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("export: commit %s: %w", key, err)
	}
	j.mu.Lock()
	j.stats.IcebergCommit, j.stats.IcebergFiles = key, len(added)
	j.mu.Unlock()
	j.log.Info("committed iceberg snapshot", "object", key, "files", len(added), "rows", rows)
	return nil
}

// currentManifests returns the manifest list entries of the current
// snapshot, to carry into the next.
func currentManifests(ctx context.Context, out objstore.Bucket, topic, loc string, meta tableMetadata) ([]map[string]any, error) {
	for _, s := range sliceOf(meta["snapshots"]) {
		if m, ok := s.(map[string]any); ok && fmt.Sprint(m["snapshot-id"]) == fmt.Sprint(meta["current-snapshot-id"]) {
			path, _ := m["manifest-list"].(string)
			return readAvroRecords(ctx, out, topic, loc, path)
		}
	}
	return nil, nil
}

func newTableMetadata(loc, topic string, schema map[string]any, lastID int) tableMetadata {
	return tableMetadata{
		"format-version": 2, "table-uuid": newUUID(), "location": loc,
		"last-sequence-number": 0, "last-updated-ms": time.Now().UnixMilli(), "last-column-id": lastID,
		"current-schema-id": 0, "schemas": []any{schema},
		"default-spec-id": 0, "last-partition-id": partitionFieldID,
		"partition-specs": []any{map[string]any{"spec-id": 0, "fields": []any{map[string]any{
			"name": "timestamp_day", "transform": "day", "source-id": 4, "field-id": partitionFieldID}}}},
		"default-sort-order-id": 0, "sort-orders": []any{map[string]any{"order-id": 0, "fields": []any{}}},
		"properties": map[string]any{"strata.topic": topic}, "current-snapshot-id": -1,
		"snapshots": []any{}, "snapshot-log": []any{}, "metadata-log": []any{},
	}
}

func putObject(ctx context.Context, out objstore.Bucket, topic, loc, path string, data []byte) error {
	key, _ := keyOf(topic, loc, path)
	if err := out.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	return nil
}

func writeAvro(schema avro.Schema, recs []any, meta map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	enc, err := ocf.NewEncoderWithSchema(schema, &buf, ocf.WithMetadata(meta), ocf.WithSchemaMarshaler(ocf.FullSchemaMarshaler))
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return nil, fmt.Errorf("export: write manifest: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sliceOf(v any) []any {
	s, _ := v.([]any)
	return slices.Clone(s)
}

func toFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

func randomID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:]) >> 1)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// icebergSchema is the Iceberg schema (JSON) of a Parquet schema whose
// every field has a field id, and the largest id.
func icebergSchema(s *parquet.Schema) (map[string]any, int, error) {
	last := 0
	fields, err := icebergFields(s, &last)
	if err != nil {
		return nil, 0, err
	}
	return map[string]any{"type": "struct", "schema-id": 0, "fields": fields}, last, nil
}

func icebergFields(n parquet.Node, last *int) ([]any, error) {
	var out []any
	for _, f := range n.Fields() {
		t, err := icebergType(f, last)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name(), err)
		}
		*last = max(*last, f.ID())
		out = append(out, map[string]any{"id": f.ID(), "name": f.Name(), "required": !f.Optional(), "type": t})
	}
	return out, nil
}

func icebergType(n parquet.Node, last *int) (any, error) {
	var lt format.LogicalTypeValue
	if l := n.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	if !n.Leaf() {
		switch lt.(type) {
		case *format.ListType:
			elem := n.Fields()[0].Fields()[0]
			t, err := icebergType(elem, last)
			*last = max(*last, elem.ID())
			return map[string]any{"type": "list", "element-id": elem.ID(), "element": t, "element-required": !elem.Optional()}, err
		case *format.MapType:
			kv := n.Fields()[0].Fields()
			kt, err := icebergType(kv[0], last)
			if err != nil {
				return nil, err
			}
			vt, err := icebergType(kv[1], last)
			*last = max(*last, kv[0].ID(), kv[1].ID())
			return map[string]any{"type": "map", "key-id": kv[0].ID(), "key": kt, "value-id": kv[1].ID(), "value": vt,
				"value-required": !kv[1].Optional()}, err
		}
		fields, err := icebergFields(n, last)
		return map[string]any{"type": "struct", "fields": fields}, err
	}
	switch v := lt.(type) {
	case *format.StringType, *format.EnumType, *format.JsonType:
		return "string", nil
	case *format.DateType:
		return "date", nil
	case *format.DecimalType:
		return fmt.Sprintf("decimal(%d, %d)", v.Precision, v.Scale), nil
	case *format.TimestampType:
		if v.IsAdjustedToUTC {
			return "timestamptz", nil
		}
		return "timestamp", nil
	case *format.TimeType:
		return "time", nil
	case *format.IntType:
		if v.BitWidth <= 32 && v.IsSigned {
			return "int", nil
		}
		return "long", nil
	}
	switch n.Type().Kind() {
	case parquet.Boolean:
		return "boolean", nil
	case parquet.Int32:
		return "int", nil
	case parquet.Int64:
		return "long", nil
	case parquet.Float:
		return "float", nil
	case parquet.Double:
		return "double", nil
	case parquet.ByteArray:
		return "binary", nil
	case parquet.FixedLenByteArray:
		return fmt.Sprintf("fixed[%d]", n.Type().Length()), nil
	}
	return nil, fmt.Errorf("no Iceberg type for %s", n.Type())
}

// The Avro schemas of Iceberg's manifest list and manifest files (format
// version 2), with the field ids readers resolve by. The data file's column
// statistics are maps with int keys, which Avro writes as arrays of
// key-value records marked "logicalType":"map" (Iceberg's Avro mapping);
// nan_value_counts is left out, since footers do not count NaNs, and
// readers then take NaNs as possible.
var (
	manifestFileSchema = avro.MustParse(`{"type":"record","name":"manifest_file","fields":[
		{"name":"manifest_path","type":"string","field-id":500},
		{"name":"manifest_length","type":"long","field-id":501},
		{"name":"partition_spec_id","type":"int","field-id":502},
		{"name":"content","type":"int","field-id":517},
		{"name":"sequence_number","type":"long","field-id":515},
		{"name":"min_sequence_number","type":"long","field-id":516},
		{"name":"added_snapshot_id","type":"long","field-id":503},
		{"name":"added_files_count","type":"int","field-id":504},
		{"name":"existing_files_count","type":"int","field-id":505},
		{"name":"deleted_files_count","type":"int","field-id":506},
		{"name":"added_rows_count","type":"long","field-id":512},
		{"name":"existing_rows_count","type":"long","field-id":513},
		{"name":"deleted_rows_count","type":"long","field-id":514},
		{"name":"partitions","type":["null",{"type":"array","element-id":508,"items":{"type":"record","name":"r508","fields":[
			{"name":"contains_null","type":"boolean","field-id":509},
			{"name":"contains_nan","type":["null","boolean"],"default":null,"field-id":518},
			{"name":"lower_bound","type":["null","bytes"],"default":null,"field-id":510},
			{"name":"upper_bound","type":["null","bytes"],"default":null,"field-id":511}]}}],"default":null,"field-id":507}]}`)
	manifestEntrySchema = avro.MustParse(`{"type":"record","name":"manifest_entry","fields":[
		{"name":"status","type":"int","field-id":0},
		{"name":"snapshot_id","type":["null","long"],"default":null,"field-id":1},
		{"name":"sequence_number","type":["null","long"],"default":null,"field-id":3},
		{"name":"file_sequence_number","type":["null","long"],"default":null,"field-id":4},
		{"name":"data_file","field-id":2,"type":{"type":"record","name":"r2","fields":[
			{"name":"content","type":"int","field-id":134},
			{"name":"file_path","type":"string","field-id":100},
			{"name":"file_format","type":"string","field-id":101},
			{"name":"partition","field-id":102,"type":{"type":"record","name":"r102","fields":[
				{"name":"timestamp_day","type":["null",{"type":"int","logicalType":"date"}],"default":null,"field-id":1000}]}},
			{"name":"record_count","type":"long","field-id":103},
			{"name":"file_size_in_bytes","type":"long","field-id":104},
			{"name":"column_sizes","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k117_v118","fields":[
				{"name":"key","type":"int","field-id":117},{"name":"value","type":"long","field-id":118}]}}],"default":null,"field-id":108},
			{"name":"value_counts","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k119_v120","fields":[
				{"name":"key","type":"int","field-id":119},{"name":"value","type":"long","field-id":120}]}}],"default":null,"field-id":109},
			{"name":"null_value_counts","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k121_v122","fields":[
				{"name":"key","type":"int","field-id":121},{"name":"value","type":"long","field-id":122}]}}],"default":null,"field-id":110},
			{"name":"lower_bounds","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k126_v127","fields":[
				{"name":"key","type":"int","field-id":126},{"name":"value","type":"bytes","field-id":127}]}}],"default":null,"field-id":125},
			{"name":"upper_bounds","type":["null",{"type":"array","logicalType":"map","items":{"type":"record","name":"k129_v130","fields":[
				{"name":"key","type":"int","field-id":129},{"name":"value","type":"bytes","field-id":130}]}}],"default":null,"field-id":128}]}}]}`)
)
