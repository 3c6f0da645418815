package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricSet is one /metrics scrape: each sample's value by its series, the
// metric name with its labels as exposed ("m_bucket{le=\"0.1\"}").
type metricSet map[string]float64

func (m metricSet) get(series string) float64 { return m[series] }

func (e *walEnv) scrape(b *testing.B) metricSet {
	b.Helper()
	return mustScrape(b, e.metrics)
}

// mustScrape scrapes url, ending b if it cannot.
func mustScrape(b *testing.B, url string) metricSet {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := scrapeMetrics(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func scrapeMetrics(ctx context.Context, url string) (metricSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	m := metricSet{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("scrape %s: %q: %w", url, line, err)
		}
		m[line[:i]] = v
	}
	return m, nil
}

// histogram is a Prometheus histogram's cumulative bucket counts.
type histogram struct {
	bounds []float64 // upper bounds, ascending, +Inf last
	counts []float64
}

func (m metricSet) histogram(name string) histogram {
	var h histogram
	prefix := name + `_bucket{le="`
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(k[len(prefix):], `"}`), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, v})
	}
	slices.SortFunc(bs, func(a, b bucket) int {
		switch {
		case a.le < b.le:
			return -1
		case a.le > b.le:
			return 1
		}
		return 0
	})
	for _, x := range bs {
		h.bounds = append(h.bounds, x.le)
		h.counts = append(h.counts, x.n)
	}
	return h
}

// sub returns h minus an earlier scrape of the same histogram.
func (h histogram) sub(earlier histogram) histogram {
	out := histogram{bounds: h.bounds, counts: slices.Clone(h.counts)}
	if len(earlier.counts) == len(h.counts) {
		for i := range out.counts {
			out.counts[i] -= earlier.counts[i]
		}
	}
	return out
}

// quantile estimates the q-quantile, in seconds, interpolating linearly
// inside the bucket as Prometheus's histogram_quantile does.
func (h histogram) quantile(q float64) time.Duration {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return 0
	}
	rank := q * h.counts[len(h.counts)-1]
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			upper := h.bounds[i]
			if i == len(h.counts)-1 { // +Inf: the last finite bound is all we know
				upper = lower
			}
			frac := 0.0
			if c > below {
				frac = (rank - below) / (c - below)
			}
			return time.Duration((lower + (upper-lower)*frac) * float64(time.Second))
		}
		lower, below = h.bounds[i], c
	}
	return 0
}

func diffStats(before, after metricSet) serverStats {
	d := func(k string) float64 { return after.get(k) - before.get(k) }
	const walHist, flushHist = "strata_tiered_wal_append_duration_seconds", "strata_tiered_flush_duration_seconds"
	wal := after.histogram(walHist).sub(before.histogram(walHist))
	flush := after.histogram(flushHist).sub(before.histogram(flushHist))
	return serverStats{
		walAppends:   d(walHist + "_count"),
		walBytes:     d("strata_tiered_wal_bytes_total"),
		walP50:       wal.quantile(0.5),
		walP99:       wal.quantile(0.99),
		walErrors:    d("strata_tiered_wal_append_errors_total"),
		flushes:      d(flushHist + "_count"),
		flushP50:     flush.quantile(0.5),
		flushP99:     flush.quantile(0.99),
		puts:         d("strata_tiered_segment_puts_total"),
		putBytes:     d("strata_tiered_segment_put_bytes_total"),
		putErrs:      d("strata_tiered_segment_put_errors_total"),
		backpressure: d("strata_tiered_backpressure_total"),
	}
}

// printWALSummary prints BenchmarkWAL's figures, if it ran.
func printWALSummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(walResults.produce) == 0 && len(walResults.baselines) == 0 && len(walResults.puts) == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nWAL tier: one gateway on a 3-node NATS cluster (WAL and coordinator at R3, fsync always, in the bench process) with segments in MinIO, all on loopback; "+
		"%d CPUs, load average %s at the start. %d B incompressible records sent uncompressed, acks=all, linger 0, %d partitions, flush interval %v.\n",
		runtime.NumCPU(), walResults.loadAvg, walRecordBytes, latencyPartitions, defaultFlushInterval)
	printProduce(&sb)
	printBaselines(&sb)
	printRatios(&sb)
	printPuts(&sb)
	fmt.Fprint(w, sb.String())
}

