package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// printThroughputSummary prints BenchmarkThroughput's figures, if it ran.
func printThroughputSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := &throughputResults
	if !r.ran {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nThroughput: %d B incompressible records, produced round-robin over a new topic's partitions and read back from the start by direct assignment "+
		"(every partition's count and offsets checked), %d MiB a run at %d partitions and %d MiB at %d, on %d CPUs (load average %s at the start). "+
		"Producer settings: %s is Kafka 4's defaults (acks=all, idempotent, linger %v, buffer %d MiB, no compression) with batches of up to %d KiB; "+
		"%s is the same with linger 0 and franz-go's default buffer (50,000 records). "+
		"Targets: strata is `strata serve`, on its embedded NATS with segments in a local directory (parts %s and %s), or one gateway on three NATS nodes "+
		"at R3 with segments in MinIO (part %s; the NATS nodes run in the bench process); kfake is franz-go's fake cluster in a process of its own. "+
		"Runs alternate target (or partition count), the order swapped in even rounds; figures are pooled over the rounds (bytes over summed time). "+
		"CPU is the target process's (/proc/<pid>/stat; the embedded gateway's includes its NATS) per GiB moved; bench CPU is this process's (clients, and in %s the NATS nodes). "+
		"RSS is the gateway's VmRSS as the run began and its VmHWM (peak) over the run. Create is the CreateTopics request's time; "+
		"ready is from sending it until Metadata lists every partition with a leader (a gateway claims its partitions when it first describes them).\n\n",
		recordBytes, r.volume>>20, partitions, r.manyVolume>>20, tpManyPartitions, runtime.NumCPU(), r.loadAvg,
		kafkaDefaults, tpLinger, tpBufferBytes>>20, tpBatchBytes>>10, lingerZero, partEmbedded, partWide, partR3, partR3)
	printTPRuns(&sb, r.runs)
	printTPFigures(&sb, r.runs)
	fmt.Fprint(w, sb.String())
}

func printTPRuns(sb *strings.Builder, runs []tpRun) {
	sb.WriteString("| part | settings | round | target | partitions | MiB | create ms | ready ms | produce MB/s | ack p50 ms | ack p99 ms | consume MB/s | " +
		"CPU s/GiB produce | CPU s/GiB consume | bench CPU s/GiB produce | RSS MiB start, peak |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		rss := "—"
		if r.peakRSS > 0 {
			rss = fmt.Sprintf("%.0f, %.0f", float64(r.startRSS)/(1<<20), float64(r.peakRSS)/(1<<20))
		}
		fmt.Fprintf(sb, "| %s | %s | %d | %s | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %s |\n",
			r.part, r.settings, r.round, r.target, r.partitions, r.bytes>>20, ms(r.create), ms(r.ready),
			r.produce.mbs, ms(r.produce.p50), ms(r.produce.p99), perSecond(r.gib()*(1<<10), r.consumeTime),
			perGiB(r.produceCPU, r.gib()), perGiB(r.consumeCPU, r.gib()), perGiB(r.benchCPU, r.gib()), rss)
	}
}

// tpFigure is one row of the figures table: a value, its baseline, and
// the target for their ratio, if it sets one.
type tpFigure struct {
	label, baseline string
	value, base     float64
	// atLeast is the lowest ratio the issue accepts, and under the bound
	// it sets on the value itself; 0 when it sets none.
	atLeast, under float64
}

