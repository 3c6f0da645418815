package gateway

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Each client is told every gateway's address on the listener it came in on,
// as Kafka's advertised.listeners does: here INTERNAL advertises 127.0.0.1 and
// EXTERNAL the same ports under "localhost".
func TestListenersAdvertisePerName(t *testing.T) {
	b := newBackend(t, 0)
	type gw struct{ internal, external string }
	var gws []gw
	for node := int32(1); node <= 2; node++ {
		var ls []Listener
		var g gw
		for _, name := range []string{"INTERNAL", "EXTERNAL"} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			l := Listener{Name: name, Protocol: Plaintext, Listener: ln}
			if name == "EXTERNAL" {
				l.Advertise = net.JoinHostPort("localhost", strconv.Itoa(port))
				g.external = l.Advertise
			} else {
				g.internal = ln.Addr().String()
			}
			ls = append(ls, l)
		}
		b.gateway(t, serverOpts{listeners: ls}, node, "", true)
		gws = append(gws, g)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokersVia := func(seed string) map[int32]string {
		for {
			// A client of its own each time: one client kept answering
			// from the broker list of its first Metadata response, taken
			// before the second gateway joined, for the whole minute.
			cl, err := kgo.NewClient(kgo.SeedBrokers(seed))
			if err != nil {
				t.Fatal(err)
			}
			m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
			cl.Close()
			if err == nil && len(m.Brokers) == 2 {
				out := map[int32]string{}
				for _, b := range m.Brokers {
					out[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
				}
				return out
			}
			select {
			case <-ctx.Done():
				live, lerr := b.store.Gateways(context.Background())
				t.Fatalf("metadata via %s: %v (%v); the coordinator's live gateways: %+v (%v)", seed, err, m.Brokers, live, lerr)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for seed, want := range map[string]func(gw) string{
		gws[0].internal: func(g gw) string { return g.internal },
		gws[1].external: func(g gw) string { return g.external },
	} {
		got := brokersVia(seed)
		for i, g := range gws {
			node := int32(i + 1)
			if got[node] != want(g) {
				t.Errorf("via %s: node %d at %s, want %s", seed, node, got[node], want(g))
			}
		}
	}
}
