package export

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/stratalog/strata/replay"
)

// rowOverhead is what a row costs beyond its key, value and headers, in
// the raw-bytes estimate that sizes row groups and files.
const rowOverhead = 48

// partitionFile is the file being written for one partition: rows go into
// a spool file on local disk, and once the file is complete (the size
// target reached, the date changed, or the partition's end) it is PUT to
// the output under the key that names its offsets. It is owned by one
// partition's export goroutine.
type partitionFile struct {
	job       *Job
	partition int32

	spool *os.File
	count *countingWriter
	w     *parquet.GenericWriter[map[string]any]
	row   []map[string]any // one row, reused

	day         time.Time
	first, last int64
	rows        int64
	// buffered is the raw size of the rows since the last row group was
	// cut; flushedRaw the raw size of those before, which came to
	// count.n bytes of Parquet.
	buffered, flushedRaw int64
}

// countingWriter counts what goes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// add writes rec into the open file, first closing and uploading the open
// file when rec's date differs from the file's.
func (f *partitionFile) add(ctx context.Context, rec replay.Record) error {
	day := time.UnixMilli(rec.Timestamp).UTC().Truncate(24 * time.Hour)
	if f.w != nil && !day.Equal(f.day) {
		if err := f.finish(ctx); err != nil {
			return err
		}
	}
	if f.w == nil {
		if err := f.open(day, rec.Offset); err != nil {
			return err
		}
	}
	row, err := f.job.row(ctx, rec)
	if err != nil {
		return fmt.Errorf("export: partition %d offset %d: %w", rec.Partition, rec.Offset, err)
	}
	f.row[0] = row
	if err := f.write(); err != nil {
		return fmt.Errorf("export: partition %d offset %d: %w", rec.Partition, rec.Offset, err)
	}
	f.last = rec.Offset
	f.rows++
	f.buffered += rawSize(rec)
	if f.buffered >= f.job.rowGroupBytes {
		if err := f.cutRowGroup(); err != nil {
			return err
		}
	}
	if f.estimate() >= f.job.cfg.FileBytes {
		return f.finish(ctx)
	}
	return nil
}

// write writes f.row. parquet-go panics on a value its column cannot take;
// that is the input's fault, so it becomes an error.
func (f *partitionFile) write() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write row: %v", r)
		}
	}()
	_, err = f.w.Write(f.row)
	return err
}

func (f *partitionFile) cutRowGroup() error {
	if err := f.w.Flush(); err != nil {
		return fmt.Errorf("export: partition %d: write row group: %w", f.partition, err)
	}
	f.flushedRaw += f.buffered
	f.buffered = 0
	return nil
}

// estimate is the file's size were it closed now: what is written, plus
// the buffered rows at the compression ratio seen so far (1 before the
// first row group).
func (f *partitionFile) estimate() int64 {
	if f.flushedRaw == 0 {
		return f.buffered
	}
	return f.count.n + f.buffered*f.count.n/f.flushedRaw
}

func (f *partitionFile) open(day time.Time, first int64) error {
	spool, err := os.CreateTemp(f.job.cfg.SpoolDir, "strata-export-*.parquet")
	if err != nil {
		return fmt.Errorf("export: spool file: %w", err)
	}
	f.spool, f.count = spool, &countingWriter{w: spool}
	f.w = parquet.NewGenericWriter[map[string]any](f.count, f.job.writerOptions...)
	f.row = make([]map[string]any, 1)
	f.day, f.first, f.last, f.rows, f.buffered, f.flushedRaw = day, first, first, 0, 0, 0
	return nil
}

// finish closes the open file and PUTs it under its key, create-only, and
// only then returns: a partition's files become visible in offset order, so
// what a killed export leaves is always a prefix of each partition's
// records (see the package doc).
func (f *partitionFile) finish(ctx context.Context) error {
	if f.w == nil {
		return nil
	}
	defer f.discard()
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("export: partition %d: close file: %w", f.partition, err)
	}
	size := f.count.n
	if _, err := f.spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("export: partition %d: rewind spool file: %w", f.partition, err)
	}
	key := fileKey(f.job.topic, f.day, f.partition, f.first, f.last)
	if err := f.job.cfg.Out.Put(ctx, key, f.spool, size); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	f.job.fileDone(key, f.rows, size)
	return nil
}

// discard drops the open file, uploaded or not.
func (f *partitionFile) discard() {
	if f.spool != nil {
		_ = f.spool.Close()           // nothing in it is kept
		_ = os.Remove(f.spool.Name()) // a leftover is only disk space
	}
	f.spool, f.count, f.w = nil, nil, nil
}

func rawSize(rec replay.Record) int64 {
	n := int64(len(rec.Key) + len(rec.Value) + rowOverhead)
	for _, h := range rec.Headers {
		n += int64(len(h.Key) + len(h.Value) + 8)
	}
	return n
}
