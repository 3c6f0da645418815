// Package recovery makes the object store the system of record for
// Strata's metadata: gateways write periodic metadata snapshots into the
// bucket (Snapshotter), and after a total loss of the NATS cluster
// `strata recover --from-bucket` rebuilds the coordinator's state on an
// empty NATS from the newest snapshot plus the footers of the segment
// objects (Rebuild), so that every record in object storage is readable
// again at its offset, under its topic's name and with its configs.
//
// It leaves the metadata's meaning to the coordinator (whose methods it calls
// to read and to restore), the segment format to tiered/segment, and when to
// run to its callers: `strata serve` runs a Snapshotter, `strata recover`
// calls Rebuild.
//
// The two things to learn first are Snapshot, the format, and Rebuild, whose
// rules below say what a recovery keeps and what it loses.
//
// # Snapshot objects
//
// Key: metadata/snapshots/<20-digit Unix nanoseconds>-<node id>.json.zst,
// so keys sort by time (and never collide between gateways). Garbage
// collection (tiered/gc) lists segments/ only and never sees them; the
// writer keeps the newest SnapshotConfig.Keep (default 5) and deletes older
// ones after each new one.
//
// Bytes: one zstd frame (with zstd's own content checksum) of
//
//	{"format": 1, "crc32c": <CRC-32C of the snapshot's bytes>,
//	 "snapshot": {
//	   "cluster_id": "...", "node_id": "0", "taken_ms": 1700000000000,
//	   "topics": [{"name": "orders", "id": "<32 hex>", "partitions": 3,
//	               "configs": {"retention.ms": "-1"}, "created_ms": ...,
//	               "partition_states": [{"partition": 0,
//	                   "state": {index.Partition's JSON: leader_epoch,
//	                             log_start_offset, high_watermark, producers,
//	                             epochs, cleaned_offset, delete_horizon_ms,
//	                             open_txns, aborted_txns},
//	                   "entries": [segment.IndexEntry's JSON, ...]}]}],
//	   "offsets": [{"group": "g", "topic": "orders",
//	                "partitions": {"0": {"offset": 42, ...}}}],
//	   "next_producer_id": 2000,
//	   "txns": {"<transactional id>": "<base64 of its coordinator/txn record>"},
//	   "schemas": {"<key in the registry's bucket>": "<base64 of the record>"},
//	   "security": {"users"|"acls"|"quotas":
//	                  {"<key in that bucket>": "<base64 of the record>"}}}}
//
// "security" carries the SASL users' salted SCRAM credentials (never a
// password: what Kafka's metadata log holds), the ACLs and the client quotas;
// a snapshot is as sensitive as the bucket that holds it.
//
// The CRC covers the "snapshot" value byte for byte as written. A reader
// refuses any other format version (ErrCorrupt); a new version must keep the
// envelope's "format" field. Version 1 is the above.
//
// # Writing
//
// One gateway writes at a time: the owner of the job "metadata-snapshot" by
// coordinator/placement (gateway.Server.RunsJob), the same mechanism that
// picks the garbage collector; during a change of owner two gateways may
// both write one, which is harmless (distinct keys, each a consistent
// snapshot). Every --metadata-snapshot-interval (default 1m; 0: off) it reads
// the topic table, then each partition's committed state (head and chunks;
// chunks are immutable and cached between snapshots, so a snapshot costs
// about one KV read per partition), then the committed offsets, the
// transactional ids and last the producer id counter, and PUTs the object.
// It runs beside the produce and fetch paths and shares nothing with them:
// the reads bypass the coordinator's head cache
// (coordinator.Store.ReadPartition), so the leader's next commit is as cheap
// as before. Each partition's state is one committed state; different
// partitions may be a few flushes apart, which Rebuild does not need to be
// otherwise.
//
// # Rebuilding
//
// Rebuild reads the newest snapshot that decodes (older ones when newer are
// corrupt), lists segments/ and reads every object's trailer and footer
// (Config.Concurrency at a time), and then for each partition chooses index
// entries from two kinds of candidates:
//
//   - the snapshot's entries whose objects still exist (they win ties);
//   - every block of every object in the bucket holding the partition's
//     data, and for an object holding only this partition one whole entry
//     (segment.IndexEntry.Whole) standing for all its blocks, as merges
//     index them.
//
// The choice is weighted interval scheduling (plan.go): non-overlapping
// entries that together cover the most offsets; among equal coverage the
// snapshot's entries, then newer objects, then fewer entries. This finds,
// without knowing the history, the offsets of snapshot entries whose objects
// a merge or compaction replaced and garbage collection deleted (the merged
// object covers them), and the offsets above the snapshot's high watermark
// flushed after it. The log start offset is the snapshot's (or the first
// entry's, if later); the high watermark is one past the last entry, never
// below the snapshot's. Offsets no entry covers are reported (key compaction
// removes offsets legitimately, so not every one is a loss).
//
// Preferring the newer object when two hold the same offsets is safe because
// the objects Strata writes over the same offsets hold the same batches: a
// flush retried after a failed commit writes the batches the WAL holds,
// byte for byte, at the offsets they were acknowledged at; a merge copies
// them; key compaction keeps a subset, which is what the index pointed at
// once it committed. The risk is an object never committed whose offsets
// were later given to other batches: on the s3 durability tier a flush whose
// index commit failed discards its offsets, and a deposed leader on that
// tier may PUT before learning it is fenced. Below the snapshot's high
// watermark the snapshot's own entries decide; above it such an object can
// win only if it covers more offsets or is newer than the committed one
// covering the same ones (its clock ahead), and then serves the records of a
// produce that was refused with an error. The wal tier (the default) has no
// such objects.
//
// The idempotent-producer and transaction state (index.Partition's
// Producers, OpenTxns, Aborted) of records the snapshot did not know is
// rebuilt from their batch headers, as Kafka rebuilds its producer state and
// transaction index from its log segments: Rebuild reads the blocks at or
// above the snapshot's high watermark, and all of a partition the snapshot
// does not have (every partition without a snapshot: a replay from offset 0
// with empty state), and applies each batch as the log does
// (tiered.ApplyRecovered); what it reads beyond footers is thus what was
// written since the snapshot, or the whole log without one. It streams the
// blocks in offset order, with Config.Concurrency GETs in flight over all
// partitions and no more blocks than that in memory. A producer's last use
// is the creation time of the object holding its last batch, and producers
// idle for a day (tiered.DefaultProducerExpiry) before the newest object are
// dropped, as the log's flushes drop them, so that replaying years of a log
// does not keep every producer that ever wrote to it. A transaction begun
// after the snapshot (any transaction without one) and still open at the end
// of the recovered log is marked aborted up to the high watermark, without a
// marker: its coordinator's record is lost, so nothing would ever end it and
// it would hold the last stable offset back forever.
//
// Then it writes, each as a create: the cluster id (clients see the cluster
// they knew), the producer id counter at the snapshot's plus ProducerIDMargin
// (2^32; 2^48 without a snapshot), so that no id is ever handed out twice;
// each partition's state (the snapshot's epochs, producers, transactions,
// cleaner checkpoint, with the rebuilt index and offsets; no WAL sequence,
// the WAL being new); each topic with its original id, name, partition count
// and configs; the committed offsets, the transactional ids, the schema
// registry's records (ids and all, as they were), and the SASL users, ACLs
// and client quotas. Topics in footers but not
// in the snapshot (created after it, or every topic when
// there is no snapshot) get the name recovered-<topic id hex>, default
// configs and as many partitions as their blocks name, and the summary says
// so loudly; rename them by producing them elsewhere (strata replay --out).
// A topic the snapshot does not list whose objects all predate it by more
// than a minute (the clock skew allowed between gateways) was deleted before
// it and not yet collected: it is left out, and listed in the summary.
//
// # What a recovery loses
//
//   - Records acknowledged but only in the NATS write-ahead tail, not yet in
//     a segment object: a few seconds' worth (a flush interval, up to 12 of
//     them for a partition with little traffic; see tiered), more if object
//     storage was failing.
//   - Metadata changes after the snapshot: topics created (their data comes
//     back under generated names), deleted (they come back) or reconfigured
//     (old configs), partitions added (counted back from the footers of
//     partitions holding data), offsets committed since (consumers re-read
//     from the snapshot's offsets), DeleteRecords and retention moves of the
//     log start (records whose objects remain come back), transactional ids
//     initialised since.
//   - Transactions whose end marker was only in the write-ahead tail: one
//     begun after the snapshot is aborted (above); one the snapshot saw
//     open is left to the restored transaction coordinator, which finishes
//     what its snapshot record says (a timed-out Ongoing one is aborted),
//     so a transaction whose commit was decided after the snapshot may end
//     committed in some partitions and aborted in others.
//   - The transaction coordinator's and idempotent producers' progress
//     after the snapshot in NATS itself (epochs bumped, ids allocated): a
//     producer that lives through the recovery may be fenced or see
//     OUT_OF_ORDER_SEQUENCE_NUMBER and must be restarted.
//   - Without any snapshot, in addition: topic names and configs, committed
//     offsets, transactional ids, schemas, SASL users, ACLs and quotas
//     (a secured cluster then needs its --add-scram users again). The
//     producer and transaction state is not lost: it is rebuilt from every
//     batch (above), but every transaction open at the end is aborted, and
//     transactional producers must initialise again (their ids are gone).
//   - Consumer group membership (members rejoin), schemas, users, ACLs and
//     quotas changed after the snapshot, and the cluster secret (gateways are restarted anyway).
//
// # Usage
//
//	s, err := recovery.NewSnapshotter(recovery.SnapshotConfig{Bucket: b, Source: store,
//		ClusterID: id, NodeID: "1", Interval: time.Minute, Owner: isOwner})
//	g.Go(func() error { return s.Run(ctx) })
//
//	sum, err := recovery.Rebuild(ctx, recovery.Config{Bucket: b, Store: emptyStore})
//	err = sum.Write(os.Stdout)
package recovery
