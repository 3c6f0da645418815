// Package gc deletes what no committed index references: segment objects
// left by expiry, merging and key compaction, objects orphaned by a crash
// between a PUT and its index commit, index chunk records no partition head
// lists, and the partition state of deleted topics (whose objects and
// chunks then follow).
//
// It leaves deciding what the index references to the coordinator and the
// tiered log, and placement (which gateway collects) to its caller.
//
// # Rules
//
// A pass first marks: it reads every partition's committed state and
// collects the objects and chunks it references. Any error before marking is
// complete ends the pass with nothing deleted, so a collector that cannot
// reach the coordinator deletes nothing. Then it sweeps: something is
// deleted only when
//   - no committed state referenced it in this pass and in an earlier pass
//     at least Grace before (readers holding an older state have had Grace
//     to finish), and
//   - it was created at least Grace ago (an object by the time in its key, a
//     chunk by the revision's write time): a flush or merge may have written
//     it and not yet committed. The tiered log abandons any commit that would
//     reference an object Grace old or more (tiered.Config.ObjectGrace), so
//     such a commit can never land after the delete.
//
// A deleted topic's partition state is removed once the topic has been
// missing in passes Grace apart (a topic created a moment ago may not have
// reached this gateway's topic table yet), by a delete conditional on the
// revision marked. Chunks are deleted conditionally on the revision seen;
// a commit that reuses a chunk rewrites it at a new revision first.
//
// Memory: the referenced keys and the current candidates; the bucket is
// listed page by page and never held whole.
//
// Known limit: a committer paused (SIGSTOP, a VM freeze) for more than Grace
// between writing a chunk and its head's compare-and-swap, with nobody else
// writing the partition meanwhile, could reference a deleted chunk. Its
// epoch is fenced by any new leader's claim, which makes it rare; choose
// Grace well above expected pauses.
//
// Usage:
//
//	c, err := gc.New(gc.Config{Bucket: b, Index: store, Live: topicExists, Grace: 5 * time.Minute})
//	go c.Run(ctx)
package gc
