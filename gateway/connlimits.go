package gateway

// Connection limits, as Kafka's ConnectionQuotas:
//
//   - MaxConnections bounds open connections (max.connections); more are
//     closed on accept.
//   - MaxConnectionsPerIP bounds open connections from one address
//     (max.connections.per.ip, with max.connections.per.ip.overrides); more
//     are closed on accept.
//   - MaxConnectionCreationRate bounds new connections per second on each
//     listener (max.connection.creation.rate, KIP-612): the listener stops
//     accepting for a while, and the kernel's backlog holds the rest.
//   - A connection_creation_rate client quota on an ip entity (or the default
//     ip) bounds new connections per second from that address (KIP-612); as
//     Kafka, connections beyond it are closed at once, so that one address
//     cannot hold up the listener for the others.

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipRateIdle is how long an address's connection-rate state outlives its
// last connection.
const ipRateIdle = time.Hour

// maxIPRates bounds the addresses whose connection rate is tracked; beyond
// it idle ones are dropped, then any.
const maxIPRates = 100_000

// connLimits counts connections against the limits above.
type connLimits struct {
	max       int
	perIP     int
	overrides map[netip.Addr]int
	// ipQuota returns an address's connection_creation_rate quota; nil
	// without client quotas.
	ipQuota func(ip string) (float64, bool)

	mu    sync.Mutex
	total int
	open  map[netip.Addr]int
	rates map[netip.Addr]*ipRate
}

type ipRate struct {
	lim      *rate.Limiter
	perSec   float64
	lastSeen time.Time
}

func newConnLimits(cfg *Config, ipQuota func(string) (float64, bool)) *connLimits {
	return &connLimits{
		max: cfg.MaxConnections, perIP: cfg.MaxConnectionsPerIP, overrides: cfg.MaxConnectionsPerIPOverrides,
		ipQuota: ipQuota, open: map[netip.Addr]int{}, rates: map[netip.Addr]*ipRate{},
	}
}

// admitReason says why a connection was refused, for the metric's label.
type admitReason string

const (
	admitted          admitReason = ""
	refusedTotal      admitReason = "max_connections"
	refusedPerIP      admitReason = "max_connections_per_ip"
	refusedCreateRate admitReason = "connection_creation_rate"
)

// admit counts a new connection from addr, or says why it must be closed.
func (l *connLimits) admit(addr netip.Addr, now time.Time) admitReason {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return refusedTotal
	}
	limit, ok := l.overrides[addr]
	if !ok {
		limit = l.perIP
	}
	if limit > 0 && l.open[addr] >= limit || ok && limit == 0 {
		return refusedPerIP
	}
	if !l.allowRate(addr, now) {
		return refusedCreateRate
	}
	l.total++
	l.open[addr]++
	return admitted
}

// allowRate takes one connection from addr's connection_creation_rate.
func (l *connLimits) allowRate(addr netip.Addr, now time.Time) bool {
	if l.ipQuota == nil {
		return true
	}
	perSec, ok := l.ipQuota(addr.String())
	if !ok {
		delete(l.rates, addr)
		return true
	}
	r := l.rates[addr]
	if r == nil || r.perSec != perSec {
		if len(l.rates) >= maxIPRates {
			l.evictRates(now)
		}
		// A burst of one second's worth, as Kafka's rate over its
		// sample windows allows.
		r = &ipRate{lim: rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec))), perSec: perSec}
		l.rates[addr] = r
	}
	r.lastSeen = now
	return r.lim.AllowN(now, 1)
}

func (l *connLimits) evictRates(now time.Time) {
	for a, r := range l.rates {
		if now.Sub(r.lastSeen) > ipRateIdle || len(l.rates) >= maxIPRates {
			delete(l.rates, a)
		}
	}
}

// release uncounts a connection admitted from addr.
func (l *connLimits) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
}

// remoteAddr is a connection's client address, unmapped from IPv4-in-IPv6.
func remoteAddr(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// acceptRate paces a listener's accepts to MaxConnectionCreationRate; nil
// when unbounded.
func newAcceptRate(perSec float64) *rate.Limiter {
	if perSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec)))
}

// waitAccept blocks until the listener may accept another connection.
func waitAccept(ctx context.Context, r *rate.Limiter) error {
	if r == nil {
		return nil
	}
	return r.Wait(ctx)
}
