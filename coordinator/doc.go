// Package coordinator keeps Strata's metadata in NATS JetStream KV: topics and
// their configs, producer id allocation, and each partition's committed state
// (its segment index, offsets and idempotent producers, as index.Partition).
// Later parts add partition leases, committed offsets and transactional ids
// (the records coordinator/txn decides, stored by compare-and-swap).
//
// The two things to learn first are Open, which returns a Store bound to the
// buckets, and Store.CommitPartition, whose contract is what keeps the log
// consistent across gateways.
//
// It leaves to others: what the state means (tiered builds index.Partition,
// gateway maps the errors here to Kafka codes), consumer groups
// (coordinator/group) and compaction scheduling (coordinator/schedule).
//
// # Rules
//
//   - Every write is a compare-and-swap on the KV revision: kv.Create for a
//     new key, kv.Update(key, value, revision) or a Delete with LastRevision
//     for a change. No coordinator decision is taken on a plain Put.
//   - Every read goes to the stream leader: Open turns off direct gets on
//     each bucket (direct gets may be served by a lagging replica).
//   - Read-modify-CAS loops make at most 32 attempts, with a short jittered
//     pause between them, and then fail with ErrConflict; they stop when ctx
//     ends.
//   - Buckets use file storage, history 1 and Config.Replicas (3 in
//     production); Open refuses a bucket with other replicas or storage.
//   - No value is larger than Store.RecordLimit (512 KiB, or half the
//     server's max_payload if that is smaller).
//
// # Buckets and keys
//
// With the default prefix "strata":
//
//	bucket              key                                   value
//	strata_topics       <escaped topic name>                  topic record
//	strata_partitions   <topic id hex>.<partition>            head record
//	strata_chunks       <topic id hex>.<partition>.<first>-<last>.<hash>
//	                                                          chunk record
//	strata_counters     producer-id                           counter record
//	                    cluster-id                            the cluster id, as a plain
//	                                                          string (Store.ClusterID)
//	                    cluster-secret                        what gateways present to one
//	                                                          another (Store.ClusterSecret)
//	strata_offsets      <escaped group>.<escaped topic>       a group's committed offsets
//	                                                          for one topic's partitions
//	                                                          0-1023, and the list of its
//	                                                          other shards (offsets.go)
//	                    <escaped group>.<escaped topic>.<k>   the same for partitions
//	                                                          1024k to 1024k+1023
//	strata_leaders      <topic id hex>.<partition>            a partition's latest claim
//	                                                          (leaders.go): {"epoch":4,
//	                                                          "node_id":0, "incarnation":...}
//	strata_groups       <escaped group>                       a group's membership meta
//	                                                          (coordinator/group), by CAS
//	                    <escaped group>.<escaped member>      one member's record
//	strata_txns         <escaped transactional id>            a transactional id's record
//	                                                          (coordinator/txn), by CAS
//	strata_users        <mechanism>.<escaped user>            a user's salted SCRAM credential
//	                                                          for one mechanism (users.go):
//	                                                          {"v":1, "salt":..., "iterations":4096,
//	                                                          "stored_key":..., "server_key":...}
//	strata_acls         <64 hex digits: SHA-256 of the        one ACL binding (acls.go), made
//	                    binding's fields, each length-        with kv.Create (so creating it
//	                    prefixed, after "strata acl v1\0">    again is a no-op), deleted by
//	                                                          revision, never updated:
//	                                                          {"v":1, "resource_type":"TOPIC",
//	                                                          "resource_name":"orders",
//	                                                          "pattern_type":"LITERAL",
//	                                                          "principal":"User:alice", "host":"*",
//	                                                          "operation":"READ", "permission":"ALLOW"}
//	strata_quotas       <type>.<d|n<escaped name>>, per       one client quota entity's values
//	                    component, sorted by type:            (quotas.go), by CAS; deleted with
//	                    user.nalice, client-id.d.user.nalice  its last quota:
//	                                                          {"v":1, "quotas":
//	                                                          {"producer_byte_rate":1048576}}
//
// Group ids and transactional ids are escaped like topic names (any byte
// outside [a-zA-Z0-9_-]), so the '.' between group and topic is unambiguous.
// One offsets record per group, topic and 1,024 partitions makes a commit of
// a topic of up to 1,024 partitions one compare-and-swap, and keeps every
// record under RecordLimit at 10,000 or 100,000 partitions (a single record
// per topic, as versions before sharding wrote, is still read as shard 0;
// see offsetsRecord for the rules). A transactional id's key is at most 3 KiB
// (ErrTooLarge beyond): keys travel in NATS protocol lines, which a server
// refuses past 4 KiB by closing the connection.
//
// KV keys allow [-/_=.a-zA-Z0-9] and no empty '.'-separated token, while Kafka
// topic names are [a-zA-Z0-9._-]{1,249} and may start with '.' or contain
// "..". A topic key therefore keeps [a-zA-Z0-9_-] and writes every other byte
// as '=' and two upper-case hex digits: "a.b" is "a=2Eb". '=' never occurs in
// a topic name, so the encoding is reversible. <topic id hex> is the 16-byte
// topic id as 32 lower-case hex digits; <partition>, <first> and <last> are
// decimal; <hash> is 16 hex digits of a SHA-256 over the chunk's entries.
//
// # Values
//
// All values are JSON. Each record carries a format version "v"; a record
// with a version this code does not know is reported as ErrCorrupt. Topic
// records are at version 1. Head and chunk records are written at version 3,
// which holds index entries in the compact binary encoding of entries.go
// (base64 in the JSON; about 42 bytes an entry, against 254 as JSON objects,
// for the object keys tiered writes) with each entry's flags; version 2
// records (the same without flags) and version 1 records, which hold entries
// as JSON objects in "tail" and "entries", are still read.
//
//	topic record    {"v":1, "name":"orders", "id":"<32 hex>", "partitions":3,
//	                 "configs":{"retention.ms":"3600000"}, "created_ms":1700000000000}
//	head record     {"v":3, "leader_epoch":4, "log_start_offset":0, "high_watermark":900,
//	                 "chunks":[{"key":..., "count":256, "first_offset":0, "last_offset":511}, ...],
//	                 "producers":{"1000":{"epoch":0, "batches":[...], "last_timestamp":...}},
//	                 "tail_entries":"<base64 of the encoded entries>"}
//	chunk record    {"v":3, "entry_data":"<base64 of the encoded entries>"}
//	counter record  {"next":2000}
//	offsets record  {"partitions":{"0":{"offset":42, "leader_epoch":1, "metadata":"",
//	                 "commit_ms":1700000000000}, ...}, "shards":[1, 9]}
//	                 ("shards" only in shard 0, and only when other shards exist)
//
// # Partition state and chunks
//
// A partition's segment index grows with every flush, but a commit should
// write only what changed. The head record therefore holds the partition's
// scalar state, its producers and the newest index entries (the tail, at most
// 256 after a commit); older entries live in chunk records of up to 256
// entries, which are written once and never changed. The head lists its
// chunks in offset order; the full index is the chunks' entries followed by
// the tail. A chunk's key is derived from its content, so writing the same
// chunk twice is idempotent and different content never overwrites a chunk.
//
// CommitPartition writes new chunks first, then CASes the head. A crash
// between the two leaves unreferenced chunks, which are garbage; a head never
// references a chunk that is not written. Garbage collection (tiered/gc,
// through garbage.go) removes a chunk only once no head has referenced it
// for a grace period and it was written longer ago than that, since a commit
// in flight may have written it and not yet CAS'd its head; and only at the
// revision it saw, which a commit reusing the chunk moves on.
//
// Fencing: CommitPartition refuses a state whose LeaderEpoch is below the
// stored one with ErrFenced, before comparing revisions, so a deposed leader
// that reloads and retries learns that it is deposed rather than looping.
//
// # Topic cache
//
// Store.Run watches the topics bucket and keeps an in-memory table that
// Topic, TopicByID and Topics read without I/O; Create, Update and Delete
// also apply their own results to it at once. See the design note in
// cache.go.
//
// # Locks
//
// Store.idMu (serialises this Store's producer id allocations) may be held
// across I/O; the topic table's mutex is a leaf, never held across I/O or
// while taking another lock. Lock order: idMu, then the table mutex.
//
// # Usage
//
//	st, err := coordinator.Open(ctx, js, coordinator.Config{Replicas: 3, Logger: log})
//	if err != nil {
//		return err
//	}
//	g.Go(func() error { return st.Run(ctx) }) // g: the caller's errgroup
//	t, err := st.CreateTopic(ctx, coordinator.Topic{Name: "orders", Partitions: 3})
//
//	tp := index.TopicPartition{TopicID: t.ID, Partition: 0}
//	state, rev, err := st.LoadPartition(ctx, tp)
//	state.Entries = append(state.Entries, entry)
//	state.HighWatermark = entry.LastOffset + 1
//	state, rev, err = st.CommitPartition(ctx, tp, state, rev)
package coordinator
