package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// pyReaders names the virtual environment scripts/install-pyarrow.sh
// makes: pyarrow 26.0.1 and pyiceberg 0.12.0.
const pyReaders = "parquet-readers-26.0.1-0.12.0"

// requirePyarrow returns the python of the virtual environment that
// scripts/install-pyarrow.sh makes under the cache directory (the rule of
// scripts/cache-dir.sh), with pyarrow and pyiceberg. Without it the test is
// skipped with a hint, unless CI=true, where it fails.
func requirePyarrow(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STRATA_CACHE_DIR")
	switch {
	case dir != "":
	case os.Getenv("XDG_CACHE_HOME") != "":
		dir = filepath.Join(os.Getenv("XDG_CACHE_HOME"), "strata")
	default:
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "strata")
	}
	python := filepath.Join(dir, "pyvenv", pyReaders, "bin", "python")
	if _, err := os.Stat(python); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pyarrow is not installed (%v); make test runs scripts/install-pyarrow.sh", err)
		}
		t.Skipf("skipping: pyarrow is not installed (%v); run scripts/install-pyarrow.sh", err)
	}
	return python
}

// pyRow is one row as testdata/check_parquet.py prints it.
type pyRow struct {
	File          string          `json:"file"`
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Ts            int64           `json:"ts"`
	Key           *string         `json:"key"`
	Value         json.RawMessage `json:"value"`
	ValueSchemaID *int32          `json:"value_schema_id"`
	Headers       [][2]*string    `json:"headers"`
}

// pyHead is the first line of testdata/check_parquet.py's output.
type pyHead struct {
	Files     int      `json:"files"`
	Codecs    []string `json:"codecs"`
	Snapshots int      `json:"snapshots"`
}

