package export

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/replay"
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
