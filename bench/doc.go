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
// `make profile` runs the same benchmarks (BENCH selects them, as -bench) with
// profiles: every gateway they start writes its CPU profile and, when it
// stops, its allocation and heap profiles to profiles/strata-<pid>-*.pprof
// (STRATA_PROFILE_DIR), and the benchmark process (kfake and the clients)
// writes profiles/bench-{cpu,mem}.pprof. A performance claim in this package
// should be traceable to such a profile. A running gateway serves the same
// profiles at /debug/pprof on its admin endpoint (on loopback, or behind
// --http-auth basic).
//
// BenchmarkProduceConsume runs each Strata target with its embedded NATS, so
// its topics are on the default wal tier with a one-node write-ahead tail.
//
// BenchmarkWAL measures the tiers against each other, with one gateway on a
// three-node NATS cluster started in the bench process (WAL and coordinator at
// R3) and segments in MinIO, at the default 250 ms flush interval. It produces
// 1 KiB incompressible records, uncompressed, with acks=all and linger 0:
//
//   - produce/10MBps/{wal,s3}: a fixed 10 MB/s load for 10 s on a 6-partition
//     topic of each tier; produce/max/{wal,s3}: 64 MiB as fast as it goes;
//   - baseline/...: on the same servers, raw JetStream R3 publishes
//     (synchronous, at the WAL's mean message size; the WAL's group commit
//     emulated at 10 MB/s over 6 subjects, and over 1,000, the second PUT
//     run's partition count; unbatched asynchronous at 10 MB/s; 1 MiB
//     messages at full speed) and raw MinIO PUTs of 1 and 8 MiB, one at a
//     time;
//   - p99-rounds: four more 10 MB/s wal runs, each followed by the 6-subject
//     group-commit baseline, since one disk stall moves a 10 s run's p99 by a
//     factor of several here; the summary gives every round's p99 ratio and
//     judges their median;
//   - puts/partitions-{6,1000}: 256 MiB at 10 MB/s to a wal topic, counting
//     segment PUTs on the gateway's /metrics, scaled to PUTs per GiB.
//
// For each run it reads the gateway's /metrics before and after (WAL append
// and flush histograms, PUTs, errors) and times the client's produce requests,
// so the summary shows where an acknowledgement's time goes; it also reports
// the CPU used by the gateway, by the bench process (NATS and the client) and
// by the whole host, since other work on a shared machine shows up in the
// tails. The summary gives the acceptance ratios: wal p99 against raw
// JetStream p99, s3 p50 against raw PUT p50, PUTs per GiB at 1,000
// partitions against 6, and the 1,000-partition acknowledgements against raw
// JetStream's group commit over 1,000 subjects.
//
// What the WAL's changes bought, in puts/partitions-{6,1000} (ack p50 at
// 1,000 partitions against 6 in the same run): one JetStream publish per
// partition append, 528 against 15 ms (35×); the group commit's atomic
// batches across partitions, 183–194 against 8–10 ms (19–24×: the round trips
// went, the 234,631 messages of 1.2 KiB per 256 MiB stayed); writer chains,
// one message per round for every partition waiting on a chain: with one
// chain per shard 6.5 against 10.5 ms (0.61×), but the embedded default's
// produce fell from 193 to 130 MB/s with one round in flight; with eight
// chains per shard 12.9 against 8.4 ms (1.55×), the NATS servers' CPU down
// from 1.31 to 0.78 cores, and the embedded produce back at 171 MB/s (runs
// of one session). The gateway appends to chains (the default); with
// STRATA_WAL_CHAINS=false (--wal-chains=false) to partition subjects.
//
// BenchmarkLifecycle measures what segment merging does for cold reads, and
// the merge worker's throughput, with one `strata serve` on its embedded
// NATS and segments in MinIO, restarted on the same data between phases:
//
//  1. with --flush-interval 50ms and --compaction-interval 1h (no scheduler
//     pass), it produces 256 MiB of 1 KiB incompressible records at
//     16 MB/s to a 6-partition wal topic, so that nearly every flush adds
//     a block of 136 KiB or more (16 MB/s over 6 partitions for 50 ms) to
//     each partition, and waits until the tail is flushed;
//  2. it restarts (empty block cache) and reads everything from the start
//     with one consumer: cold MB/s, and GETs from the block cache misses
//     counter (ranged GETs of blocks and footers), scaled to GETs per GiB;
//  3. it restarts with --compaction-interval 200ms and --gc-grace 2s. The
//     topic was created with segment.bytes at Kafka's minimum, 14, which no
//     run of blocks fits, so the scheduler publishes the topic's index
//     entries (strata_topic_index_entries) without merging; then it sets
//     segment.bytes to 128 MiB, the merge cap, and polls /metrics until the
//     index entries and the merge job count stay unchanged for 4 s
//     (bounded at 3 minutes). The merge throughput is the bytes merging
//     wrote (strata_tiered_rewrite_written_bytes_total) over the summed
//     merge job time (strata_schedule_job_duration_seconds{kind="merge"}),
//     which leaves out the scheduler's rate-limit pauses;
//  4. it restarts with the scheduler idle again and repeats the cold read.
//
// Each cold read checks that every partition's offsets run from 0 without
// a gap. The baselines, on the same MinIO: 32 raw 8 MiB PUTs one at a time,
// the same objects read back with 8 MiB ranged GETs one at a time and four
// at a time, and ranged GETs of each cold read's mean GET size (stored bytes
// over GETs) one at a time, which is how a fetch reads its partitions. The
// summary gives the cold reads and the merge throughput as ratios to these,
// and the index entries per partition before and after merging.
//
// BenchmarkSecurity measures what authentication, TLS and ACLs cost, with two
// `strata serve` on their embedded NATS: one with a PLAINTEXT listener and
// no authorizer, the baseline, and one with SASL_SSL and SASL_PLAINTEXT
// listeners (SCRAM-SHA-512) and --authorizer acl, the bench user granted
// WRITE and READ on its topics and READ on its group by a super user:
//
//   - flood: on the secured gateway, fresh, 2,000 connections to the
//     SASL_PLAINTEXT listener each send a frame header claiming a 64 MiB
//     request while 2,000 more send nothing and stay open; the gateway's
//     RSS growth (VmRSS in /proc/<pid>/status) per connection, against the
//     64 KiB pre-login frame cap. It checks that every oversized connection
//     was closed and counted on strata_gateway_bad_requests_total;
//   - logins: 500 short connections of each kind from 8 goroutines, two
//     rounds: PLAINTEXT connect and ApiVersions, the baseline, and the same
//     plus a full SCRAM-SHA-512 login over SASL_PLAINTEXT and over SASL_SSL
//     (with a full TLS handshake). The client caches its salted password,
//     so it does no PBKDF2 per login, and it reports logins/s and the
//     gateway's CPU per login;
//   - throughput: 256 MiB of 1 KiB records to a 6-partition topic with
//     Kafka's producer defaults (acks=all, idempotent, 5 ms linger, no
//     compression) but batches of up to 1 MiB (max.request.size) rather
//     than 16 KiB, read back by direct assignment, on each gateway, four
//     rounds alternating which goes first. The figure is
//     SASL_SSL+ACL / PLAINTEXT produce and consume MB/s, pooled over the
//     rounds, with each one's CPU per GiB. It then checks the ACLs by their
//     outcomes (the bench user commits for its group only and may not
//     create a topic).
//
// BenchmarkThroughput measures issue 19's throughput targets against kfake,
// which it builds from testdata/kfakeserver and runs as a process of its
// own, so that its CPU and memory are its own. Every run creates a topic,
// produces 1 KiB incompressible records round-robin over its partitions and
// reads them back from the start by direct assignment, checking that each
// partition's offsets run from 0 without a gap to its share of the records.
// The producer has Kafka 4's defaults (acks=all, idempotent, 5 ms linger,
// a 32 MiB buffer, no compression) with batches of up to 1 MiB, or, for
// comparison, linger 0 and franz-go's default buffer:
//
//   - embedded: `strata serve` on its embedded NATS against kfake, 512 MiB a
//     run at 6 partitions, two rounds of each settings, the order swapped
//     in the second;
//   - partitions: on a fresh embedded gateway, 256 MiB a run at 10,000
//     partitions against 6, Kafka's defaults, two rounds, and how long
//     creating the 10,000-partition topic takes: the CreateTopics request,
//     and until Metadata lists every partition with a leader (the gateway
//     claims its partitions when it first describes them). kfake runs at
//     both counts in the same rounds: its own 10,000 / 6 ratio is what the
//     client and an in-memory broker lose to one-record batches on the
//     same machine;
//   - r3: as embedded, with one gateway on a three-node NATS cluster in the
//     bench process (WAL and coordinator at R3) and segments in MinIO.
//
// For every run it reads the target's CPU time from /proc/<pid>/stat over
// the produce and the consume half, and for a gateway its VmRSS at the start
// and its VmHWM over the run (reset through /proc/<pid>/clear_refs). The
// summary pools each target's rounds (bytes over summed time) and gives
// Strata / kfake produce and consume MB/s and CPU per GiB, 10,000 / 6
// partitions, and the topic creation time, next to the targets:
// embedded produce at least 0.8 of kfake's and consume 0.9, both at 10,000
// partitions at least 0.8 of 6 partitions', and creation under 5 s.
// STRATA_BENCH_THROUGHPUT_MIB sets the 6-partition volume (and the
// 10,000-partition one to half of it) for a quick check.
//
// What the changes of one session bought (writer chains on, 256 MiB at 6
// partitions and 128 MiB at 10,000, runs of that session): sizing each
// fetch response's buffer from its record bytes (its growth by doubling was
// 8.8% of the gateway's CPU), first claims without the WAL subject read and
// the head read before the create, offsets and long-poll watches without
// copying the tail, no copy of a lone batch on its way to the WAL, no
// channel and no timer per append, and blocks cached as copies rather than
// as slices pinning their segment: embedded produce 183 → 242 MB/s, 7.06 →
// 4.68 CPU s per GiB (0.41× → 0.53× kfake); 10,000 partitions 33.6 → 43.6
// MB/s produced (0.15× → 0.23× of 6), 39.2 → 28.3 CPU s per GiB; peak RSS
// 1,047–1,055 → 943–960 MiB with Go's soft limit a tenth below the budget.
//
// The next session's (same volumes): chain appends as callbacks on the
// chain rather than a goroutine and a channel per append, the heads of 64
// or more partitions claimed at once read with one watch, each flush's
// segment written into the last one's buffer, an in-memory body written to
// the file store without io.CopyN's copy, and a partition's batches put
// into the WAL message without being joined first: 10,000 partitions
// 29.0 → 48.0 MB/s produced (0.19× → 0.34× of 6; kfake's own ratio in the
// same runs 0.30×), 45.4 → 23.6 CPU s per GiB; embedded produce, the
// previous session's commit against this one's back to back, 176.6 → 209.6
// MB/s and 7.62 → 5.88 CPU s per GiB.
//
// The session after (default volumes, 512 and 256 MiB): chain appends
// checked against a fence subject of their own rather than the chain's
// last message, which nats-server loaded (a copy of the last round) for
// every append and whose read kept its 8 MiB block buffers alive; one
// purge of a writer's chains per shard rather than one per chain; the
// segment buffer kept across empty flushes and each chain's message buffer
// across rounds; a flush capped at a quarter of the tail, its buffer
// replaced rather than grown by doubling; produce responses sized up
// front. Embedded produce 0.37× → 0.42–0.52× kfake and 7.14 → 4.98–5.46
// CPU s per GiB (the session's first and two last runs; at 1 GiB, the
// session's first commit against the fence-subject one back to back, twice
// each: 217–219 → 295–307 MB/s and 6.4 → 4.0 CPU s per GiB); 10,000
// partitions 53.0 → 74.8–78.0 MB/s produced, 22.8 → 16.2–18.1 CPU s per
// GiB, peak RSS 953–1,158 → 984–1,010 MiB.
//
// BenchmarkClusterPartitions measures the partition counts, 100,000
// partitions per cluster in topics of 10,000, on one `strata serve` on its
// embedded NATS:
//
//  1. it creates the topics, one CreateTopics request each, polls Metadata
//     for every topic until it lists every partition with a leader, and
//     times 5 more Metadata requests for every topic, each sent past the
//     client's metadata cache;
//  2. it writes one 100 B record to every partition with Kafka's producer
//     defaults (acks=all, idempotent, 5 ms linger): the first write, in
//     which the gateway claims each partition; then one more, the steady
//     write, with every partition loaded;
//  3. it reads everything back from the start by direct assignment, a
//     topic at a time, checking each partition's count and that its
//     offsets run from 0 without a gap.
//
// Before any topic exists and after each step it reads the gateway's Go
// heap in use (go_memstats_heap_alloc_bytes, right after a request for
// /debug/pprof/heap?gc=1 has run a garbage collection) and its VmRSS, and
// gives their growth per partition. The baseline, last and on the same
// gateway, is the same record counts written twice to a 6-partition topic
// and read back: the summary gives the steady write's and the read's
// records/s at 100,000 partitions against it, and every phase's time and
// the gateway's and the bench process's CPU.
// STRATA_BENCH_CLUSTER_PARTITIONS sets the partition count for a quick
// check.
package bench
