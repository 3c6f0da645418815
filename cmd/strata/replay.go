package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/term"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/replay"
	"github.com/stratalog/strata/replay/export"
	"github.com/stratalog/strata/schemaregistry"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/objstore/fs"
	"github.com/stratalog/strata/tiered/objstore/s3"
)

// replayConfig is everything `strata replay` is told.
type replayConfig struct {
	storeConfig
	NATSURL string

	Topic                string
	Partitions           []int32
	FromOffset, ToOffset int64
	From, To             time.Time
	Format               string
	TextFormat           string
	Out                  string
	ReadCommitted        bool
	Concurrency          int
	Progress             bool
	Parquet              parquetConfig
}

// defaultReplayNATS is where the embedded NATS of a `strata serve` on the
// same machine listens by default (--embedded-nats-listen).
const defaultReplayNATS = "nats://127.0.0.1:4222"

func parseReplayFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (replayConfig, error) {
	var c replayConfig
	var partitions, from, to string
	c.NATSURL, c.Format, c.TextFormat, c.Out, c.Progress = defaultReplayNATS, "text", replay.DefaultTextFormat, "-", true
	defs := append(storeFlags(&c.storeConfig),
		flagDef{name: "nats-url", usage: "the coordinator's NATS servers (comma-separated): a cluster's, or the embedded NATS of a strata serve on this machine", value: (*stringValue)(&c.NATSURL)})
	locals := []flagDef{
		{name: "topic", usage: "the topic to read (required)", value: (*stringValue)(&c.Topic)},
		{name: "partitions", usage: "partitions to read, e.g. 0,2,5-7 (default all)", value: (*stringValue)(&partitions)},
		{name: "from-offset", usage: "first offset to read in each partition (default the log start)", value: (*int64Value)(&c.FromOffset)},
		{name: "to-offset", usage: "offset to stop before in each partition (default the end of what object storage holds)", value: (*int64Value)(&c.ToOffset)},
		{name: "from", usage: "start each partition at its first record at or after this time (RFC 3339)", value: (*stringValue)(&from)},
		{name: "to", usage: "stop each partition before its first record at or after this time (RFC 3339)", value: (*stringValue)(&to)},
		{name: "format", usage: "text (see -f), json (kcat -J's envelope, one object per line) or parquet (files under --out DIR or s3://bucket/prefix)", value: (*stringValue)(&c.Format)},
		{name: "f", usage: "the text format, as kcat's -f: %t topic, %p partition, %o offset, %T timestamp, %k key, %K key length, %s value, %S value length, %h headers", value: (*stringValue)(&c.TextFormat)},
		{name: "out", usage: "where records go: - (stdout), a file, or kafka://host:port[,host:port]/topic to produce them to a Kafka topic with the same partition numbers; with --format parquet a directory or s3://bucket/prefix", value: (*stringValue)(&c.Out)},
		{name: "read-committed", usage: "leave out the records of aborted transactions", value: (*boolValue)(&c.ReadCommitted)},
		{name: "concurrency", usage: "object-store GETs in flight", value: (*intValue)(&c.Concurrency)},
		{name: "progress", usage: "report progress on stderr (a bar on a terminal, a line every 5s otherwise)", value: (*boolValue)(&c.Progress)},
	}
	locals = append(locals, parquetFlags(&c.Parquet)...)
	c.Concurrency = replay.DefaultConcurrency
	fs, err := parseFlags("strata replay", defs, locals, args, lookupEnv, stderr)
	if err != nil {
		return c, err
	}
	toOffsetSet := false
	fs.Visit(func(f *flag.Flag) { toOffsetSet = toOffsetSet || f.Name == "to-offset" })
	if err := c.storeConfig.check(); err != nil {
		return c, err
	}
	if c.Partitions, err = parsePartitions(partitions); err != nil {
		return c, err
	}
	if c.From, err = parseTime("--from", from); err != nil {
		return c, err
	}
	if c.To, err = parseTime("--to", to); err != nil {
		return c, err
	}
	switch {
	case c.Topic == "":
		return c, errors.New("--topic is required")
	case c.NATSURL == "":
		return c, errors.New("--nats-url is required")
	case c.Format != "text" && c.Format != "json" && c.Format != "parquet":
		return c, fmt.Errorf("--format must be text, json or parquet, not %q", c.Format)
	case c.FromOffset < 0:
		return c, errors.New("--from-offset must not be negative")
	case toOffsetSet && c.ToOffset <= 0:
		return c, errors.New("--to-offset must be positive")
	case c.ToOffset > 0 && c.ToOffset <= c.FromOffset:
		return c, errors.New("--to-offset must be above --from-offset")
	case !c.From.IsZero() && !c.To.IsZero() && !c.To.After(c.From):
		return c, errors.New("--to must be after --from")
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return c, fmt.Errorf("--concurrency %d out of range 1..1024", c.Concurrency)
	}
	if _, err := replay.NewTextFormatter(io.Discard, c.TextFormat); err != nil {
		return c, fmt.Errorf("-f: %w", err)
	}
	if err := c.Parquet.check(c.Format, c.Out); err != nil {
		return c, err
	}
	return c, nil
}

