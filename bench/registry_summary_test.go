package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// printRegistrySummary prints BenchmarkSchemaRegistry's figures, if it ran.
func printRegistrySummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if !registryResults.ran {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nSchema registry: one `strata serve` on its embedded NATS (file object store), clients in the bench process, all on loopback, %d CPUs. "+
		"CPU in cores over each run: the gateway (embedded NATS included), the bench process (clients, and the raw HTTP server), the whole host (other work on the machine included); "+
		"CPU per operation is CPU time over the run divided by the operations.\n", runtime.NumCPU())
	printLookups(&sb)
	printRegistrations(&sb)
	printValidation(&sb)
	fmt.Fprint(w, sb.String())
}

func printLookups(sb *strings.Builder) {
	r := registryResults
	fmt.Fprintf(sb, "\nLookups: GET /schemas/ids/{id} with franz-go's sr client (keep-alive, up to %d connections) from %d goroutines, "+
		"round-robin over %d registered Avro schemas (%d B mean body), %d lookups a round (or %v), rounds alternating. "+
		"raw HTTP: a net/http handler in the bench process answering the registry's own bodies from a map.\n\n",
		lookupClients, lookupClients, lookupSchemas, r.lookupBody, lookupsPerRound, lookupRoundMax)
	sb.WriteString("| round | target | lookups | lookups/s | p50 ms | p99 ms | CPU µs/lookup: gateway, bench | CPU cores: gateway, bench, host |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	var each []string
	for i := range min(len(r.lookupRaw), len(r.lookupRegistry)) {
		raw, reg := r.lookupRaw[i], r.lookupRegistry[i]
		for _, t := range []struct {
			label string
			run   rateRun
		}{{"raw HTTP", raw}, {"registry", reg}} {
			gw := "—"
			if t.run.cpu.gateway > 0 {
				gw = perOp(t.run.cpu.gateway, t.run.n, time.Microsecond)
			}
			fmt.Fprintf(sb, "| %d | %s | %d | %.0f | %.3f | %.3f | %s, %s | %s |\n", i+1, t.label, t.run.n, t.run.perSec(), ms(t.run.p50), ms(t.run.p99),
				gw, perOp(t.run.cpu.process, t.run.n, time.Microsecond), cores(t.run.cpu.cores))
		}
		each = append(each, ratio(reg.perSec(), raw.perSec()))
	}
	fmt.Fprintf(sb, "\n- registry / raw HTTP lookups/s: %s pooled over the rounds (each round: %s)\n",
		ratio(pooled(r.lookupRegistry), pooled(r.lookupRaw)), strings.Join(each, ", "))
	rawServer := cpuPerOp(r.lookupRaw, func(c cpuSpan) time.Duration { return c.process }) -
		cpuPerOp(r.lookupRegistry, func(c cpuSpan) time.Duration { return c.process })
	gateway := cpuPerOp(r.lookupRegistry, func(c cpuSpan) time.Duration { return c.gateway })
	if rawServer > 0 {
		fmt.Fprintf(sb, "- CPU per lookup, registry gateway / raw handler: %.1f (%.1f µs vs %.1f µs; the raw handler's is the bench process's CPU per lookup against raw HTTP less that against the registry, the client's share, so an estimate)\n",
			float64(gateway)/float64(rawServer), us(gateway), us(rawServer))
	}
}

func printRegistrations(sb *strings.Builder) {
	r := registryResults
	fmt.Fprintf(sb, "\nRegistrations: POST /subjects/{subject}/versions, %d distinct Avro records, each under a new subject. "+
		"No raw baseline: the embedded NATS opens no client port, so raw JetStream KV puts cannot be timed on the same server; "+
		"these are registrations/s alone, with per-registration latency (each is several fsynced KV writes).\n\n", registrations)
	sb.WriteString("| clients | registrations | registrations/s | p50 ms | p99 ms | gateway CPU ms/registration | CPU cores: gateway, bench, host |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, t := range []struct {
		clients int
		run     rateRun
	}{{1, r.registerSeq}, {registerClients, r.registerPar}} {
		fmt.Fprintf(sb, "| %d | %d | %.1f | %.2f | %.2f | %s | %s |\n", t.clients, t.run.n, t.run.perSec(), ms(t.run.p50), ms(t.run.p99),
			perOp(t.run.cpu.gateway, t.run.n, time.Millisecond), cores(t.run.cpu.cores))
	}
	fmt.Fprintf(sb, "\n- %d clients / 1 client registrations/s: %s\n", registerClients, ratio(r.registerPar.perSec(), r.registerSeq.perSec()))
}

func printValidation(sb *strings.Builder) {
	r := registryResults
	fmt.Fprintf(sb, "\nProduce with schema validation: %d MiB a run of %d B records (magic byte, schema id, then 'v's: snappy-compressible, so the gateway decompresses each batch to check it) "+
		"to a %d-partition wal topic, franz-go defaults (acks=all, idempotent, snappy); validated: confluent.value.schema.validation=true, "+
		"every value's id registered under %s-value; unvalidated: the same records to a topic without it. Runs alternate, unvalidated first.\n\n",
		validationBytes>>20, recordBytes, partitions, checkedTopic)
	sb.WriteString("| run | topic | MB/s | ack p50 ms | ack p99 ms | gateway CPU s/GiB | CPU cores: gateway, bench, host |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	var plain, checked []latencies
	var plainCPU, checkedCPU time.Duration
	var pairs []float64
	for i, p := range r.produce {
		label := "unvalidated"
		if p.validated {
			label = "validated"
			checked, checkedCPU = append(checked, p.lat), checkedCPU+p.cpu.gateway
			if i > 0 && !r.produce[i-1].validated && r.produce[i-1].lat.mbs > 0 {
				pairs = append(pairs, p.lat.mbs/r.produce[i-1].lat.mbs)
			}
		} else {
			plain, plainCPU = append(plain, p.lat), plainCPU+p.cpu.gateway
		}
		fmt.Fprintf(sb, "| %d | %s | %.1f | %.1f | %.1f | %.2f | %s |\n", i+1, label, p.lat.mbs, ms(p.lat.p50), ms(p.lat.p99),
			p.cpu.gateway.Seconds()/(float64(validationBytes)/(1<<30)), cores(p.cpu.cores))
	}
	x := pooledMBs(checked) / pooledMBs(plain)
	each := make([]string, len(pairs))
	for i, p := range pairs {
		each[i] = fmt.Sprintf("%.2f", p)
	}
	med := "—"
	if len(pairs) > 0 {
		sorted := slices.Sorted(slices.Values(pairs))
		med = fmt.Sprintf("%.2f", sorted[len(sorted)/2])
	}
	fmt.Fprintf(sb, "\n- validated / unvalidated MB/s: %.2f pooled over the runs (target ≥ 0.95: %s); each pair: %s; median pair %s\n",
		x, verdict(x >= 0.95), strings.Join(each, ", "), med)
	if len(plain) > 0 && len(checked) > 0 {
		fmt.Fprintf(sb, "- validated / unvalidated gateway CPU per GiB: %s\n",
			ratio(checkedCPU.Seconds()/float64(len(checked)), plainCPU.Seconds()/float64(len(plain))))
	}
}

// cpuPerOp is the CPU time of, per operation, pooled over runs.
func cpuPerOp(runs []rateRun, of func(cpuSpan) time.Duration) time.Duration {
	var n int
	var t time.Duration
	for _, r := range runs {
		n, t = n+r.n, t+of(r.cpu)
	}
	if n == 0 {
		return 0
	}
	return t / time.Duration(n)
}

// perOp formats t/n in unit, or "—" when n is zero.
func perOp(t time.Duration, n int, unit time.Duration) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(t)/float64(n)/float64(unit))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