var (
	walLoads        = []string{"10MBps", "max"}
	walDurabilities = []string{"wal", "s3"}
)

func loadLabel(load string) string { return strings.Replace(load, "MBps", " MB/s", 1) }

// printProduce prints the client's view of each produce run, then the
// gateway's (/metrics deltas over the run; histogram quantiles interpolate
// inside buckets).
func printProduce(sb *strings.Builder) {
	if len(walResults.produce) == 0 {
		return
	}
	sb.WriteString("\nProduce, client side. ack: per record, from Produce to its acknowledgement (at max load this includes time queued in the client); " +
		"request: each produce request from write to response (kgo BrokerE2E); CPU in cores over the run (host: everything on the machine, other tests included).\n\n")
	sb.WriteString("| load | durability | records | MB/s | ack p50 ms | ack p99 ms | requests | request p50 ms | request p99 ms | gateway CPU | bench CPU (NATS + client) | host CPU |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, load := range walLoads {
		for _, dur := range walDurabilities {
			if r, ok := walResults.produce[load+"/"+dur]; ok {
				fmt.Fprintf(sb, "| %s | %s | %d | %.1f | %.2f | %.2f | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", loadLabel(load), dur,
					r.lat.n, r.lat.mbs, ms(r.lat.p50), ms(r.lat.p99), r.rtt.n, ms(r.rtt.p50), ms(r.rtt.p99), r.cpu.gateway, r.cpu.bench, r.cpu.host)
			}
		}
	}
	sb.WriteString("\nProduce, gateway side (/metrics over the run). WAL append: one JetStream publish carrying every batch a partition queued meanwhile; flush: take, PUT, index commits.\n\n")
	sb.WriteString("| load | durability | WAL appends | mean append KiB | WAL append p50 ms | WAL append p99 ms | flushes | flush p50 ms | flush p99 ms | PUTs | mean segment MiB | errors (WAL, PUT, backpressure) |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, load := range walLoads {
		for _, dur := range walDurabilities {
			if r, ok := walResults.produce[load+"/"+dur]; ok {
				s := r.stats
				fmt.Fprintf(sb, "| %s | %s | %.0f | %s | %s | %s | %.0f | %s | %s | %.0f | %s | %.0f, %.0f, %.0f |\n", loadLabel(load), dur,
					s.walAppends, perUnit(s.walBytes, s.walAppends, 1<<10), optMs(s.walP50, s.walAppends), optMs(s.walP99, s.walAppends),
					s.flushes, optMs(s.flushP50, s.flushes), optMs(s.flushP99, s.flushes), s.puts, perUnit(s.putBytes, s.puts, 1<<20),
					s.walErrors, s.putErrs, s.backpressure)
			}
		}
	}
}

// p99Round is one 10 MB/s wal run and the raw group-commit baseline measured
// right after it.
type p99Round struct{ wal, raw latencies }

// walBaselines names the baselines in the order printed.
var walBaselines = []struct{ key, label string }{
	{"jetstream-sync-1batch", "JetStream R3 publish, synchronous, %d B (one 1-record batch)"},
	{"jetstream-sync-wal-size", "JetStream R3 publish, synchronous, %d B (the mean WAL append of the 10 MB/s wal run)"},
	{"jetstream-groupcommit-10MBps", "JetStream R3 group commit at 10 MB/s: one synchronous publisher per subject, %d subjects, each message carrying the 1 KiB records that arrived meanwhile (per record, from arrival)"},
	{groupCommitMany, "JetStream R3 group commit at 10 MB/s as above, over %d subjects (the WAL's pattern at the second PUT run's partition count)"},
	{"jetstream-max", "JetStream R3 maximum: one synchronous publisher per subject, %d subjects, 1 MiB messages back to back (per publish)"},
	{"jetstream-async-10MBps", "JetStream R3 publish, asynchronous, one 1 KiB record per message at 10 MB/s over %d subjects"},
	{"minio-put-1MiB", "MinIO PUT, 1 MiB, one at a time"},
	{"minio-put-8MiB", "MinIO PUT, 8 MiB, one at a time"},
}

