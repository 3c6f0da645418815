// Package bench measures Strata against baselines taken in the same run, since
// these machines are shared and noisy and absolute figures mean little.
//
// `make bench` builds bin/strata and runs BenchmarkProduceConsume, which, for
// each target, creates a 6-partition topic, produces a fixed volume of 1 KiB
// records with franz-go (acks=all, idempotent, the client's defaults otherwise)
// and reads it all back from the start by direct partition assignment:
//
//   - kfake: franz-go's in-memory fake cluster, the baseline;
//   - strata-file: `strata serve` embedded, segments in a local directory;
//   - strata-minio: `strata serve` with segments in a MinIO server on loopback.
//
// It reports produce MB/s, produce-to-acknowledgement latency p50 and p99 (per
// record, from the Produce call to its callback, so under full load it includes
// time queued in the client), and consume MB/s. BenchmarkRawMinIOPut measures
// raw 8 MiB PUT throughput to the same MinIO. After the benchmarks a markdown
// table prints every figure with its ratio to kfake (and Strata-on-MinIO produce
// as a share of raw PUT throughput): those ratios are the figures to quote.
//
// Strata acknowledges a produce only after the segment holding it is written to
// object storage and indexed, so with the default 250 ms flush interval its ack
// latency is dominated by that interval; the JetStream write-ahead tail (a later
// issue) is what brings it to milliseconds.
package bench
