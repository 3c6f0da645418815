package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// printClusterPartitionsSummary prints BenchmarkClusterPartitions' figures,
// if it ran.
func printClusterPartitionsSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := clusterResults
	if r == nil {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nCluster partitions: one `strata serve` on its embedded NATS with segments in a local directory, on %d CPUs (load average %s at the start). "+
		"It creates %d partitions in %d topics of up to %d (one CreateTopics request each, replication 1), polls Metadata for every topic until it lists every partition with a leader, "+
		"and times %d more such Metadata requests (each a request of its own, past the client's metadata cache, timed to the decoded response). "+
		"It then writes one %d B record to every partition, the first write (the gateway claims a partition when it is first written), and one more, the steady write (every partition loaded), "+
		"with one client and Kafka 4's producer defaults (acks=all, idempotent, linger %v, no compression), each write timed from the first Produce to the last acknowledgement; "+
		"and reads everything back from the start by direct assignment, one client per topic in turn, checking every partition's count and gapless offsets. "+
		"The baseline runs last on the same gateway: the same record counts written twice, round-robin, to a %d-partition topic and read back. "+
		"CPU is the gateway's (with its embedded NATS; /proc/<pid>/stat) and this process's (the clients) over each phase. "+
		"Memory is read before any topic exists and after each step: the gateway's Go heap in use (go_memstats_heap_alloc_bytes on /metrics, "+
		"right after a /debug/pprof/heap?gc=1 request has run a garbage collection) and its VmRSS (/proc/<pid>/status); per partition is the growth since the first reading over the %d partitions.\n\n",
		runtime.NumCPU(), r.loadAvg, r.partitions, r.topics, clusterTopicPartitions, clusterMetadataRequests,
		clusterRecordBytes, tpLinger, partitions, r.partitions)
	printClusterPhases(&sb, r)
	printClusterMemory(&sb, r)
	printClusterRatios(&sb, r)
	fmt.Fprint(w, sb.String())
}

func printClusterPhases(sb *strings.Builder, r *clusterRun) {
	rows := []struct {
		label      string
		partitions int
		phase      clusterPhase
	}{
		{fmt.Sprintf("create: %d CreateTopics requests (each %s)", len(r.creates), spread(r.creates)), r.partitions, r.create},
		{"ready: Metadata polled from the last CreateTopics until every partition has a leader", r.partitions, r.ready},
		{fmt.Sprintf("metadata: %d requests for every topic (each %s)", len(r.metadata), spread(r.metadata)), r.partitions, r.describe},
		{"first write: one record per partition", r.partitions, r.firstWrite},
		{"steady write: one more record per partition", r.partitions, r.steadyWrite},
		{"read: everything from the start", r.partitions, r.read},
		{"baseline first write: as many records", partitions, r.fewFirstWrite},
		{"baseline steady write: as many again", partitions, r.fewSteadyWrite},
		{"baseline read: everything from the start", partitions, r.fewRead},
	}
	sb.WriteString("| phase | partitions | records | time s | records/s | gateway CPU s | bench CPU s |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range rows {
		records, rate := "—", "—"
		if row.phase.records > 0 {
			records, rate = fmt.Sprint(row.phase.records), fmt.Sprintf("%.0f", row.phase.recordsPerSecond())
		}
		fmt.Fprintf(sb, "| %s | %d | %s | %.3f | %s | %.2f | %.2f |\n", row.label, row.partitions, records,
			row.phase.elapsed.Seconds(), rate, row.phase.gatewayCPU.Seconds(), row.phase.benchCPU.Seconds())
	}
}

func printClusterMemory(sb *strings.Builder, r *clusterRun) {
	rows := []struct {
		label string
		m     memReading
	}{
		{"empty: before any topic", r.empty},
		{"after create and metadata", r.afterCreate},
		{"after write: every partition loaded", r.afterWrite},
		{"after read", r.afterRead},
	}
	sb.WriteString("\n| gateway memory | Go heap in use MiB | RSS MiB | heap B per partition since empty | RSS B per partition since empty |\n| --- | --- | --- | --- | --- |\n")
	for _, row := range rows {
		heap, rss := row.m.growthPerPartition(r.empty, r.partitions)
		fmt.Fprintf(sb, "| %s | %.1f | %.1f | %.0f | %.0f |\n", row.label, float64(row.m.heapAlloc)/(1<<20), float64(row.m.rss)/(1<<20), heap, rss)
	}
}

func printClusterRatios(sb *strings.Builder, r *clusterRun) {
	fmt.Fprintf(sb, "\n| figure | %d partitions | %d partitions (baseline) | ratio |\n| --- | --- | --- | --- |\n", r.partitions, partitions)
	for _, f := range []struct {
		label     string
		many, few clusterPhase
	}{
		{"steady write, records/s", r.steadyWrite, r.fewSteadyWrite},
		{"read, records/s", r.read, r.fewRead},
	} {
		fmt.Fprintf(sb, "| %s | %.0f | %.0f | %s |\n", f.label, f.many.recordsPerSecond(), f.few.recordsPerSecond(),
			ratio(f.many.recordsPerSecond(), f.few.recordsPerSecond()))
	}
}

// spread gives the p50 and the max of sorted times.
func spread(sorted []time.Duration) string {
	return fmt.Sprintf("p50 %.1f ms, max %.1f ms", ms(sorted[len(sorted)/2]), ms(sorted[len(sorted)-1]))
}
