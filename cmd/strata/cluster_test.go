package main

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testenv"
)

// TestGatewayKills runs three gateways (processes) on one NATS server and one
// object store, and under idempotent acks=all load over twelve partitions
// kills a random gateway with SIGKILL every few seconds and restarts it. Every
// acknowledged record must be in the log once, at its acknowledged offset,
// with offsets contiguous: a partition's new leader picks up exactly where the
// old one's last commit left it, and recognises the producer's retries.
func TestGatewayKills(t *testing.T) {
	const (
		topic      = "cluster"
		partitions = 12
		n          = 75_000 // about 15 s of load
		kills      = 4
		lease      = 2 * time.Second
	)
	ns := testenv.NATS(t)
	dir := t.TempDir() // one object store for all
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)}
	args := func(node int) []string {
		return []string{"--nats-url", ns.URL, "--node-id", strconv.Itoa(node + 1), "--gateway-lease", lease.String(), "--flush-interval", "20ms"}
	}
	procs := make([]*process, len(addrs))
	for i, addr := range addrs {
		procs[i] = startProcess(t, dir, addr, args(i)...)
	}
	seeds := strings.Join(addrs, ",")
	createTopic(t, seeds, topic, partitions)

	l := startLoad(t, seeds, topic, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range kills {
		l.waitAcked(t, int64((k+1)*n/(kills+2)))
		i := rng.IntN(len(procs))
		procs[i].kill(t)
		// Down for half a lease (it comes back before the others notice)
		// or for two (its partitions move to the others, then back).
		down := lease / 2
		if k%2 == 1 {
			down = 2 * lease
		}
		t.Logf("kill %d: gateway %d after %d acknowledgements, down for %v", k+1, i+1, l.ackCount.Load(), down)
		time.Sleep(down)
		procs[i] = startProcess(t, dir, addrs[i], args(i)...)
	}
	acks := l.finish(t)
	verifyLog(t, acks, consumeAll(t, seeds, topic, partitions, n))

	// How long partitions went without an acknowledgement: an upper bound
	// on failover time (lease expiry, the others noticing, clients
	// refreshing metadata and retrying), or on a restart when the gateway
	// came back before its lease ran out.
	gaps := l.ackGaps()
	slices.Sort(gaps)
	if len(gaps) > 0 {
		t.Logf("%d records acknowledged through %d kills; %d partition pauses over 100ms: p50 %v, p99 %v, max %v",
			len(acks), kills, len(gaps), gaps[len(gaps)/2], gaps[len(gaps)*99/100], gaps[len(gaps)-1])
	}
}

// ackGaps returns, per partition, the pauses between consecutive
// acknowledgements over a tenth of a second.
func (l *load) ackGaps() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[int32]time.Time{}
	var gaps []time.Duration
	for i, a := range l.acks {
		at := l.ackTimes[i]
		if prev, ok := last[a.partition]; ok {
			if d := at.Sub(prev); d > 100*time.Millisecond {
				gaps = append(gaps, d.Round(10*time.Millisecond))
			}
		}
		last[a.partition] = at
	}
	return gaps
}