// parsePartitions parses a list such as "0,2,5-7".
func parsePartitions(s string) ([]int32, error) {
	if s == "" {
		return nil, nil
	}
	var out []int32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseInt(lo, 10, 32)
		b := a
		if err == nil && isRange {
			b, err = strconv.ParseInt(hi, 10, 32)
		}
		if err != nil || a < 0 || b < a || b-a > 1<<20 {
			return nil, fmt.Errorf("--partitions: %q is not a partition or a range of them", part)
		}
		for p := a; p <= b; p++ {
			out = append(out, int32(p))
		}
	}
	return out, nil
}

func parseTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", flagName, s)
	}
	return t, nil
}

// runReplay is `strata replay`.
func runReplay(ctx context.Context, cfg replayConfig, stdout, stderr io.Writer) error {
	nc, err := nats.Connect(splitURLs(cfg.NATSURL), nats.Name("strata-replay"), nats.Timeout(5*time.Second))
	if err != nil {
		hint := ""
		if cfg.NATSURL == defaultReplayNATS {
			hint = " (is a strata serve with its embedded NATS running on this machine? otherwise give the cluster's --nats-url)"
		}
		return fmt.Errorf("connect to nats %s: %w%s", cfg.NATSURL, err, hint)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	store, err := coordinator.OpenReadOnly(ctx, js, coordinator.Config{})
	if err != nil {
		return err
	}
	bucket, err := openBucket(ctx, cfg.storeConfig)
	if err != nil {
		return err
	}
	if cfg.Format == "parquet" {
		return runParquetExport(ctx, cfg, js, store, bucket, stderr)
	}
	r := replay.New(store, bucket, replay.Options{
		Topic: cfg.Topic, Partitions: cfg.Partitions,
		FromOffset: cfg.FromOffset, ToOffset: cfg.ToOffset,
		From: cfg.From, To: cfg.To,
		ReadCommitted: cfg.ReadCommitted, Concurrency: cfg.Concurrency,
		// The text and JSON formatters copy what they write; a producer
		// keeps the record's slices until they are sent.
		ReuseBuffers: !strings.HasPrefix(cfg.Out, "kafka://"),
	})

	topic, err := store.LoadTopic(ctx, cfg.Topic)
	if err != nil {
		return fmt.Errorf("topic %s: %w", cfg.Topic, err)
	}
	sink, err := openSink(ctx, cfg, topic.Partitions, stdout)
	if err != nil {
		return err
	}
	stopProgress := func() {}
	if cfg.Progress {
		stopProgress = reportProgress(r, stderr)
	}
	err = r.Run(ctx, func(rec replay.Record) error { return sink.write(ctx, cfg.Topic, rec) })
	if closeErr := sink.close(ctx); err == nil {
		err = closeErr
	}
	stopProgress()
	if err != nil {
		return err
	}
	p := r.Progress()
	fmt.Fprintf(stderr, "strata replay: %d records, %s read from object storage\n", p.Records, humanBytes(p.ReadBytes))
	return nil
}

// sink is where replayed records go.
type sink struct {
	write func(ctx context.Context, topic string, rec replay.Record) error
	close func(ctx context.Context) error
}

func openSink(ctx context.Context, cfg replayConfig, partitions int32, stdout io.Writer) (sink, error) {
	if strings.HasPrefix(cfg.Out, "kafka://") {
		return kafkaSink(ctx, cfg.Out, partitions)
	}
	w, closeFile := stdout, func() error { return nil }
	if cfg.Out != "-" {
		f, err := os.Create(cfg.Out)
		if err != nil {
			return sink{}, err
		}
		w, closeFile = f, f.Close
	}
	var f replay.Formatter = replay.NewJSONFormatter(w)
	if cfg.Format == "text" {
		var err error
		if f, err = replay.NewTextFormatter(w, cfg.TextFormat); err != nil {
			return sink{}, err
		}
	}
	return sink{
		write: func(_ context.Context, topic string, rec replay.Record) error { return f.Format(topic, rec) },
		close: func(context.Context) error { return errors.Join(f.Flush(), closeFile()) },
	}, nil
}

// kafkaSink produces records to the topic kafka://brokers/topic names, each
// to the partition it came from, with its key, value, headers and
// timestamp, through an idempotent producer with acks=all. The topic must
// exist with at least the source's partitions.
func kafkaSink(ctx context.Context, out string, partitions int32) (sink, error) {
	u, err := url.Parse(out)
	if err != nil || u.Host == "" || len(u.Path) < 2 {
		return sink{}, fmt.Errorf("--out %q: want kafka://host:port[,host:port]/topic", out)
	}
	topic := u.Path[1:]
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(u.Host, ",")...),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ClientID("strata-replay"))
	if err != nil {
		return sink{}, fmt.Errorf("--out %s: %w", out, err)
	}
	if err := checkTargetTopic(ctx, cl, topic, partitions); err != nil {
		cl.Close()
		return sink{}, fmt.Errorf("--out %s: %w", out, err)
	}
	// The first failure stops the replay; later ones add nothing.
	failed := make(chan error, 1)
	return sink{
		write: func(ctx context.Context, _ string, rec replay.Record) error {
			select {
			case err := <-failed:
				return err
			default:
			}
			kr := &kgo.Record{Key: rec.Key, Value: rec.Value, Partition: rec.Partition, Timestamp: time.UnixMilli(rec.Timestamp)}
			for _, h := range rec.Headers {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
			cl.Produce(ctx, kr, func(r *kgo.Record, err error) {
				if err != nil {
					select {
					case failed <- fmt.Errorf("produce to %s partition %d: %w", topic, r.Partition, err):
					default:
					}
				}
			})
			return nil
		},
		close: func(ctx context.Context) error {
			defer cl.Close()
			if err := cl.Flush(ctx); err != nil {
				return err
			}
			select {
			case err := <-failed:
				return err
			default:
				return nil
			}
		},
	}, nil
}