func printBaselines(sb *strings.Builder) {
	if len(walResults.baselines) == 0 {
		return
	}
	sb.WriteString("\nBaselines, same run, same servers (retried: publishes refused with a spurious wrong-last-sequence and sent again):\n\n| baseline | samples | p50 ms | p99 ms | MB/s | retried |\n| --- | --- | --- | --- | --- | --- |\n")
	for _, bl := range walBaselines {
		l, ok := walResults.baselines[bl.key]
		if !ok {
			continue
		}
		label := bl.label
		switch bl.key {
		case "jetstream-sync-1batch":
			label = fmt.Sprintf(label, oneRecordBatchBytes)
		case "jetstream-sync-wal-size":
			label = fmt.Sprintf(label, walResults.jsSyncLen)
		case "jetstream-groupcommit-10MBps", "jetstream-async-10MBps", "jetstream-max":
			label = fmt.Sprintf(label, latencyPartitions)
		case groupCommitMany:
			label = fmt.Sprintf(label, manyPartitions)
		}
		fmt.Fprintf(sb, "| %s | %d | %.2f | %.2f | %.1f | %d |\n", label, l.n, ms(l.p50), ms(l.p99), l.mbs, l.retried)
	}
}

func printRatios(sb *strings.Builder) {
	sb.WriteString("\nRatios:\n\n")
	wal, okWAL := walResults.produce["10MBps/wal"]
	if okWAL {
		fmt.Fprintf(sb, "- wal ack p99 at 10 MB/s: %.2f ms (target ≤ 10 ms on loopback: %s)\n", ms(wal.lat.p99), verdict(ms(wal.lat.p99) <= 10))
		for _, key := range []string{"jetstream-groupcommit-10MBps", "jetstream-sync-wal-size", "jetstream-sync-1batch", "jetstream-async-10MBps"} {
			if l, ok := walResults.baselines[key]; ok && l.p99 > 0 && l.p50 > 0 {
				r := ms(wal.lat.p99) / ms(l.p99)
				fmt.Fprintf(sb, "- wal ack p99 at 10 MB/s / %s p99: %.2f× (target ≤ 2×: %s); p50: %.2f×\n", key, r, verdict(r <= 2), ms(wal.lat.p50)/ms(l.p50))
			}
		}
	}
	if l, ok := walResults.baselines["jetstream-groupcommit-10MBps"]; okWAL && ok && len(walResults.rounds) > 0 {
		rounds := append([]p99Round{{wal: wal.lat, raw: l}}, walResults.rounds...)
		var ratios []float64
		var each []string
		for _, r := range rounds {
			if r.raw.p99 <= 0 {
				continue
			}
			x := ms(r.wal.p99) / ms(r.raw.p99)
			ratios = append(ratios, x)
			each = append(each, fmt.Sprintf("%.2f× (%.1f/%.1f ms)", x, ms(r.wal.p99), ms(r.raw.p99)))
		}
		if len(ratios) > 0 {
			sorted := slices.Sorted(slices.Values(ratios))
			med := sorted[len(sorted)/2]
			fmt.Fprintf(sb, "- wal ack p99 / group-commit p99 at 10 MB/s over %d rounds: %s; median %.2f× (target ≤ 2×: %s)\n",
				len(ratios), strings.Join(each, ", "), med, verdict(med <= 2))
		}
	}
	if s3r, ok := walResults.produce["10MBps/s3"]; ok {
		for _, key := range []string{"minio-put-1MiB", "minio-put-8MiB"} {
			if l, ok := walResults.baselines[key]; ok && l.p50 > 0 {
				fmt.Fprintf(sb, "- s3 ack p50 at 10 MB/s / raw PUT p50 (%s): %.1f× (%.1f ms vs %.1f ms; an s3 produce request waits for the next flush, %v apart, then its PUT and index commits: request p50 %.1f ms)\n",
					strings.TrimPrefix(key, "minio-put-"), ms(s3r.lat.p50)/ms(l.p50), ms(s3r.lat.p50), ms(l.p50), defaultFlushInterval, ms(s3r.rtt.p50))
			}
		}
		if okWAL && wal.lat.p50 > 0 {
			fmt.Fprintf(sb, "- s3 / wal ack p50 at 10 MB/s: %.1f×\n", ms(s3r.lat.p50)/ms(wal.lat.p50))
		}
	}
	m, okM := walResults.produce["max/wal"]
	s, okS := walResults.produce["max/s3"]
	if okM && okS && s.lat.mbs > 0 {
		fmt.Fprintf(sb, "- max throughput wal / s3: %.2f× (%.1f vs %.1f MB/s)\n", m.lat.mbs/s.lat.mbs, m.lat.mbs, s.lat.mbs)
	}
	if l, ok := walResults.baselines["jetstream-max"]; okM && ok && l.mbs > 0 {
		fmt.Fprintf(sb, "- max throughput wal / raw JetStream: %.2f× (%.1f vs %.1f MB/s)\n", m.lat.mbs/l.mbs, m.lat.mbs, l.mbs)
	}
}