func printTPFigures(sb *strings.Builder, runs []tpRun) {
	var figs []tpFigure
	for _, part := range []string{partEmbedded, partR3} {
		for _, settings := range []string{kafkaDefaults, lingerZero} {
			s := poolRuns(runs, func(r tpRun) bool { return r.part == part && r.settings == settings && r.target == targetStrata })
			k := poolRuns(runs, func(r tpRun) bool { return r.part == part && r.settings == settings && r.target == targetKfake })
			if s.runs == 0 || k.runs == 0 {
				continue
			}
			var produceTarget, consumeTarget float64
			if part == partEmbedded && settings == kafkaDefaults {
				produceTarget, consumeTarget = 0.8, 0.9
			}
			label := part + ", " + settings + ": "
			base := fmt.Sprintf("kfake (%d runs)", k.runs)
			figs = append(figs,
				tpFigure{label + "produce MB/s", base, s.produceMBs(), k.produceMBs(), produceTarget, 0},
				tpFigure{label + "consume MB/s", base, s.consumeMBs(), k.consumeMBs(), consumeTarget, 0},
				tpFigure{label + "CPU s per GiB produced", base, s.produceCPUPerGiB(), k.produceCPUPerGiB(), 0, 0},
				tpFigure{label + "CPU s per GiB consumed", base, s.consumeCPUPerGiB(), k.consumeCPUPerGiB(), 0, 0},
				tpFigure{label + "gateway peak RSS MiB (highest run)", "—", float64(s.maxRSS) / (1 << 20), 0, 0, 0})
		}
	}
	few, many := poolCount(runs, partWide, targetStrata, partitions), poolCount(runs, partWide, targetStrata, tpManyPartitions)
	kfakeFew, kfakeMany := poolCount(runs, partWide, targetKfake, partitions), poolCount(runs, partWide, targetKfake, tpManyPartitions)
	if few.runs > 0 && many.runs > 0 {
		label := fmt.Sprintf("%s, %d partitions: ", partWide, tpManyPartitions)
		base := fmt.Sprintf("%d partitions (%d runs)", partitions, few.runs)
		figs = append(figs,
			tpFigure{label + "produce MB/s", base, many.produceMBs(), few.produceMBs(), 0.8, 0},
			tpFigure{label + "consume MB/s", base, many.consumeMBs(), few.consumeMBs(), 0.8, 0},
			tpFigure{label + "CPU s per GiB produced", base, many.produceCPUPerGiB(), few.produceCPUPerGiB(), 0, 0},
			tpFigure{label + "gateway peak RSS MiB (highest run)", base, float64(many.maxRSS) / (1 << 20), float64(few.maxRSS) / (1 << 20), 0, 0},
			tpFigure{label + "topic creation ms, CreateTopics (slowest run)", base, ms(many.maxCreate), ms(few.maxCreate), 0, ms(tpCreateTarget)},
			tpFigure{label + "topic creation ms, until every partition has a leader (slowest run)", base, ms(many.maxReady), ms(few.maxReady), 0, ms(tpCreateTarget)})
	}
	if kfakeFew.runs > 0 && kfakeMany.runs > 0 {
		label := fmt.Sprintf("%s, kfake at %d partitions: ", partWide, tpManyPartitions)
		base := fmt.Sprintf("kfake at %d partitions (%d runs)", partitions, kfakeFew.runs)
		figs = append(figs,
			tpFigure{label + "produce MB/s", base, kfakeMany.produceMBs(), kfakeFew.produceMBs(), 0, 0},
			tpFigure{label + "consume MB/s", base, kfakeMany.consumeMBs(), kfakeFew.consumeMBs(), 0, 0},
			tpFigure{label + "CPU s per GiB produced", base, kfakeMany.produceCPUPerGiB(), kfakeFew.produceCPUPerGiB(), 0, 0})
	}
	sb.WriteString("\n| figure | value | baseline | baseline value | ratio | issue's target | |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, f := range figs {
		target, judged := "—", ""
		switch {
		case f.atLeast > 0:
			target, judged = fmt.Sprintf("ratio ≥ %.1f", f.atLeast), verdict(f.base > 0 && f.value/f.base >= f.atLeast)
		case f.under > 0:
			target, judged = fmt.Sprintf("< %g", f.under), verdict(f.value < f.under)
		}
		baseValue := "—"
		if f.base > 0 {
			baseValue = fmt.Sprintf("%.2f", f.base)
		}
		fmt.Fprintf(sb, "| %s | %.2f | %s | %s | %s | %s | %s |\n", f.label, f.value, f.baseline, baseValue, ratio(f.value, f.base), target, judged)
	}
	if many.runs > 0 {
		fmt.Fprintf(sb, "\n- creating the %d-partition topic: CreateTopics %s, until every partition had a leader %s (each run); the issue's target is under %v\n",
			tpManyPartitions, durations(runs, func(r tpRun) time.Duration { return r.create }), durations(runs, func(r tpRun) time.Duration { return r.ready }), tpCreateTarget)
	}
}

// durations lists the given duration of every tpManyPartitions run on Strata.
func durations(runs []tpRun, of func(tpRun) time.Duration) string {
	var out []string
	for _, r := range runs {
		if r.target == targetStrata && r.partitions == tpManyPartitions {
			out = append(out, fmt.Sprintf("%.1f ms", ms(of(r))))
		}
	}
	return strings.Join(out, ", ")
}