// checkTargetTopic fails unless topic exists on cl's cluster with at least
// partitions partitions, so that a backfill never half-starts.
func checkTargetTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	details, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("look up topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	switch {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("topic %s does not exist; create it with at least %d partitions", topic, partitions)
	case d.Err != nil:
		return fmt.Errorf("topic %s: %w", topic, d.Err)
	case int32(len(d.Partitions)) < partitions:
		return fmt.Errorf("topic %s has %d partitions, the source has %d: records keep their partition", topic, len(d.Partitions), partitions)
	}
	return nil
}

// reportProgress reports r's progress on w until the returned func is
// called: a bar on a terminal, a plain line every 5 seconds otherwise.
func reportProgress(r progresser, w io.Writer) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	go func() {
		defer close(finished)
		if tty {
			barProgress(r, w, done)
			return
		}
		lineProgress(r, w, done)
	}()
	return func() { close(done); <-finished }
}

// progresser is a replay or an export.
type progresser interface{ Progress() replay.Progress }

func barProgress(r progresser, w io.Writer, done <-chan struct{}) {
	bar := progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("replay"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
	)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		p := r.Progress()
		if p.Planned && bar.GetMax64() != p.PlannedBytes {
			bar.ChangeMax64(p.PlannedBytes)
		}
		bar.Describe(fmt.Sprintf("replay: %d records", p.Records))
		_ = bar.Set64(p.ReadBytes)
		select {
		case <-done:
			_ = bar.Finish()
			fmt.Fprintln(w)
			return
		case <-tick.C:
		}
	}
}

