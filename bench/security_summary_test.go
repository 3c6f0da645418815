package bench

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// printSecuritySummary prints BenchmarkSecurity's figures, if it ran.
func printSecuritySummary(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if !securityResults.ran {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nSecurity: two `strata serve` on their embedded NATS (file object store), clients in the bench process, all on loopback, %d CPUs. "+
		"PLAINTEXT: a PLAINTEXT listener and no authorizer, the baseline. SASL_SSL+ACL: SASL_SSL and SASL_PLAINTEXT listeners, SCRAM-SHA-512, "+
		"an ECDSA P-256 certificate (%s negotiated), --authorizer acl, the bench user granted WRITE and READ on its topics and READ on its group by a super user. "+
		"CPU in cores over each run: the gateway (embedded NATS included), the bench process (clients), the whole host (other work on the machine included).\n",
		runtime.NumCPU(), securityResults.tlsVersion)
	printSecThroughput(&sb)
	printLogins(&sb)
	printFlood(&sb)
	fmt.Fprint(w, sb.String())
}

func printSecThroughput(sb *strings.Builder) {
	runs := securityResults.throughput
	fmt.Fprintf(sb, "\nThroughput: %d MiB a run of %d B records to a new %d-partition topic with Kafka's producer defaults (acks=all, idempotent, linger %v, "+
		"no compression) but batches of up to %d KiB, then read back from the start by direct assignment; the secured gateway as the bench user over SASL_SSL. "+
		"Rounds of (PLAINTEXT, SASL_SSL+ACL), the order swapped in even rounds. Gateway CPU per GiB moved.\n\n",
		secBytes>>20, recordBytes, partitions, secLinger, secBatchBytes>>10)
	sb.WriteString("| round | gateway | produce MB/s | ack p50 ms | ack p99 ms | gateway CPU s/GiB | CPU cores: gateway, bench, host | consume MB/s | gateway CPU s/GiB | CPU cores: gateway, bench, host |\n")
	sb.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	gib := float64(secBytes) / (1 << 30)
	type pair struct{ plain, secured secThroughputRun }
	rounds := map[int]*pair{}
	var gw, cl [2][2]time.Duration // gateway's and bench process's CPU, [secured][produce, consume]
	for _, r := range runs {
		name, i := "PLAINTEXT", 0
		if r.secured {
			name, i = "SASL_SSL+ACL", 1
		}
		p := rounds[r.round]
		if p == nil {
			p = &pair{}
			rounds[r.round] = p
		}
		if r.secured {
			p.secured = r
		} else {
			p.plain = r
		}
		gw[i][0] += r.produceCPU.gateway
		gw[i][1] += r.consumeCPU.gateway
		cl[i][0] += r.produceCPU.process
		cl[i][1] += r.consumeCPU.process
		fmt.Fprintf(sb, "| %d | %s | %.1f | %.1f | %.1f | %.2f | %s | %.1f | %.2f | %s |\n", r.round, name,
			r.produce.mbs, ms(r.produce.p50), ms(r.produce.p99), r.produceCPU.gateway.Seconds()/gib, cores(r.produceCPU.cores),
			r.consumeMBs, r.consumeCPU.gateway.Seconds()/gib, cores(r.consumeCPU.cores))
	}
	var produce, consume []string
	for round := 1; round <= secRounds; round++ {
		if p := rounds[round]; p != nil {
			produce = append(produce, ratio(p.secured.produce.mbs, p.plain.produce.mbs))
			consume = append(consume, ratio(p.secured.consumeMBs, p.plain.consumeMBs))
		}
	}
	pp, sp, pc, sc := pooledSecMBs(runs)
	fmt.Fprintf(sb, "\n- SASL_SSL+ACL / PLAINTEXT produce MB/s: %s pooled over the rounds (each round: %s); consume MB/s: %s pooled (each round: %s). The issue's target is at least 0.8.\n",
		ratio(sp, pp), strings.Join(produce, ", "), ratio(sc, pc), strings.Join(consume, ", "))
	fmt.Fprintf(sb, "- gateway CPU per GiB, SASL_SSL+ACL / PLAINTEXT: produce %s, consume %s\n",
		ratio(gw[1][0].Seconds(), gw[0][0].Seconds()), ratio(gw[1][1].Seconds(), gw[0][1].Seconds()))
	fmt.Fprintf(sb, "- bench process (clients) CPU per GiB, SASL_SSL+ACL / PLAINTEXT: produce %s, consume %s\n",
		ratio(cl[1][0].Seconds(), cl[0][0].Seconds()), ratio(cl[1][1].Seconds(), cl[0][1].Seconds()))
}

