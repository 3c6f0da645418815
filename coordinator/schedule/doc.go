// Package schedule decides, for the partitions a gateway leads, which
// lifecycle jobs are due, and runs them through the tiered log: expiry by
// retention.ms and retention.bytes (moving the log start offset, as
// DeleteRecords does), segment merging and key compaction. It publishes
// each topic's usage (bytes retained, index entries, objects) as metrics.
//
// It owns the policy: Policy is a topic's lifecycle configs, RetentionStart
// and the merge and clean planners are pure functions of a partition's
// committed state, its Policy and the time. It leaves the work to the
// tiered log (tiered.Log implements Logs) and to tiered/compact, placement
// (who leads what) to its caller, and garbage collection to tiered/gc.
//
// Jobs run on the partition's leader, one at a time per gateway, and commit
// through the leader's log, fenced by its leader epoch like every flush: a
// deposed leader's job result is refused. Every job is idempotent: one that
// failed or whose gateway died is planned afresh by the next pass of
// whichever gateway leads the partition then.
//
// Usage:
//
//	s, err := schedule.New(schedule.Config{Topics: store, Logs: log, Leads: gw.Leads,
//		Configs: gateway.EffectiveTopicConfigs, Interval: 30 * time.Second})
//	go s.Run(ctx)
package schedule
