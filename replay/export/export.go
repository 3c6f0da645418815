package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/replay"
	"github.com/stratalog/strata/tiered/objstore"
)

// Defaults of Config's zero fields.
const (
	DefaultFileBytes     = 256 << 20
	DefaultRowGroupBytes = 64 << 20
	DefaultParallel      = 4
)

// Config is one export of a topic.
type Config struct {
	// Index and Source are where the topic is read from: the coordinator's
	// index and the bucket its segments are in. Required.
	Index  replay.Index
	Source objstore.Bucket
	// Replay selects what is read (Topic is required); Concurrency and
	// MaxBufferedBytes are shared among the partitions read at once.
	// Partitions exported before are read from after their last exported
	// offset, whatever FromOffset says.
	Replay replay.Options
	// Out is where files go, under "<topic>/" (an fs.Bucket for a
	// directory, an s3.Bucket with a prefix for S3). Its Put must be
	// create-only and atomic (objstore.Bucket's contract). Required.
	Out objstore.Bucket
	// FileBytes is the size a file is closed at (it ends up about that
	// big: the estimate uses the compression ratio seen so far). Default
	// DefaultFileBytes.
	FileBytes int64
	// RowGroupBytes is the raw size (keys, values, headers) of a row
	// group. Default DefaultRowGroupBytes, at most FileBytes.
	RowGroupBytes int64
	// Parallel is how many partitions are exported at once; each holds a
	// row group in memory. Default DefaultParallel.
	Parallel int
	// Decoder, when set, writes values as typed columns (see Decoder);
	// nil writes them as bytes.
	Decoder *Decoder
	// IcebergLocation, when set, makes the export commit the files it
	// finds under <topic>/ to an Iceberg table there (see the package
	// doc) after writing them: the URI of <topic>/ in Out as engines
	// reach it, such as s3://bucket/prefix/orders or file:///data/lake/orders.
	IcebergLocation string
	// SpoolDir is where files are written before their upload. Default
	// os.TempDir().
	SpoolDir string
	// Logger logs each file written; nil discards.
	Logger *slog.Logger
}

// Stats is what an export has done so far.
type Stats struct {
	// Resumed is how many partitions continued after files of an earlier
	// export, Skipped how many files of earlier exports there were.
	Resumed, Skipped int
	// Files, Rows and Bytes are what this export wrote.
	Files, Rows, Bytes int64
	// IcebergCommit is the metadata file the export committed (its key
	// in Out), and IcebergFiles how many files that snapshot added; empty
	// when it committed nothing.
	IcebergCommit string
	IcebergFiles  int
}

// Job exports one topic. Run it once.
type Job struct {
	cfg           Config
	topic         string
	rowGroupBytes int64
	schema        *parquet.Schema
	writerOptions []parquet.WriterOption
	log           *slog.Logger

	mu        sync.Mutex // guards replayers and stats.Resumed, stats.Skipped
	replayers []*replay.Replayer
	stats     Stats
	pending   atomic.Int64 // partitions whose replay has not yet started
	files     atomic.Int64
	rows      atomic.Int64
	bytes     atomic.Int64
}

// New checks cfg, fills its defaults and returns a Job.
func New(cfg Config) (*Job, error) {
	switch {
	case cfg.Index == nil || cfg.Source == nil:
		return nil, errors.New("export: Config.Index and Config.Source are required")
	case cfg.Out == nil:
		return nil, errors.New("export: Config.Out is required")
	case cfg.Replay.Topic == "":
		return nil, errors.New("export: no topic given")
	case cfg.FileBytes < 0 || cfg.RowGroupBytes < 0 || cfg.Parallel < 0:
		return nil, errors.New("export: negative FileBytes, RowGroupBytes or Parallel")
	}
	if cfg.FileBytes == 0 {
		cfg.FileBytes = DefaultFileBytes
	}
	if cfg.RowGroupBytes == 0 {
		cfg.RowGroupBytes = DefaultRowGroupBytes
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	if cfg.Replay.Concurrency <= 0 {
		cfg.Replay.Concurrency = replay.DefaultConcurrency
	}
	if cfg.Replay.MaxBufferedBytes <= 0 {
		cfg.Replay.MaxBufferedBytes = replay.DefaultMaxBufferedBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &Job{cfg: cfg, topic: cfg.Replay.Topic, rowGroupBytes: min(cfg.RowGroupBytes, cfg.FileBytes), log: log}
	var value parquet.Node = parquet.Optional(parquet.Leaf(parquet.ByteArrayType))
	meta := []parquet.WriterOption{parquet.KeyValueMetadata("strata.topic", j.topic)}
	if cfg.Decoder != nil {
		value = cfg.Decoder.Node()
		meta = append(meta, parquet.KeyValueMetadata("strata.value.schema_id", fmt.Sprint(cfg.Decoder.TargetID())))
	}
	j.schema = Schema(value, cfg.Decoder != nil)
	j.writerOptions = append([]parquet.WriterOption{
		j.schema,
		parquet.Compression(&parquet.Zstd),
		parquet.CreatedBy("strata", "", ""),
	}, meta...)
	return j, nil
}

// firstValueFieldID is the first field id of the decoded value's nested
// fields; those below are Schema's.
const firstValueFieldID = 100

// Schema is the Parquet schema of an exported file whose value column is
// value; decoded adds value_schema_id. Every column, nested ones included,
// carries an Iceberg field id (1-8 top-level, 9-11 in headers, the decoded
// value's from firstValueFieldID), so that the files can be added to an
// Iceberg table as they are.
func Schema(value parquet.Node, decoded bool) *parquet.Schema {
	g := parquet.Group{
		"topic":     parquet.FieldID(parquet.String(), 1),
		"partition": parquet.FieldID(parquet.Int(32), 2),
		"offset":    parquet.FieldID(parquet.Int(64), 3),
		"timestamp": parquet.FieldID(parquet.TimestampAdjusted(parquet.Millisecond, true), 4),
		"key":       parquet.FieldID(parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), 5),
		"value":     parquet.FieldID(value, 6),
		"headers": parquet.FieldID(parquet.List(parquet.FieldID(parquet.Group{
			"key":   parquet.FieldID(parquet.String(), 9),
			"value": parquet.FieldID(parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), 10),
		}, 11)), 7),
	}
	if decoded {
		g["value_schema_id"] = parquet.FieldID(parquet.Optional(parquet.Int(32)), 8)
	}
	return parquet.NewSchema("strata_record", g)
}

