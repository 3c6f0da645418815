// Package export writes a topic, read straight from object storage by
// replay, as Parquet files for analytics: what `strata replay --format
// parquet` runs. Rerun, it continues after what an earlier run wrote, and
// never writes a record twice.
//
// It owns the file layout, the Parquet schema, the sizing of files and row
// groups, resumption, the decoding of values through the schema registry
// (Decoder), and the Iceberg table the files can be committed to. It leaves reading the log to replay (one
// replay.Replayer per partition, started at that partition's resume
// offset), storage to objstore.Bucket (fs for a directory, s3 for
// s3://bucket/prefix), and schemas to a schema registry client (Registry).
//
// # Layout
//
// Under the output, one directory per topic and one per UTC date
// (Hive-style, so that engines prune by date), and one file per contiguous
// run of a partition's records:
//
//	<topic>/date=2026-11-01/part-00003-00000000000000001000-00000000000000001999.parquet
//	        date            partition  first offset          last offset
//
// Every record of a file has the file's date (a file is closed when the
// date of its partition's records changes, so late or early timestamps cost
// a smaller file, never a record under the wrong date). The partition is in
// the name rather than a partition=N directory: Hive partition columns must
// not repeat a column of the files, and partition is one.
//
// # Schema
//
// Columns, with Iceberg field ids, zstd-compressed, in row groups of
// Config.RowGroupBytes of raw data (default 64 MiB), in files of about
// Config.FileBytes (default 256 MiB):
//
//	topic            1  string
//	partition        2  int32
//	offset           3  int64
//	timestamp        4  timestamp(ms, UTC)   the record's (create or log-append) time
//	key              5  binary, null for a null key
//	value            6  binary, null for a null value; with a Decoder, the typed columns
//	headers          7  list<struct<key string, value binary>>
//	value_schema_id  8  int32 (with a Decoder): the schema id the value was written with
//
// (parquet-go orders a group's columns by name.) The file's key-value
// metadata has strata.topic, and with a Decoder strata.value.schema_id, the
// id of the schema whose columns value has.
//
// With a Decoder, an Avro value becomes a struct of its record's fields,
// each optional (so that any version of the subject fits): boolean, int
// (int32), long (int64), float, double, string, bytes, enum (as string),
// fixed (fixed_len_byte_array), array (list), map (map<string, value>),
// record (struct); a union with null is the optional branch, a union of
// several types a struct with one optional field per branch, named as Avro
// names branches; logical types date, time-millis/-micros,
// timestamp-millis/-micros (UTC), local-timestamp-millis/-micros and
// decimal map to their Parquet logical types.
//
// A JSON Schema value becomes, likewise, a struct of its properties (each
// optional): string, integer (int64), number (double), boolean, array
// (list), object with properties (struct), enum (string); local $refs are
// followed, and a type or anyOf/oneOf that only adds null is its other
// schema. What has no single type (several types, an object without
// properties) is a string column of the value's JSON text.
//
// A Protobuf value (its message picked by the wire format's message
// indexes) becomes a struct of the fields of the schema's first message:
// scalars as their Parquet types (uint32 and uint64 as unsigned integers),
// enums by name, repeated fields as lists, maps as map<string, value> (keys
// as text), messages as structs; proto3 scalars without presence that are
// unset hold their default, fields with presence (messages, optional) are
// null when unset.
//
// # Resuming, and crash ordering
//
// Invariant: the files under <topic>/ hold, for each partition, disjoint
// offset ranges, and every record of the export up to a partition's
// highest exported offset; a file is visible complete or not at all.
//
// Mechanism: a partition's records are written to a spool file on local
// disk (Config.SpoolDir); when the file is complete it is PUT under its
// key, create-only (If-None-Match: * on S3; for a directory, fs writes a
// temp file and links it into place), and only then does the partition's
// next file begin. So a killed export leaves, per partition, a prefix of
// its records in complete files, and at most a spool file in the temp
// directory. Run first lists <topic>/, checks that no two files of a
// partition overlap (ErrOverlap otherwise: a rerun then writes nothing),
// and starts each partition after its highest exported offset. Gaps between
// files are expected (transaction markers, aborted or compacted records
// are not exported).
//
// An output directory or prefix holds one export of a topic: rerun with
// the same selection (partitions, ranges, --decode). Two exports of one
// topic into one output at once are not supported; create-only PUTs turn
// most such races into errors, and the next run's overlap check catches the
// rest. Records that retention deleted between two runs are not exported.
//
// Rejected: a manifest or checkpoint object recording progress (a second
// write that can disagree with the files; the file names are the record),
// and uploading a partition's files in parallel (a later file visible
// before an earlier one would make a rerun skip records).
//
// # Library
//
// github.com/parquet-go/parquet-go rather than apache/arrow-go: it writes
// rows of Go values against a schema built at run time (the decoded value's
// columns come from a registry schema), with zstd from klauspost/compress,
// which Strata already uses, and adds a few small modules (its bit packing
// and JSON helpers, go-geom, brotli); arrow-go would
// mean building Arrow record batches column by column and brings Arrow's
// much larger dependency tree, for no gain in what the files hold.
//
// # Iceberg
//
// With Config.IcebergLocation set, the export then commits the files to an
// Iceberg table (format version 2) at <topic>/, which engines read as a
// table (pyiceberg's StaticTable, Spark/Trino/DuckDB given the metadata
// file, or registered in a catalog by its location). The table needs no
// catalog: its state is the newest metadata/v<N>.metadata.json, and a
// commit writes a manifest of the files the table does not hold yet (this
// run's, and any a killed run left), a manifest list of the current
// snapshot's manifests and it, and then v<N+1>.metadata.json create-only,
// which is the commit: a lost race fails with objstore.ErrExists and the
// rerun commits again. A run killed before its commit leaves files the
// table does not hold; the next run adds them. The schema is the files'
// (field ids as above, nested ones included, timestamptz for timestamp),
// partitioned by day(timestamp); a later run whose files have another
// schema fails with ErrIcebergSchema.
//
// Each manifest entry carries its file's column statistics, by field id,
// so that engines prune files by value as well as by date: column sizes,
// value and null counts, and lower and upper bounds, in Iceberg's
// single-value serialization (int and date 4 bytes little-endian; long,
// and time and timestamps as microseconds, 8; float and double their IEEE
// bits, without NaNs; strings cut to 16 characters and binary to 16
// bytes, an upper bound so cut incremented; decimals as minimal
// two's-complement big-endian). They are read from the file's footer, the
// column-chunk statistics parquet-go writes, not tracked while writing: a
// commit also adds the files of a killed run, which only their footers
// describe. Bounds are kept for the primitive columns outside lists and
// maps (partition, offset, timestamp, key, a bytes value, and the decoded
// value's fields, in nested structs too), as Iceberg's own writers keep
// them; fields of lists and maps get counts only. NaN counts are left
// out (footers do not have them).
//
// Why not github.com/apache/iceberg-go (v0.7.0 is on the module proxy): it
// commits only through a catalog (REST, Glue or SQL), and brings arrow-go
// and the Azure and Google Cloud SDKs into the build for three small JSON
// and Avro files, which hamba/avro (already a dependency) writes.
//
// # Usage
//
//	job, err := export.New(export.Config{
//		Index: store, Source: bucket, Out: out,
//		Replay: replay.Options{Topic: "orders"},
//	})
//	if err == nil {
//		err = job.Run(ctx)
//	}
//	fmt.Println(job.Stats())
package export
