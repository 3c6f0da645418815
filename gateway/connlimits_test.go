package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestConnLimits(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	rates := map[string]float64{"10.0.0.2": 2}
	l := newConnLimits(&Config{MaxConnections: 6, MaxConnectionsPerIP: 2, MaxConnectionsPerIPOverrides: map[netip.Addr]int{c: 0}},
		func(ip string) (float64, bool) { r, ok := rates[ip]; return r, ok })
	now := time.Unix(1_800_000_000, 0)

	for i, want := range []admitReason{admitted, admitted, refusedPerIP} {
		if got := l.admit(a, now); got != want {
			t.Fatalf("connection %d from a: %q, want %q", i, got, want)
		}
	}
	l.release(a)
	if got := l.admit(a, now); got != admitted {
		t.Fatalf("a connection from a after one closed: %q", got)
	}
	if got := l.admit(c, now); got != refusedPerIP {
		t.Fatalf("c, overridden to 0: %q", got)
	}
	// b may open 2 a second: a burst of 2, then one per half second.
	for i, want := range []admitReason{admitted, admitted, refusedCreateRate} {
		if got := l.admit(b, now); got != want {
			t.Fatalf("connection %d from b: %q, want %q", i, got, want)
		}
		if i == 0 {
			l.release(b) // stay under the per-address cap
		}
	}
	l.release(b)
	if got := l.admit(b, now.Add(500*time.Millisecond)); got != admitted {
		t.Fatalf("b half a second later: %q", got)
	}
	// The total cap counts every address.
	l.perIP = 10
	for i := range 3 {
		l.admit(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), now)
	}
	if got := l.admit(netip.MustParseAddr("10.9.9.9"), now); got != refusedTotal {
		t.Fatalf("over MaxConnections: %q (%d open)", got, l.total)
	}
}

// closedByServer reports whether the server closed nc without a request sent.
func closedByServer(t *testing.T, nc net.Conn) bool {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := nc.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || err != nil
}

// Over a real listener: a per-address cap, and a connection_creation_rate
// quota set with kadm on the default ip entity.
func TestConnectionLimitsOverTheWire(t *testing.T) {
	s := startServer(t, serverOpts{configure: func(c *Config) { c.MaxConnectionsPerIP = 4 }})
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	var open []net.Conn
	for range 4 {
		open = append(open, dial())
	}
	for i, nc := range open {
		if closedByServer(t, nc) {
			t.Fatalf("connection %d of 4 closed", i)
		}
	}
	if !closedByServer(t, dial()) {
		t.Fatal("a fifth connection from the same address stayed open")
	}
	open[0].Close()
	time.Sleep(50 * time.Millisecond) // the server notices the close
	if closedByServer(t, dial()) {
		t.Fatal("a connection after one closed was refused")
	}
	for _, nc := range open[1:] {
		nc.Close()
	}
}

func TestConnectionCreationRateQuota(t *testing.T) {
	s := startServer(t, serverOpts{configure: func(c *Config) { c.Quotas = c.Offsets.(QuotaStore) }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(s.client(t))
	rate := 3.0
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "ip"}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: rate}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("set the quota: %v %+v", err, res)
	}
	// The quota reaches the gateway's copy through the coordinator's watch.
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Dial all ten first: checking each waits, which would let the
		// rate refill.
		var conns []net.Conn
		for range 10 {
			nc, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, nc)
		}
		refused := 0
		for _, nc := range conns {
			if closedByServer(t, nc) {
				refused++
			}
			nc.Close()
		}
		if refused >= 5 {
			break // a burst of 3 at most passes, and a little refill
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 connections at once from one address under a %.0f/s quota: %d refused", rate, refused)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A connection that sends nothing for ConnectionsMaxIdle is closed, one that
// keeps sending is not.
func TestConnectionsMaxIdle(t *testing.T) {
	s := startServer(t, serverOpts{configure: func(c *Config) { c.ConnectionsMaxIdle = 300 * time.Millisecond }})
	idle, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("read a byte the server never sent")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle connection stayed open for 5 s")
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("closed after %v, before the idle limit", waited)
	}
	// A client that keeps talking keeps its connection: ApiVersions v0
	// every 150 ms for over a second, all answered on one connection.
	talker, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	for i := range 8 {
		// size 10, api key 18, version 0, correlation id i, null client id
		req := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, byte(i), 0xff, 0xff}
		if _, err := talker.Write(req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		var size [4]byte
		_ = talker.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(talker, size[:]); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if _, err := io.ReadFull(talker, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}
