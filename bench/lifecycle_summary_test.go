package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
)

// printLifecycleSummary prints BenchmarkLifecycle's figures, if it ran.
func printLifecycleSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := lifecycleResults
	if !r.ran {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nLifecycle: one gateway on its embedded NATS with segments in MinIO, on loopback, %d CPUs. "+
		"%d MiB of %d B incompressible records produced at %.1f MB/s (achieved) to a %d-partition wal topic, flush interval %s; "+
		"each cold read restarts Strata (empty block cache, scheduler idle) and reads every partition from the start with one franz-go consumer; "+
		"merging runs with --compaction-interval %s and segment.bytes %s.\n",
		runtime.NumCPU(), lifecycleBytes>>20, walRecordBytes, r.produce.mbs, partitions, lifecycleFlushInterval, mergeInterval, mergeSegmentBytes)

	sb.WriteString("\nBaselines, same run, same MinIO (MB/s of object bytes):\n\n| baseline | GETs or PUTs | p50 ms | p99 ms | MB/s |\n| --- | --- | --- | --- | --- |\n")
	for _, bl := range []struct {
		label string
		l     latencies
	}{
		{fmt.Sprintf("raw PUT, %d MiB, one at a time", rawObjectBytes>>20), r.put},
		{fmt.Sprintf("raw ranged GET, %d MiB, one at a time", rawObjectBytes>>20), r.get1},
		{fmt.Sprintf("raw ranged GET, %d MiB, %d at a time", rawObjectBytes>>20, rawGetParallel), r.getParallel},
		{fmt.Sprintf("raw ranged GET, %.0f KiB (the mean GET of the cold read before merging), one at a time", r.before.meanGet()/(1<<10)), r.before.raw},
		{fmt.Sprintf("raw ranged GET, %.0f KiB (the mean GET of the cold read after merging), one at a time", r.after.meanGet()/(1<<10)), r.after.raw},
	} {
		fmt.Fprintf(&sb, "| %s | %d | %.2f | %.2f | %.1f |\n", bl.label, bl.l.n, ms(bl.l.p50), ms(bl.l.p99), bl.l.mbs)
	}

	get := r.getParallel.mbs
	sb.WriteString("\nCold reads and merging. GETs: the gateway's block cache misses (ranged GETs of blocks and footers); ")
	fmt.Fprintf(&sb, "raw GET: %d MiB ranged GETs, %d at a time (×1: one at a time); same-size GET: raw GETs of the read's mean GET size, one at a time. "+
		"Merge MB/s: bytes merging wrote per second of merge job time (the scheduler's rate-limit pauses excluded); its GETs per GiB and KiB per GET are of what it read. "+
		"CPU in cores: the gateway, the bench process (the Kafka client), the whole host (MinIO included); over the read, or from allowing merges to the last change.\n\n", rawObjectBytes>>20, rawGetParallel)
	sb.WriteString("| figure | MB/s | / raw GET | / raw GET ×1 | / same-size GET | / raw PUT | GETs per GiB | mean GET KiB | index entries per partition | objects per partition | CPU gateway, bench, host |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range []struct {
		label string
		read  coldRead
		u     usage
	}{{"cold read before merging", r.before, r.usageBefore}, {"cold read after merging", r.after, r.usageEnd}} {
		fmt.Fprintf(&sb, "| %s | %.1f | %s | %s | %s | — | %.0f | %.0f | %.1f | %.1f | %s |\n", c.label, c.read.mbs,
			ratio(c.read.mbs, get), ratio(c.read.mbs, r.get1.mbs), ratio(c.read.mbs, c.read.raw.mbs),
			c.read.getsPerGiB(), c.read.meanGet()/(1<<10), c.u.entries/partitions, c.u.objects/partitions, cores(c.read.cpu))
	}
	m := r.merge
	fmt.Fprintf(&sb, "| merge (written) | %.1f | %s | %s | — | %s | %s | %s | %.1f → %.1f | %.1f → %.1f | %s |\n", m.writtenMBs(),
		ratio(m.writtenMBs(), get), ratio(m.writtenMBs(), r.get1.mbs), ratio(m.writtenMBs(), r.put.mbs),
		whole(m.gets, m.read/(1<<30)), whole(m.read/(1<<10), m.gets), r.usageBefore.entries/partitions, r.usageEnd.entries/partitions,
		r.usageBefore.objects/partitions, r.usageEnd.objects/partitions, cores(m.cpu))

	sb.WriteString("\n")
	fmt.Fprintf(&sb, "- after / before merging: cold read MB/s %s, GETs per GiB %s, index entries %s\n",
		ratio(r.after.mbs, r.before.mbs), ratio(r.after.getsPerGiB(), r.before.getsPerGiB()), ratio(r.usageEnd.entries, r.usageBefore.entries))
	fmt.Fprintf(&sb, "- stored: %.1f MiB before merging, %.1f MiB after\n", r.usageBefore.bytes/(1<<20), r.usageEnd.bytes/(1<<20))
	fmt.Fprintf(&sb, "- merging: %.0f jobs (%.0f failed) in %.1f s of job time, levelled off %.1f s after segment.bytes allowed it; "+
		"read %.1f MiB in %.0f GETs, wrote %.1f MiB in %.0f PUTs (%s of the %d MiB of record values produced)\n",
		m.jobs, m.failures, m.seconds, m.wall.Seconds(), m.read/(1<<20), m.gets, m.written/(1<<20), m.puts,
		ratio(m.written, lifecycleBytes), lifecycleBytes>>20)
	fmt.Fprint(w, sb.String())
}

func cores(c cpuUse) string { return fmt.Sprintf("%.2f, %.2f, %.2f", c.gateway, c.bench, c.host) }

// whole formats num/den with no decimals, or "—" when den is zero.
func whole(num, den float64) string {
	if den == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", num/den)
}

// ratio formats num/den, or "—" when den is zero.
func ratio(num, den float64) string {
	if den == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", num/den)
}