func printLogins(sb *strings.Builder) {
	runs := securityResults.logins
	fmt.Fprintf(sb, "\nLogins: %d connections a round of each kind from %d goroutines, each opened, used and closed, after %d of each to warm up; rounds alternate. "+
		"PLAINTEXT, the baseline, on the PLAINTEXT gateway; the others on the secured one. A login is SaslHandshake v1 and two SaslAuthenticate v2 "+
		"with xdg-go/scram, which caches the salted password as the server stores it, so the client does no PBKDF2 per login; "+
		"the server's signature is checked. SASL_SSL adds a full TLS handshake (no session resumption). CPU per connection is CPU time over the round divided by its connections.\n\n",
		loginCount, loginWorkers, loginWarmup)
	sb.WriteString("| round | connection | count | per s | p50 ms | p99 ms | CPU ms/connection: gateway, bench | CPU cores: gateway, bench, host |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		fmt.Fprintf(sb, "| %d | %s | %d | %.0f | %.2f | %.2f | %s, %s | %s |\n", r.round, r.kind, r.run.n, r.run.perSec(), ms(r.run.p50), ms(r.run.p99),
			msPerOp(r.run.cpu.gateway, r.run.n), msPerOp(r.run.cpu.process, r.run.n), cores(r.run.cpu.cores))
	}
	base := loginRuns(runs, loginKinds[0])
	baseCPU := cpuPerOp(base, func(c cpuSpan) time.Duration { return c.gateway })
	sb.WriteString("\n")
	for _, kind := range loginKinds[1:] {
		k := loginRuns(runs, kind)
		var each []string
		for i := range min(len(k), len(base)) {
			each = append(each, ratio(k[i].perSec(), base[i].perSec()))
		}
		cpu := cpuPerOp(k, func(c cpuSpan) time.Duration { return c.gateway })
		name, _, _ := strings.Cut(kind, ":")
		fmt.Fprintf(sb, "- %s logins/s: %.0f pooled, %s of PLAINTEXT connections/s (each round: %s); gateway CPU per login %.2f ms, %s of a PLAINTEXT connection's\n",
			name, pooled(k), ratio(pooled(k), pooled(base)), strings.Join(each, ", "), float64(cpu)/float64(time.Millisecond), ratio(float64(cpu), float64(baseCPU)))
	}
}

func printFlood(sb *strings.Builder) {
	f := securityResults.flood
	growth := float64(f.rssHeld - f.rssBefore)
	perConn := growth / (2 * floodConns)
	fmt.Fprintf(sb, "\nUnauthenticated flood, on the secured gateway before anything else ran on it: %d connections to its SASL_PLAINTEXT listener each sent a header "+
		"claiming a %d MiB Produce request, while %d more sent nothing and stayed open. RSS from /proc/<pid>/status; the \"held\" figure is taken "+
		"with the idle connections open and every oversized one closed. Growth per connection is over all %d; the cap is the gateway's pre-login frame limit of %d KiB.\n\n",
		floodConns, floodFrameBytes>>20, floodConns, 2*floodConns, preAuthFrameCap>>10)
	sb.WriteString("| VmRSS before MiB | VmRSS held MiB | growth MiB | growth KiB per connection | / pre-login cap | KiB per idle connection held | VmHWM MiB |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(sb, "| %.1f | %.1f | %.1f | %.1f | %s | %.1f | %.1f |\n", float64(f.rssBefore)/(1<<20), float64(f.rssHeld)/(1<<20), growth/(1<<20),
		perConn/(1<<10), ratio(perConn, preAuthFrameCap), growth/floodConns/(1<<10), float64(f.hwm)/(1<<20))
	fmt.Fprintf(sb, "\n- the gateway closed %d of %d oversized connections without answering (checked), and strata_gateway_bad_requests_total rose by %.0f (checked); "+
		"connections refused: %.0f; open connections while the idle ones were held: +%.0f; idle connections still open when released: %d of %d\n",
		f.closed, floodConns, f.badRequests, f.refused, f.held, f.stillOpen, floodConns)
}

// msPerOp formats t/n in milliseconds.
func msPerOp(t time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(t)/float64(n)/float64(time.Millisecond))
}
