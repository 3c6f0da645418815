package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printTxnSummary prints BenchmarkTransactions' figures, if it ran.
func printTxnSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if !txnResults.ran {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nTransactions: one `strata serve` on its embedded NATS (file object store), clients in the bench process, all on loopback, %d CPUs. "+
		"CPU in cores over each run: the gateway (embedded NATS included), the bench process (clients), the whole host (other work on the machine included).\n", runtime.NumCPU())
	printTxnThroughput(&sb)
	printTxnCycles(&sb)
	printTxnChecks(&sb)
	fmt.Fprint(w, sb.String())
}

func printTxnThroughput(sb *strings.Builder) {
	r := txnResults
	fmt.Fprintf(sb, "\nThroughput: %d MiB a run of %d B records (an id, then 'v's) to a %d-partition wal topic, a new franz-go client a run with its defaults "+
		"(acks=all, idempotent, 10 ms linger, snappy). idempotent: no transactions, the baseline; %s: transactional, committing once %v have passed since the transaction began; "+
		"%s: committing after every %d records. A commit is Flush (every record of the transaction acknowledged, as EndTransaction requires), "+
		"then EndTransaction(TryCommit), then BeginTransaction. Rounds of (%s), ratio to the idempotent run of the same round.\n\n",
		txnRunBytes>>20, recordBytes, partitions, modeInterval, txnCommitInterval, modeRecords, txnCommitRecords, strings.Join(txnModes, ", "))
	sb.WriteString("| round | producer | MB/s | ratio | commits | records/commit | Flush p50 ms | EndTxn p50 ms | EndTxn p99 ms | gateway CPU s/GiB | CPU cores: gateway, bench, host |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	base := map[int]float64{}
	each := map[string][]string{}
	byMode := map[string][]txnRun{}
	for _, run := range r.runs {
		if run.mode == modeIdempotent {
			base[run.round] = run.mbs()
		}
		byMode[run.mode] = append(byMode[run.mode], run)
		x := ratio(run.mbs(), base[run.round])
		if run.mode != modeIdempotent {
			each[run.mode] = append(each[run.mode], x)
		}
		commits, perCommit, flushP50, p50, p99 := "—", "—", "—", "—", "—"
		if len(run.commits) > 0 {
			c, f := summarize(slices.Clone(run.commits), 0, 0), summarize(slices.Clone(run.flushes), 0, 0)
			commits, perCommit = fmt.Sprint(len(run.commits)), fmt.Sprintf("%.0f", float64(run.records)/float64(len(run.commits)))
			flushP50, p50, p99 = fmt.Sprintf("%.1f", ms(f.p50)), fmt.Sprintf("%.2f", ms(c.p50)), fmt.Sprintf("%.2f", ms(c.p99))
		}
		fmt.Fprintf(sb, "| %d | %s | %.1f | %s | %s | %s | %s | %s | %s | %.2f | %s |\n", run.round, run.mode, run.mbs(), x,
			commits, perCommit, flushP50, p50, p99, run.cpu.gateway.Seconds()/(float64(run.records)*recordBytes/(1<<30)), cores(run.cpu.cores))
	}
	sb.WriteString("\n")
	idem := pooledTxnMBs(byMode[modeIdempotent])
	idemCPU := gatewayCPU(byMode[modeIdempotent])
	for _, mode := range txnModes[1:] {
		runs := byMode[mode]
		fmt.Fprintf(sb, "- %s / idempotent MB/s: %s pooled over the rounds (each round: %s); gateway CPU per GiB: %s of the idempotent producer's",
			mode, ratio(pooledTxnMBs(runs), idem), strings.Join(each[mode], ", "), ratio(gatewayCPU(runs).Seconds(), idemCPU.Seconds()))
		if n := len(commitsOf(runs)); n > 0 {
			// The gateway's CPU beyond what the idempotent producer's
			// runs took for as many bytes, per commit.
			var records int
			for _, r := range runs {
				records += r.records
			}
			gib := float64(records) * recordBytes / (1 << 30)
			extra := (gatewayCPU(runs) - idemCPU).Seconds() * gib / float64(n)
			fmt.Fprintf(sb, ", so about %.1f ms more gateway CPU per commit", extra*1000)
		}
		sb.WriteString("\n")
	}
	var all []time.Duration
	for _, mode := range txnModes[1:] {
		c := commitsOf(byMode[mode])
		all = append(all, c...)
		var flushes []time.Duration
		for _, run := range byMode[mode] {
			flushes = append(flushes, run.flushes...)
		}
		printCommitLine(sb, mode, c, flushes)
	}
	printCommitLine(sb, "both", all, nil)
}

// printCommitLine gives the EndTransaction durations of commits, and the
// Flush before each if there are flushes.
func printCommitLine(sb *strings.Builder, label string, commits, flushes []time.Duration) {
	if len(commits) == 0 {
		return
	}
	c := summarize(slices.Clone(commits), 0, 0)
	fmt.Fprintf(sb, "- EndTransaction(TryCommit), %s: %d commits, p50 %.2f ms, p99 %.2f ms, max %.2f ms", label, c.n, ms(c.p50), ms(c.p99), ms(slices.Max(commits)))
	if len(flushes) > 0 {
		f := summarize(slices.Clone(flushes), 0, 0)
		fmt.Fprintf(sb, "; the Flush before it p50 %.1f ms, p99 %.1f ms", ms(f.p50), ms(f.p99))
	}
	sb.WriteString("\n")
}

func printTxnCycles(sb *strings.Builder) {
	r := txnResults
	fmt.Fprintf(sb, "\nOne-record cycles, one client each, after %d of each to warm up: produce is ProduceSync of one record by an idempotent producer (acks=all); "+
		"cycle is BeginTransaction, ProduceSync of one record, EndTransaction(TryCommit). %d of each a round, rounds alternating, produce first.\n\n", txnCycleWarmup, txnCycles)
	sb.WriteString("| round | kind | operations | per s | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |\n")
	var plain, cycle []time.Duration
	for i := range min(len(r.cyclePlain), len(r.cycleTxn)) {
		for _, t := range []struct {
			label string
			run   rateRun
		}{{"produce", r.cyclePlain[i]}, {"cycle", r.cycleTxn[i]}} {
			fmt.Fprintf(sb, "| %d | %s | %d | %.0f | %.2f | %.2f |\n", i+1, t.label, t.run.n, t.run.perSec(), ms(t.run.p50), ms(t.run.p99))
		}
		plain, cycle = append(plain, r.cyclePlain[i].p50), append(cycle, r.cycleTxn[i].p50)
	}
	c := summarize(slices.Clone(r.cycleCommits), 0, 0)
	fmt.Fprintf(sb, "\n- cycle / produce p50, per round: %s; cycles/s over produces/s: %s pooled\n",
		ratiosOf(cycle, plain), ratio(pooled(r.cycleTxn), pooled(r.cyclePlain)))
	fmt.Fprintf(sb, "- EndTransaction(TryCommit) of a one-record transaction: %d commits, p50 %.2f ms, p99 %.2f ms\n", c.n, ms(c.p50), ms(c.p99))
}

func printTxnChecks(sb *strings.Builder) {
	r := txnResults
	var idem int
	for _, run := range r.runs {
		if run.mode == modeIdempotent {
			idem += run.records
		}
	}
	for _, c := range r.cyclePlain {
		idem += c.n
	}
	fmt.Fprintf(sb, "\nChecks: the transactional topic, read from the start by direct assignment, held with read_committed each of the %d committed records exactly once "+
		"and none of the %d records of the aborted transaction (acknowledged before the abort, after the first round), and with read_uncommitted all %d; "+
		"in every partition the last record sat just before the high watermark's commit marker. The idempotent topic held all %d records produced to it. "+
		"Reads alternate, read_uncommitted first.\n\n", r.committed, r.aborted, r.committed+r.aborted, idem+txnCycleWarmup)
	sb.WriteString("| read | isolation | records | MB/s |\n| --- | --- | --- | --- |\n")
	var rc, ru []float64
	for i, read := range r.reads {
		name := "read_uncommitted"
		if read.committed {
			name = "read_committed"
			rc = append(rc, read.mbs())
		} else {
			ru = append(ru, read.mbs())
		}
		fmt.Fprintf(sb, "| %d | %s | %d | %.1f |\n", i+1, name, read.records, read.mbs())
	}
	each := make([]string, 0, len(rc))
	for i := range min(len(rc), len(ru)) {
		each = append(each, ratio(rc[i], ru[i]))
	}
	fmt.Fprintf(sb, "\n- read_committed / read_uncommitted MB/s, each pair: %s\n", strings.Join(each, ", "))
}

// gatewayCPU is the gateway's CPU time per GiB produced over runs.
func gatewayCPU(runs []txnRun) time.Duration {
	var t time.Duration
	var records int
	for _, r := range runs {
		t, records = t+r.cpu.gateway, records+r.records
	}
	if records == 0 {
		return 0
	}
	return time.Duration(float64(t) / (float64(records) * recordBytes / (1 << 30)))
}

// ratiosOf formats num[i]/den[i] for each i.
func ratiosOf(num, den []time.Duration) string {
	out := make([]string, len(num))
	for i := range num {
		out[i] = ratio(float64(num[i]), float64(den[i]))
	}
	return strings.Join(out, ", ")
}