// readWithPyarrow reads the files under target (a directory, or s3://… with
// endpoint; or with target --iceberg, the table of a metadata file, with
// pyiceberg) and returns the first line and the rows.
func readWithPyarrow(t *testing.T, python string, target string, args ...string) (pyHead, []pyRow) {
	t.Helper()
	cmd := exec.Command(python, append([]string{filepath.Join("testdata", "check_parquet.py"), target}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check_parquet.py %s: %v: %s", target, err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var head pyHead
	var rows []pyRow
	for first := true; sc.Scan(); first = false {
		if first {
			if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var r pyRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	t.Logf("check_parquet.py %s %v: %d rows from %d files, codecs %v, %d snapshots", target, args, len(rows), head.Files, head.Codecs, head.Snapshots)
	return head, rows
}

func hexOf(b []byte) *string {
	if b == nil {
		return nil
	}
	s := hex.EncodeToString(b)
	return &s
}

// checkPyRows fails unless rows (bytes values) are exactly want: each
// record once, with its key, value, timestamp and headers.
func checkPyRows(t *testing.T, what string, rows []pyRow, want []*kgo.Record) {
	t.Helper()
	byPos := make(map[[2]int64]*kgo.Record, len(want))
	for _, r := range want {
		byPos[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	if len(rows) != len(want) {
		t.Fatalf("%s: pyarrow read %d rows, the gateway served %d records", what, len(rows), len(want))
	}
	for _, g := range rows {
		pos := [2]int64{int64(g.Partition), g.Offset}
		w, ok := byPos[pos]
		if !ok {
			t.Fatalf("%s: partition %d offset %d is in the files twice, or was never served", what, g.Partition, g.Offset)
		}
		delete(byPos, pos)
		sum := sha256.Sum256(w.Value)
		var value string
		_ = json.Unmarshal(g.Value, &value)
		if g.Topic != w.Topic || g.Ts != w.Timestamp.UnixMilli() || g.Key == nil || *g.Key != *hexOf(w.Key) || value != hex.EncodeToString(sum[:]) ||
			len(g.Headers) != 1 || *g.Headers[0][0] != "round" || *g.Headers[0][1] != *hexOf(w.Headers[0].Value) {
			t.Fatalf("%s: partition %d offset %d differs from what the gateway served: %+v", what, g.Partition, g.Offset, g)
		}
	}
}

// goRow is one row as parquet-go reads it back.
type goRow struct {
	key                 string
	partition           int32
	offset              int64
	ts                  int64
	recKey, value, hdrs string
}

// readWithParquetGo reads every file under topic/ in b with parquet-go.
func readWithParquetGo(t *testing.T, b objstore.Bucket, topic string) (files int, rows []goRow) {
	t.Helper()
	err := b.List(t.Context(), topic+"/", func(key string) error {
		if !strings.HasSuffix(key, ".parquet") {
			return nil
		}
		files++
		rc, err := b.GetRange(t.Context(), key, 0, -1)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		r := parquet.NewGenericReader[map[string]any](f, f.Schema())
		defer r.Close()
		ms := make([]map[string]any, f.NumRows())
		for i := range ms {
			ms[i] = map[string]any{}
		}
		if n, err := r.Read(ms); n != len(ms) {
			return fmt.Errorf("%s: read %d of %d rows: %w", key, n, len(ms), err)
		}
		for _, m := range ms {
			rows = append(rows, goRow{key: key, partition: m["partition"].(int32), offset: m["offset"].(int64), ts: m["timestamp"].(int64),
				recKey: fmt.Sprint(m["key"]), value: fmt.Sprint(m["value"]), hdrs: fmt.Sprint(m["headers"])})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, rows
}

// checkGoRows fails unless rows are exactly want, each record once, and
// each file holds one partition's contiguous run of records, in offset
// order, that its name's offsets bound.
func checkGoRows(t *testing.T, what string, rows []goRow, want []*kgo.Record) {
	t.Helper()
	byPos := make(map[[2]int64]*kgo.Record, len(want))
	for _, r := range want {
		byPos[[2]int64{int64(r.Partition), r.Offset}] = r
	}
	if len(rows) != len(want) {
		t.Fatalf("%s: parquet-go read %d rows, the gateway served %d records", what, len(rows), len(want))
	}
	for i, g := range rows {
		pos := [2]int64{int64(g.partition), g.offset}
		w, ok := byPos[pos]
		if !ok {
			t.Fatalf("%s: partition %d offset %d is in the files twice, or was never served", what, g.partition, g.offset)
		}
		delete(byPos, pos)
		if g.ts != w.Timestamp.UnixMilli() || g.recKey != string(w.Key) || g.value != string(w.Value) ||
			g.hdrs != fmt.Sprintf("[map[key:round value:%s]]", w.Headers[0].Value) {
			t.Fatalf("%s: partition %d offset %d differs from what the gateway served", what, g.partition, g.offset)
		}
		name := filepath.Base(g.key)
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(name, "part-"), ".parquet"), "-")
		p, _ := strconv.Atoi(parts[0])
		first, _ := strconv.ParseInt(parts[1], 10, 64)
		last, _ := strconv.ParseInt(parts[2], 10, 64)
		if int32(p) != g.partition || g.offset < first || g.offset > last ||
			(i > 0 && rows[i-1].key == g.key && rows[i-1].offset >= g.offset) ||
			!strings.Contains(g.key, "date="+time.UnixMilli(g.ts).UTC().Format(time.DateOnly)) {
			t.Fatalf("%s: partition %d offset %d (%v) is in %s", what, g.partition, g.offset, time.UnixMilli(g.ts).UTC(), g.key)
		}
	}
}

// exportParquet runs `strata replay --format parquet` on the fixture
// in-process and returns its stderr, failing the test unless it exits 0.
func (f *replayFixture) exportParquet(t *testing.T, out string, args ...string) string {
	t.Helper()
	base := append([]string{"replay", "--topic", f.topic, "--nats-url", f.natsURL, "--format", "parquet", "--out", out, "--progress=false"}, f.storeArgs...)
	var stderr bytes.Buffer
	if code := run(append(base, args...), &stderr, &stderr); code != 0 {
		t.Fatalf("strata replay --format parquet %v exited %d: %s", args, code, stderr.String())
	}
	return stderr.String()
}

// TestReplayParquet: `strata replay --format parquet` writes the topic
// (read from MinIO, flush blocks and merged segments) as zstd Parquet files
// under <topic>/date=…/, to a directory and to an S3 bucket, that parquet-go
// and pyarrow read back equal to what a consumer reads through the gateway;
// a rerun writes nothing more; and an export killed with SIGKILL midway and
// rerun leaves every record exactly once.
func TestReplayParquet(t *testing.T) {
	python := requirePyarrow(t)
	f := startReplayFixture(t)
	f.waitFlushed(t)

	// To a directory, in files of about 256 KiB: many per partition.
	dir := t.TempDir()
	start := time.Now()
	msg := f.exportParquet(t, dir, "--file-bytes", "262144")
	t.Logf("export to a directory in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(msg))
	out, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, rows := readWithParquetGo(t, out, f.topic)
	if files < 2*int(f.partitions) {
		t.Fatalf("%d files, want more than two per partition at --file-bytes 256 KiB", files)
	}
	checkGoRows(t, "directory", rows, f.consumed)
	head, pyRows := readWithPyarrow(t, python, dir)
	if !slices.Equal(head.Codecs, []string{"ZSTD"}) {
		t.Fatalf("codecs %v, want ZSTD only", head.Codecs)
	}
	checkPyRows(t, "directory", pyRows, f.consumed)

	// A rerun finds every record exported and writes nothing.
	msg = f.exportParquet(t, dir)
	if !strings.Contains(msg, "0 records in 0 Parquet files") || !strings.Contains(msg, fmt.Sprintf("after %d files", files)) {
		t.Fatalf("rerun: %s", msg)
	}

	// To S3 (the MinIO the topic lives in, another bucket), through the
	// same client and credentials as the source.
	s := testenv.RequireMinIO(t, minioServer, minioErr)
	bucket := s.NewBucket(t)
	f.exportParquet(t, "s3://"+bucket+"/exports/strata", "--iceberg")
	sb, err := s3.New(t.Context(), s3.Config{Endpoint: s.Endpoint, Bucket: bucket, Region: s.Region, PathStyle: true, Prefix: "exports/strata"})
	if err != nil {
		t.Fatal(err)
	}
	_, rows = readWithParquetGo(t, sb, f.topic)
	checkGoRows(t, "s3", rows, f.consumed)
	t.Setenv("AWS_REGION", s.Region)
	// The Iceberg table committed there, read by pyiceberg (through
	// pyarrow's S3 file system).
	head, pyRows = readWithPyarrow(t, python, "--iceberg", "s3://"+bucket+"/exports/strata/"+f.topic+"/metadata/v1.metadata.json", s.Endpoint)
	if head.Snapshots != 1 {
		t.Fatalf("%d snapshots, want 1", head.Snapshots)
	}
	checkPyRows(t, "iceberg on s3", pyRows, f.consumed)

	// Killed midway: a child export in 16 KiB files, three partitions at
	// a time, is killed with SIGKILL once some files of two partitions
	// exist; a rerun (in larger files) then completes the export.
	dir = t.TempDir()
	args := append([]string{"replay", "--topic", f.topic, "--nats-url", f.natsURL, "--format", "parquet", "--out", dir,
		"--progress=false", "--file-bytes", "16384", "--parallel", "3", "--concurrency", "3", "--iceberg"}, f.storeArgs...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsStrata+"=1")
	p := startChild(t, cmd, "strata replay")
	countFiles := func() (files, partitions int) {
		names, _ := filepath.Glob(filepath.Join(dir, f.topic, "date=*", "*.parquet"))
		seen := map[string]bool{}
		for _, n := range names {
			seen[strings.SplitN(filepath.Base(n), "-", 3)[1]] = true
		}
		return len(names), len(seen)
	}
	testenv.CheckFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if n, p := countFiles(); n < 20 || p < 2 {
			return fmt.Errorf("%d files of %d partitions so far", n, p)
		}
		return nil
	})
	p.kill(t)
	if strings.Contains(p.out.String(), "Parquet files") {
		t.Fatalf("the export finished before it was killed: %s", p.out.String())
	}
	before, resumed := countFiles()
	out, err = fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, rows = readWithParquetGo(t, out, f.topic)
	t.Logf("killed after %d files, %d of %d records", before, len(rows), len(f.consumed))
	if len(rows) == 0 || len(rows) >= len(f.consumed) {
		t.Fatalf("killed export left %d of %d records", len(rows), len(f.consumed))
	}
	if m, _ := filepath.Glob(filepath.Join(dir, f.topic, "metadata", "*")); len(m) > 0 {
		t.Fatalf("a killed export committed Iceberg metadata: %v", m)
	}
	msg = f.exportParquet(t, dir, "--iceberg")
	t.Logf("rerun: %s", strings.TrimSpace(msg))
	if !strings.Contains(msg, fmt.Sprintf("%d partitions continued after %d files", resumed, before)) {
		t.Fatalf("rerun did not continue after the %d files: %s", before, msg)
	}
	_, rows = readWithParquetGo(t, out, f.topic)
	checkGoRows(t, "killed and rerun", rows, f.consumed)
	// The rerun committed the killed run's files with its own: one
	// snapshot holding every record once.
	head, pyRows = readWithPyarrow(t, python, "--iceberg", latestMetadata(t, filepath.Join(dir, f.topic)))
	if head.Snapshots != 1 {
		t.Fatalf("%d snapshots, want 1", head.Snapshots)
	}
	checkPyRows(t, "iceberg, killed and rerun", pyRows, f.consumed)
	// Its manifests carry column statistics, so pyiceberg plans a filtered
	// scan from the files' bounds, not just their dates (all the same here).
	checkIcebergPruning(t, python, latestMetadata(t, filepath.Join(dir, f.topic)), rows, f)
}

// icebergPlan is what pyiceberg plans and reads for a filtered scan.
type icebergPlan struct {
	All     []string `json:"all"`
	Planned []string `json:"planned"`
	Rows    []struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
	} `json:"rows"`
}

// planIceberg has pyiceberg plan and run a scan of the table of a metadata
// file, filtered with column >= value (an int, or a timestamp in ISO 8601).
func planIceberg(t *testing.T, python, metadata, column, value string) icebergPlan {
	t.Helper()
	const script = `
import json, sys
from pyiceberg.expressions import GreaterThanOrEqual
from pyiceberg.table import StaticTable
tbl = StaticTable.from_metadata(sys.argv[1])
value = int(sys.argv[3]) if sys.argv[3].isdigit() else sys.argv[3]
where = GreaterThanOrEqual(sys.argv[2], value)
rows = tbl.scan(row_filter=where, selected_fields=("partition", "offset")).to_arrow().to_pylist()
print(json.dumps({"all": [t.file.file_path for t in tbl.scan().plan_files()],
                  "planned": [t.file.file_path for t in tbl.scan(row_filter=where).plan_files()], "rows": rows}))
`
	cmd := exec.Command(python, "-c", script, metadata, column, value)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyiceberg scan where %s >= %s: %v: %s", column, value, err, stderr.String())
	}
	var p icebergPlan
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("pyiceberg scan where %s >= %s: %v: %s", column, value, err, out)
	}
	return p
}

// checkIcebergPruning checks through pyiceberg that scans filtered on
// offset and on timestamp plan exactly the files whose greatest offset or
// timestamp (as parquet-go read them, in rows) passes the filter, fewer
// than the table's, and return exactly the records that pass it.
func checkIcebergPruning(t *testing.T, python, metadata string, rows []goRow, f *replayFixture) {
	t.Helper()
	maxOffset, maxTs := map[string]int64{}, map[string]int64{}
	for _, r := range rows {
		name := filepath.Base(r.key)
		maxOffset[name] = max(maxOffset[name], r.offset)
		maxTs[name] = max(maxTs[name], r.ts)
	}
	var top int64
	for _, r := range f.consumed {
		top = max(top, r.Offset)
	}
	cut := f.t0.Add(replayRounds / 2 * time.Minute)
	for _, tc := range []struct {
		column, value string
		keep          func(offset, ts int64) bool
	}{
		{"offset", strconv.FormatInt(top/2, 10), func(offset, _ int64) bool { return offset >= top/2 }},
		{"timestamp", cut.Format("2006-01-02T15:04:05.000000+00:00"), func(_, ts int64) bool { return ts >= cut.UnixMilli() }},
	} {
		p := planIceberg(t, python, metadata, tc.column, tc.value)
		var want, planned []string
		for name := range maxOffset {
			if tc.keep(maxOffset[name], maxTs[name]) {
				want = append(want, name)
			}
		}
		for _, path := range p.Planned {
			planned = append(planned, filepath.Base(path))
		}
		slices.Sort(want)
		slices.Sort(planned)
		t.Logf("where %s >= %s: %d of %d files planned, %d rows", tc.column, tc.value, len(p.Planned), len(p.All), len(p.Rows))
		if len(p.All) != len(maxOffset) || len(planned) >= len(p.All) || !slices.Equal(planned, want) {
			t.Fatalf("where %s >= %s: pyiceberg planned %d of %d files %v, want the %d of %d files %v",
				tc.column, tc.value, len(planned), len(p.All), planned, len(want), len(maxOffset), want)
		}
		wantRows := map[[2]int64]bool{}
		for _, r := range f.consumed {
			if tc.keep(r.Offset, r.Timestamp.UnixMilli()) {
				wantRows[[2]int64{int64(r.Partition), r.Offset}] = true
			}
		}
		for _, r := range p.Rows {
			pos := [2]int64{int64(r.Partition), r.Offset}
			if !wantRows[pos] {
				t.Fatalf("where %s >= %s: partition %d offset %d read twice or not wanted", tc.column, tc.value, r.Partition, r.Offset)
			}
			delete(wantRows, pos)
		}
		if len(wantRows) > 0 {
			t.Fatalf("where %s >= %s: %d records missing from the scan", tc.column, tc.value, len(wantRows))
		}
	}
}

const (
	parquetOrderV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int"}]}`
	parquetOrderV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int"},
		{"name":"price","type":["null","double"],"default":null},
		{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"},"default":0},
		{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]},"default":"NEW"},
		{"name":"tags","type":{"type":"array","items":"string"},"default":[]},
		{"name":"ship","type":["null",{"type":"record","name":"Ship","fields":[{"name":"city","type":"string"},{"name":"zip","type":"int"}]}],"default":null}]}`
)

// TestReplayParquetDecode: with --decode, Avro values of two versions of a
// subject registered in the gateway's schema registry are written as typed
// columns of the latest version, which pyarrow reads back field by field;
// the schemas are read straight from the coordinator, with no gateway in the
// path.
func TestReplayParquetDecode(t *testing.T) {
	python := requirePyarrow(t)
	dir := t.TempDir()
	natsURL, registryAddr := make(chan string, 1), make(chan string, 1)
	broker, _ := startServeWith(t, func(c *serveConfig) {
		c.onEmbeddedNATS = func(u string) { natsURL <- u }
		c.onRegistry = func(a net.Addr) { registryAddr <- a.String() }
	}, "--data-dir", dir, "--embedded-nats-listen", "127.0.0.1:0", "--flush-interval", "50ms")
	url, reg := <-natsURL, <-registryAddr
	createTopicWith(t, broker, "orders", 3, map[string]string{"retention.ms": "-1"})

	rcl, err := sr.NewClient(sr.URLs("http://" + reg))
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]int
	for i, schema := range []string{parquetOrderV1, parquetOrderV2} {
		ss, err := rcl.CreateSchema(t.Context(), "orders-value", sr.Schema{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = ss.ID
	}
	v1, v2 := avro.MustParse(parquetOrderV1), avro.MustParse(parquetOrderV2)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	cl := newClient(t, broker, kgo.DefaultProduceTopic("orders"))
	const n = 400
	statuses := []string{"NEW", "PAID", "SHIPPED"}
	for i := range n {
		var value []byte
		var err error
		if i < n/2 {
			value, err = avro.Marshal(v1, map[string]any{"id": int64(i), "item": "item-" + strconv.Itoa(i), "qty": i % 7})
			value = append([]byte{0, 0, 0, 0, byte(ids[0])}, value...)
		} else {
			var ship any
			if i%3 == 0 {
				ship = map[string]any{"shop.Ship": map[string]any{"city": "city-" + strconv.Itoa(i), "zip": i}}
			}
			var price any
			if i%2 == 0 {
				price = map[string]any{"double": float64(i) / 4}
			}
			value, err = avro.Marshal(v2, map[string]any{"id": int64(i), "item": "item-" + strconv.Itoa(i), "qty": i % 7,
				"price": price, "at": t0.Add(time.Duration(i) * time.Second), "status": statuses[i%3],
				"tags": []string{"t" + strconv.Itoa(i%4)}, "ship": ship})
			value = append([]byte{0, 0, 0, 0, byte(ids[1])}, value...)
		}
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(t.Context(), &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: value, Timestamp: t0.Add(time.Duration(i) * time.Second)}, nil)
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	export := func(args ...string) (int, string) {
		var stderr bytes.Buffer
		code := run(append([]string{"replay", "--topic", "orders", "--nats-url", url, "--data-dir", dir, "--progress=false",
			"--format", "parquet"}, args...), &stderr, &stderr)
		return code, stderr.String()
	}
	out := t.TempDir()
	// Wait until object storage holds all of them (a few flush intervals);
	// an export that saw fewer leaves its files, and the next continues.
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		code, msg := export("--out", out, "--decode", "--iceberg")
		if code != 0 {
			t.Fatalf("export exited %d: %s", code, msg)
		}
		_, rows := readWithParquetGo(t, mustFS(t, out), "orders")
		if len(rows) < n {
			return fmt.Errorf("%d of %d records exported", len(rows), n)
		}
		return nil
	})
	_, rows := readWithPyarrow(t, python, out)
	if len(rows) != n {
		t.Fatalf("pyarrow read %d rows, want %d", len(rows), n)
	}
	// The Iceberg table (pyiceberg) holds the same rows, typed alike.
	_, iceRows := readWithPyarrow(t, python, "--iceberg", latestMetadata(t, filepath.Join(out, "orders")))
	if !slices.EqualFunc(sortedRows(iceRows), sortedRows(rows), func(a, b pyRow) bool {
		return a.Partition == b.Partition && a.Offset == b.Offset && string(a.Value) == string(b.Value) && *a.ValueSchemaID == *b.ValueSchemaID
	}) {
		t.Fatalf("the Iceberg table holds %d rows, other than the files' %d", len(iceRows), len(rows))
	}
	// The same through the registry's REST API (--schema-registry-url).
	viaURL := t.TempDir()
	if code, msg := export("--out", viaURL, "--decode", "--schema-registry-url", "http://"+reg); code != 0 {
		t.Fatalf("export with --schema-registry-url exited %d: %s", code, msg)
	}
	if _, other := readWithPyarrow(t, python, viaURL); !slices.EqualFunc(sortedRows(other), sortedRows(rows), func(a, b pyRow) bool {
		return a.Partition == b.Partition && a.Offset == b.Offset && string(a.Value) == string(b.Value)
	}) {
		t.Fatal("--schema-registry-url gave other rows than the registry read from the coordinator")
	}
	seen := map[int64]bool{}
	for _, r := range rows {
		var v struct {
			ID     *int64   `json:"id"`
			Item   string   `json:"item"`
			Qty    *int32   `json:"qty"`
			Price  *float64 `json:"price"`
			At     *int64   `json:"at"`
			Status *string  `json:"status"`
			Tags   []string `json:"tags"`
			Ship   *struct {
				City string `json:"city"`
				Zip  int    `json:"zip"`
			} `json:"ship"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("offset %d: value %s: %v", r.Offset, r.Value, err)
		}
		if v.ID == nil || v.Qty == nil { // zeros are values, not nulls
			t.Fatalf("partition %d offset %d: %s", r.Partition, r.Offset, r.Value)
		}
		i := *v.ID
		if seen[i] || r.Key == nil || *r.Key != *hexOf([]byte(strconv.FormatInt(i, 10))) || v.Item != "item-"+strconv.FormatInt(i, 10) || *v.Qty != int32(i%7) {
			t.Fatalf("partition %d offset %d: %s", r.Partition, r.Offset, r.Value)
		}
		seen[i] = true
		if i < n/2 {
			if *r.ValueSchemaID != int32(ids[0]) || v.Price != nil || v.At != nil || v.Status != nil || v.Tags != nil || v.Ship != nil {
				t.Fatalf("v1 record %d: %s (schema %d)", i, r.Value, *r.ValueSchemaID)
			}
			continue
		}
		wantShip := i%3 == 0
		if *r.ValueSchemaID != int32(ids[1]) || (v.Price != nil) != (i%2 == 0) || (v.Price != nil && *v.Price != float64(i)/4) ||
			v.At == nil || *v.At != t0.Add(time.Duration(i)*time.Second).UnixMilli() || v.Status == nil || *v.Status != statuses[i%3] ||
			!slices.Equal(v.Tags, []string{"t" + strconv.FormatInt(i%4, 10)}) || (v.Ship != nil) != wantShip ||
			(wantShip && (v.Ship.City != "city-"+strconv.FormatInt(i, 10) || v.Ship.Zip != int(i))) {
			t.Fatalf("v2 record %d: %s (schema %d)", i, r.Value, *r.ValueSchemaID)
		}
	}

	// More records: the next export appends a snapshot with their files.
	before := latestMetadata(t, filepath.Join(out, "orders"))
	for i := n; i < n+50; i++ {
		value, err := avro.Marshal(v2, map[string]any{"id": int64(i), "item": "item-" + strconv.Itoa(i), "qty": i % 7,
			"at": t0, "status": "NEW", "tags": []string{}})
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(t.Context(), &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: append([]byte{0, 0, 0, 0, byte(ids[1])}, value...), Timestamp: t0}, nil)
	}
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if code, msg := export("--out", out, "--decode", "--iceberg"); code != 0 {
			t.Fatalf("export exited %d: %s", code, msg)
		}
		if _, rows := readWithParquetGo(t, mustFS(t, out), "orders"); len(rows) < n+50 {
			return fmt.Errorf("%d of %d records exported", len(rows), n+50)
		}
		return nil
	})
	after := latestMetadata(t, filepath.Join(out, "orders"))
	head, iceRows := readWithPyarrow(t, python, "--iceberg", after)
	if after == before || head.Snapshots < 2 || len(iceRows) != n+50 {
		t.Fatalf("after appending: %s (was %s), %d snapshots, %d rows", after, before, head.Snapshots, len(iceRows))
	}

	// A value that is not Avro stops the export at its offset.
	cl.Produce(t.Context(), &kgo.Record{Value: []byte("not avro")}, nil)
	if err := cl.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		code, msg := export("--out", out, "--decode")
		if code == 1 && strings.Contains(msg, "not in the schema registry's wire format") && strings.Contains(msg, "offset") {
			return nil
		}
		return fmt.Errorf("exit %d: %s", code, msg)
	})
}