func lineProgress(r progresser, w io.Writer, done <-chan struct{}) {
	start := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		p := r.Progress()
		elapsed := time.Since(start)
		rate := float64(p.ReadBytes) / elapsed.Seconds()
		line := fmt.Sprintf("strata replay: %s read, %d records, %s/s", humanBytes(p.ReadBytes), p.Records, humanBytes(int64(rate)))
		if p.Planned && p.PlannedBytes > 0 && rate > 0 {
			left := time.Duration(float64(p.PlannedBytes-p.ReadBytes) / rate * float64(time.Second)).Round(time.Second)
			line += fmt.Sprintf(" of %s (%.0f%%), ETA %s", humanBytes(p.PlannedBytes), 100*float64(p.ReadBytes)/float64(p.PlannedBytes), max(left, 0))
		}
		fmt.Fprintln(w, line)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

type int64Value int64

func (v *int64Value) String() string { return strconv.FormatInt(int64(*v), 10) }
func (v *int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	*v = int64Value(n)
	return err
}

var _ flag.Value = (*int64Value)(nil)

// parquetConfig is what `strata replay --format parquet` adds.
type parquetConfig struct {
	FileBytes         int64
	Parallel          int
	Decode            bool
	ValueSubject      string
	SchemaRegistryURL string
	Iceberg           bool
}

func parquetFlags(c *parquetConfig) []flagDef {
	c.FileBytes, c.Parallel = export.DefaultFileBytes, export.DefaultParallel
	return []flagDef{
		{name: "file-bytes", usage: "--format parquet: the size a Parquet file is closed at", value: (*int64Value)(&c.FileBytes)},
		{name: "parallel", usage: "--format parquet: partitions exported at once (each holds a row group in memory)", value: (*intValue)(&c.Parallel)},
		{name: "decode", usage: "--format parquet: write values in the schema registry's wire format (Avro, JSON Schema, Protobuf) as typed columns", value: (*boolValue)(&c.Decode)},
		{name: "value-subject", usage: "--decode: the subject whose latest schema gives the value columns (default <topic>-value)", value: (*stringValue)(&c.ValueSubject)},
		{name: "iceberg", usage: "--format parquet: commit the files to an Iceberg table under <out>/<topic> (metadata/v<N>.metadata.json)", value: (*boolValue)(&c.Iceberg)},
		{name: "schema-registry-url", usage: "--decode: read schemas from this registry (default: straight from the coordinator, as the gateways' registry stores them)", value: (*stringValue)(&c.SchemaRegistryURL)},
	}
}

func (c parquetConfig) check(format, out string) error {
	if format != "parquet" {
		switch {
		case c.Decode:
			return errors.New("--decode needs --format parquet")
		case c.Iceberg:
			return errors.New("--iceberg needs --format parquet")
		}
		return nil
	}
	switch {
	case out == "-" || out == "" || strings.HasPrefix(out, "kafka://"):
		return errors.New("--format parquet needs --out DIR or s3://bucket/prefix")
	case strings.HasPrefix(out, "s3://") && len(out) == len("s3://"):
		return fmt.Errorf("--out %q: want s3://bucket/prefix", out)
	case c.FileBytes < 1<<10:
		return errors.New("--file-bytes must be at least 1024")
	case c.Parallel < 1 || c.Parallel > 1024:
		return fmt.Errorf("--parallel %d out of range 1..1024", c.Parallel)
	}
	return nil
}

// runParquetExport is `strata replay --format parquet`: it exports the topic
// into Parquet files (replay/export), continuing after the files an earlier
// export left there.
func runParquetExport(ctx context.Context, cfg replayConfig, js jetstream.JetStream, store *coordinator.Store, source objstore.Bucket, stderr io.Writer) error {
	out, err := openExportOut(ctx, cfg)
	if err != nil {
		return err
	}
	ecfg := export.Config{
		Index: store, Source: source, Out: out,
		Replay: replay.Options{
			Topic: cfg.Topic, Partitions: cfg.Partitions,
			FromOffset: cfg.FromOffset, ToOffset: cfg.ToOffset,
			From: cfg.From, To: cfg.To,
			ReadCommitted: cfg.ReadCommitted, Concurrency: cfg.Concurrency,
		},
		FileBytes: cfg.Parquet.FileBytes, Parallel: cfg.Parquet.Parallel,
	}
	if cfg.Parquet.Iceberg {
		if ecfg.IcebergLocation, err = icebergLocation(cfg.Out, cfg.Topic); err != nil {
			return err
		}
	}
	if cfg.Parquet.Decode {
		reg, stop, err := openSchemaRegistry(ctx, js, store, cfg.Parquet.SchemaRegistryURL)
		if err != nil {
			return err
		}
		defer stop()
		subject := cfg.Parquet.ValueSubject
		if subject == "" {
			subject = cfg.Topic + "-value"
		}
		if ecfg.Decoder, err = export.NewDecoder(ctx, reg, subject); err != nil {
			return err
		}
	}
	job, err := export.New(ecfg)
	if err != nil {
		return err
	}
	stopProgress := func() {}
	if cfg.Progress {
		stopProgress = reportProgress(job, stderr)
	}
	err = job.Run(ctx)
	stopProgress()
	st := job.Stats()
	fmt.Fprintf(stderr, "strata replay: %d records in %d Parquet files (%s) to %s", st.Rows, st.Files, humanBytes(st.Bytes), cfg.Out)
	if st.Skipped > 0 {
		fmt.Fprintf(stderr, "; %d partitions continued after %d files of an earlier export", st.Resumed, st.Skipped)
	}
	if st.IcebergCommit != "" {
		fmt.Fprintf(stderr, "; committed %s (%d files added)", st.IcebergCommit, st.IcebergFiles)
	}
	fmt.Fprintln(stderr)
	return err
}

// icebergLocation is the URI of the topic's table under --out.
func icebergLocation(out, topic string) (string, error) {
	if rest, ok := strings.CutPrefix(out, "s3://"); ok {
		return "s3://" + strings.Trim(rest, "/") + "/" + topic, nil
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("--out %s: %w", out, err)
	}
	return "file://" + filepath.ToSlash(abs) + "/" + topic, nil
}

// openExportOut opens --out: s3://bucket/prefix through the same S3 client
// (endpoint, region, addressing, credentials) as the source, or a
// directory.
func openExportOut(ctx context.Context, cfg replayConfig) (objstore.Bucket, error) {
	if rest, ok := strings.CutPrefix(cfg.Out, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		b, err := s3.New(ctx, s3.Config{
			Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, PathStyle: cfg.S3.PathStyle,
			Bucket: bucket, Prefix: strings.Trim(prefix, "/"),
		})
		if err != nil {
			return nil, fmt.Errorf("--out %s: %w", cfg.Out, err)
		}
		return b, nil
	}
	b, err := fs.New(cfg.Out)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", cfg.Out, err)
	}
	return b, nil
}