// Run exports the topic: it lists what earlier exports wrote, then reads
// each selected partition from after its last exported offset and writes
// its files, Config.Parallel partitions at a time. It returns the first
// error; files uploaded before it stay, and a rerun continues after them.
func (j *Job) Run(ctx context.Context) error {
	t, err := j.cfg.Index.LoadTopic(ctx, j.topic)
	if err != nil {
		return fmt.Errorf("export: topic %s: %w", j.topic, err)
	}
	parts := j.cfg.Replay.Partitions
	if len(parts) == 0 {
		for p := range t.Partitions {
			parts = append(parts, p)
		}
	}
	for _, p := range parts {
		if p < 0 || p >= t.Partitions {
			return fmt.Errorf("export: topic %s has partitions 0-%d, not %d", t.Name, t.Partitions-1, p)
		}
	}
	next, files, err := exported(ctx, j.cfg.Out, j.topic)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.stats.Skipped = files
	j.mu.Unlock()
	j.pending.Store(int64(len(parts)))
	parallel := min(j.cfg.Parallel, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, p := range parts {
		opts := j.cfg.Replay
		opts.Partitions = []int32{p}
		opts.Concurrency = max(1, opts.Concurrency/parallel)
		opts.MaxBufferedBytes = max(1<<20, opts.MaxBufferedBytes/int64(parallel))
		if n, ok := next[p]; ok {
			opts.FromOffset = max(opts.FromOffset, n)
			j.mu.Lock()
			j.stats.Resumed++
			j.mu.Unlock()
		}
		g.Go(func() error {
			if opts.ToOffset > 0 && opts.FromOffset >= opts.ToOffset {
				j.pending.Add(-1)
				return nil
			}
			return j.exportPartition(gctx, p, opts)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if j.cfg.IcebergLocation != "" {
		return j.commitIceberg(ctx, j.schema)
	}
	return nil
}

// exportPartition exports one partition with its own Replayer.
func (j *Job) exportPartition(ctx context.Context, p int32, opts replay.Options) error {
	// Every record is written into the Parquet writer's column buffers,
	// which copy it, before the next is decoded.
	opts.ReuseBuffers = true
	r := replay.New(j.cfg.Index, j.cfg.Source, opts)
	j.mu.Lock()
	j.replayers = append(j.replayers, r)
	j.mu.Unlock()
	j.pending.Add(-1)
	f := &partitionFile{job: j, partition: p}
	defer f.discard()
	if err := r.Run(ctx, func(rec replay.Record) error { return f.add(ctx, rec) }); err != nil {
		return err
	}
	return f.finish(ctx)
}

// row is rec as a row of the file's schema.
func (j *Job) row(ctx context.Context, rec replay.Record) (map[string]any, error) {
	var headers []any
	for _, h := range rec.Headers {
		headers = append(headers, map[string]any{"key": h.Key, "value": nullable(h.Value)})
	}
	row := map[string]any{
		"topic": j.topic, "partition": rec.Partition, "offset": rec.Offset, "timestamp": rec.Timestamp,
		"key": nullable(rec.Key), "value": nullable(rec.Value), "headers": headers,
	}
	if j.cfg.Decoder != nil {
		v, id, err := j.cfg.Decoder.Decode(ctx, rec.Value)
		if err != nil {
			return nil, err
		}
		row["value"], row["value_schema_id"] = v, nil
		if rec.Value != nil {
			row["value_schema_id"] = id
		}
	}
	return row, nil
}

// nullable is b, with a null (nil) slice as an untyped nil: parquet-go
// writes a null for that, and an empty value for an empty slice.
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func (j *Job) fileDone(key string, rows, size int64) {
	j.files.Add(1)
	j.rows.Add(rows)
	j.bytes.Add(size)
	j.log.Info("exported file", "object", key, "rows", rows, "bytes", size)
}

// Stats returns what the export has done so far; safe to call while Run
// runs.
func (j *Job) Stats() Stats {
	j.mu.Lock()
	s := j.stats
	j.mu.Unlock()
	s.Files, s.Rows, s.Bytes = j.files.Load(), j.rows.Load(), j.bytes.Load()
	return s
}

// Progress sums the progress of the partitions' replays; Planned is set
// once every partition's replay has started and been planned.
func (j *Job) Progress() replay.Progress {
	j.mu.Lock()
	rs := append([]*replay.Replayer(nil), j.replayers...)
	j.mu.Unlock()
	out := replay.Progress{Planned: j.pending.Load() == 0}
	for _, r := range rs {
		p := r.Progress()
		out.PlannedBytes += p.PlannedBytes
		out.ReadBytes += p.ReadBytes
		out.Records += p.Records
		out.Planned = out.Planned && p.Planned
	}
	return out
}