func mustFS(t *testing.T, dir string) *fs.Bucket {
	t.Helper()
	b, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedRows(rows []pyRow) []pyRow {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b pyRow) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return rows
}

// latestMetadata is the path of the newest Iceberg metadata file of the
// table in dir.
func latestMetadata(t *testing.T, dir string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "metadata", "v*.metadata.json"))
	best, bestN := "", 0
	for _, n := range names {
		v, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(n), "v"), ".metadata.json"))
		if err == nil && v > bestN {
			best, bestN = n, v
		}
	}
	if best == "" {
		t.Fatalf("no Iceberg metadata under %s", dir)
	}
	return best
}

// TestReplayParquetFlags: what --format parquet needs, and what only it
// takes.
func TestReplayParquetFlags(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--format", "parquet"}, "needs --out DIR or s3://bucket/prefix"},
		{[]string{"--format", "parquet", "--out", "kafka://h:9092/t"}, "needs --out DIR"},
		{[]string{"--format", "parquet", "--out", "s3://"}, "want s3://bucket/prefix"},
		{[]string{"--format", "parquet", "--out", "d", "--file-bytes", "10"}, "--file-bytes must be at least 1024"},
		{[]string{"--format", "parquet", "--out", "d", "--parallel", "0"}, "--parallel 0 out of range"},
		{[]string{"--decode"}, "--decode needs --format parquet"},
		{[]string{"--iceberg"}, "--iceberg needs --format parquet"},
		{[]string{"--format", "parquet", "--out", "s3://b/p", "--decode", "--iceberg"}, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := parseReplayFlags(append([]string{"--topic", "t"}, tc.args...), noEnv, io.Discard)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err == "" && (c.Parquet.FileBytes != 256<<20 || c.Parquet.Parallel != 4 || !c.Parquet.Decode || !c.Parquet.Iceberg):
				t.Fatalf("config %+v", c.Parquet)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}

// waitFlushed waits until object storage holds every record the gateway
// served: the fixture's last round may still be in the write-ahead tail,
// which replay does not read.
func (f *replayFixture) waitFlushed(t *testing.T) {
	t.Helper()
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if n := len(f.replay(t)); n != len(f.consumed) {
			return fmt.Errorf("object storage holds %d of %d records", n, len(f.consumed))
		}
		return nil
	})
}