// openSchemaRegistry returns a schema registry client: over HTTP to url,
// or, with no url, to a schemaregistry.Registry run in this process over
// the coordinator's schema bucket, read-only. The second keeps replay free
// of gateways (like the rest of it) and reads the records as the gateways'
// registry stores them, with the registry's own code.
func openSchemaRegistry(ctx context.Context, js jetstream.JetStream, store *coordinator.Store, url string) (*sr.Client, func(), error) {
	if url != "" {
		cl, err := sr.NewClient(sr.URLs(url))
		if err != nil {
			return nil, nil, fmt.Errorf("--schema-registry-url %s: %w", url, err)
		}
		return cl, func() {}, nil
	}
	bucket := coordinator.DefaultPrefix + "_schemas"
	if _, err := js.KeyValue(ctx, bucket); err != nil {
		return nil, nil, fmt.Errorf("schema registry bucket %s: %w", bucket, err)
	}
	reg, err := schemaregistry.New(schemaregistry.Config{KV: readOnlySchemas{store.Schemas()}})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	stop := func() { cancel(); <-done }
	select {
	case <-reg.Synced():
	case err := <-done:
		cancel()
		return nil, nil, fmt.Errorf("read schema registry bucket %s: %w", bucket, err)
	case <-time.After(30 * time.Second):
		stop()
		return nil, nil, fmt.Errorf("read schema registry bucket %s: not loaded within 30s", bucket)
	}
	cl, err := sr.NewClient(sr.URLs("http://in-process"), sr.HTTPClient(&http.Client{Transport: handlerTransport{reg}}))
	if err != nil {
		stop()
		return nil, nil, err
	}
	return cl, stop, nil
}

// handlerTransport serves HTTP requests with a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// readOnlySchemas is the coordinator's schema bucket for a reader: its Get
// and Watch, and writes refused.
type readOnlySchemas struct{ *coordinator.SchemaKV }

var errReadOnlySchemas = errors.New("strata replay reads the schema registry and never writes it")

func (readOnlySchemas) Put(context.Context, string, []byte, uint64) (uint64, bool, error) {
	return 0, false, errReadOnlySchemas
}

func (readOnlySchemas) Delete(context.Context, string, uint64) (bool, error) {
	return false, errReadOnlySchemas
}
