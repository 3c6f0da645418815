package export

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratalog/strata/tiered/objstore"
)

// ErrOverlap is returned when two exported files of one partition hold
// overlapping offset ranges: a rerun cannot tell where to continue without
// writing a record twice, so it writes nothing. Not worth retrying.
var ErrOverlap = errors.New("export: exported files overlap")

// fileKey is the key of the file holding offsets first to last of
// partition p, dated day (the UTC date of its records' timestamps):
//
//	<topic>/date=2026-11-01/part-00003-00000000000000001000-00000000000000001999.parquet
//
// Offsets are zero-padded to 20 digits so that keys sort by offset.
func fileKey(topic string, day time.Time, p int32, first, last int64) string {
	return fmt.Sprintf("%s/date=%s/part-%05d-%020d-%020d.parquet", topic, day.Format(time.DateOnly), p, first, last)
}

// fileRange is one exported file, parsed back from its key.
type fileRange struct {
	key         string
	partition   int32
	first, last int64
}

// parseFileKey parses a key fileKey made (below the topic's prefix); ok is
// false for any other key.
func parseFileKey(key string) (fileRange, bool) {
	dir, name, found := strings.Cut(key, "/part-")
	if !found || !strings.HasSuffix(name, ".parquet") || strings.Contains(name, "/") {
		return fileRange{}, false
	}
	date, found := strings.CutPrefix(dir[strings.LastIndexByte(dir, '/')+1:], "date=")
	if _, err := time.Parse(time.DateOnly, date); !found || err != nil {
		return fileRange{}, false
	}
	parts := strings.Split(strings.TrimSuffix(name, ".parquet"), "-")
	if len(parts) != 3 {
		return fileRange{}, false
	}
	p, err1 := strconv.ParseInt(parts[0], 10, 32)
	first, err2 := strconv.ParseInt(parts[1], 10, 64)
	last, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || p < 0 || first < 0 || last < first {
		return fileRange{}, false
	}
	return fileRange{key: key, partition: int32(p), first: first, last: last}, true
}

// exported lists topic's exported files and returns, per partition, the
// offset after the last one exported. It fails with ErrOverlap when two
// files of a partition overlap.
func exported(ctx context.Context, out objstore.Bucket, topic string) (map[int32]int64, int, error) {
	byPartition := map[int32][]fileRange{}
	files := 0
	err := out.List(ctx, topic+"/", func(key string) error {
		if f, ok := parseFileKey(strings.TrimPrefix(key, topic+"/")); ok {
			f.key = key
			byPartition[f.partition] = append(byPartition[f.partition], f)
			files++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("export: list %s/: %w", topic, err)
	}
	next := map[int32]int64{}
	for p, fs := range byPartition {
		slices.SortFunc(fs, func(a, b fileRange) int { return cmpInt64(a.first, b.first) })
		for i := 1; i < len(fs); i++ {
			if fs[i].first <= fs[i-1].last {
				return nil, 0, fmt.Errorf("%w: partition %d: %s and %s", ErrOverlap, p, fs[i-1].key, fs[i].key)
			}
		}
		next[p] = fs[len(fs)-1].last + 1
	}
	return next, files, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