func printPuts(sb *strings.Builder) {
	if len(walResults.puts) == 0 {
		return
	}
	perGiB := float64(time.Second) / float64(defaultFlushInterval) * float64(1<<30) / pacedRate
	fmt.Fprintf(sb, "\nS3 PUTs per GiB, wal topic, %d MiB offered at 10 MB/s, counted from an empty tail to an empty tail and scaled to GiB "+
		"(one PUT per flush interval would be %.0f):\n\n", putsBytes>>20, perGiB)
	sb.WriteString("| partitions | MiB | achieved MB/s | ack p50 ms | ack p99 ms | PUTs | PUTs/GiB | mean segment MiB | flushes | flush p50 ms | flush p99 ms | WAL appends | mean append KiB | WAL append p99 ms | errors (WAL, PUT, backpressure) | CPU gateway, bench, host |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range walResults.puts {
		s := r.stats
		fmt.Fprintf(sb, "| %d | %d | %.1f | %.2f | %.2f | %.0f | %.0f | %s | %.0f | %s | %s | %.0f | %s | %s | %.0f, %.0f, %.0f | %.2f, %.2f, %.2f |\n", r.partitions, r.bytes>>20, r.lat.mbs,
			ms(r.lat.p50), ms(r.lat.p99), s.puts, s.puts/(float64(r.bytes)/(1<<30)), perUnit(s.putBytes, s.puts, 1<<20), s.flushes, optMs(s.flushP50, s.flushes), optMs(s.flushP99, s.flushes),
			s.walAppends, perUnit(s.walBytes, s.walAppends, 1<<10), optMs(s.walP99, s.walAppends), s.walErrors, s.putErrs, s.backpressure, r.cpu.gateway, r.cpu.bench, r.cpu.host)
	}
	if n := len(walResults.puts); n >= 2 && walResults.puts[0].stats.puts > 0 {
		first, last := walResults.puts[0], walResults.puts[n-1]
		r := last.stats.puts / first.stats.puts
		fmt.Fprintf(sb, "\n- PUTs/GiB at %d partitions / at %d: %.2f× (target ≈ 1×: %s)\n", last.partitions, first.partitions, r, verdict(r > 0.8 && r < 1.25))
	}
	for _, r := range walResults.puts {
		l, ok := walResults.baselines[groupCommitMany]
		if r.partitions != manyPartitions || !ok || l.p50 <= 0 || l.p99 <= 0 {
			continue
		}
		fmt.Fprintf(sb, "- wal ack at %d partitions / raw JetStream group commit over %d subjects: p50 %.2f×, p99 %.2f× (%.1f/%.1f ms vs %.1f/%.1f ms; raw achieved %.1f MB/s of 10)\n",
			r.partitions, manyPartitions, ms(r.lat.p50)/ms(l.p50), ms(r.lat.p99)/ms(l.p99), ms(r.lat.p50), ms(r.lat.p99), ms(l.p50), ms(l.p99), l.mbs)
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// perUnit formats num/den in units of unit, or "—" when den is zero.
func perUnit(num, den, unit float64) string {
	if den == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", num/den/unit)
}

// optMs formats d in ms, or "—" when the histogram had no samples.
func optMs(d time.Duration, samples float64) string {
	if samples == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", ms(d))
}
