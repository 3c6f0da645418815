package quota

import (
	"maps"
	"math"
	"sync"
	"time"
)

// Defaults for Config's zero values.
const (
	// DefaultWindow is Kafka's quota.window.size.seconds.
	DefaultWindow = time.Second
	// DefaultSamples is Kafka's quota.window.num.
	DefaultSamples = 11
	// DefaultIdleExpiry is how long a sensor lives without a Record:
	// Kafka's ClientQuotaManager.InactiveSensorExpirationTimeSeconds.
	DefaultIdleExpiry = time.Hour
	// DefaultMaxSensors bounds the sensors kept: each takes a few hundred
	// bytes, so this is some tens of MiB at most.
	DefaultMaxSensors = 100_000
)

// sweepInterval is how often Record looks for idle sensors: often enough that
// expired ones do not pile up, rarely enough that the walk over all sensors
// (under the lock) costs nothing on average.
const sweepInterval = time.Minute

// Type is a quota the Limiter enforces.
type Type uint8

const (
	// Produce is producer_byte_rate: the bytes of produce requests.
	Produce Type = iota
	// Fetch is consumer_byte_rate: the bytes of fetch responses.
	Fetch
	// Request is request_percentage: time serving requests, recorded with
	// RecordTime.
	Request
)

// Key is the quota key that configures t.
func (t Type) Key() string {
	switch t {
	case Produce:
		return ProducerByteRate
	case Fetch:
		return ConsumerByteRate
	default:
		return RequestPercentage
	}
}

// Config configures a Limiter. Zero values mean the defaults.
type Config struct {
	// Window is the length of one sample window
	// (quota.window.size.seconds). Default 1 s.
	Window time.Duration
	// Samples is the number of windows a rate spans (quota.window.num).
	// Default 11; at least 2.
	Samples int
	// IdleExpiry drops a sensor not recorded into for this long. Default
	// 1 hour.
	IdleExpiry time.Duration
	// MaxSensors caps the sensors kept. Default 100000.
	MaxSensors int
}

// Limiter holds the configured quotas and measures each client's rates
// against them. Its methods are safe for concurrent use, and take the time
// as an argument.
type Limiter struct {
	cfg Config

	mu        sync.Mutex
	quotas    map[Entity]Values
	sensors   map[sensorKey]*sensor
	lastSweep int64
}

// sensorKey names one rate: a quota type and the entity measured (see
// sensorEntity).
type sensorKey struct {
	t Type
	e Entity
}

type sensor struct {
	rate     *rate
	lastUsed int64
}

// New returns a Limiter with no quotas.
func New(cfg Config) *Limiter {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Samples < 2 {
		cfg.Samples = DefaultSamples
	}
	if cfg.IdleExpiry <= 0 {
		cfg.IdleExpiry = DefaultIdleExpiry
	}
	if cfg.MaxSensors <= 0 {
		cfg.MaxSensors = DefaultMaxSensors
	}
	return &Limiter{cfg: cfg, quotas: map[Entity]Values{}, sensors: map[sensorKey]*sensor{}}
}

// Set replaces e's quotas; empty values remove them.
func (l *Limiter) Set(e Entity, v Values) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(v) == 0 {
		delete(l.quotas, e)
		return
	}
	l.quotas[e] = maps.Clone(v)
}

// Replace replaces every quota with all.
func (l *Limiter) Replace(all map[Entity]Values) {
	next := make(map[Entity]Values, len(all))
	for e, v := range all {
		if len(v) > 0 {
			next[e] = maps.Clone(v)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quotas = next
}

// Quotas returns a copy of the configured quotas.
func (l *Limiter) Quotas() map[Entity]Values {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[Entity]Values, len(l.quotas))
	for e, v := range l.quotas {
		out[e] = maps.Clone(v)
	}
	return out
}

// ConnectionRate returns the connection_creation_rate that applies to
// connections from ip: its own, else the default IP entity's; ok is false
// when neither has one.
func (l *Limiter) ConnectionRate(ip string) (perSecond float64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range [2]Entity{{IP: Named(ip)}, {IP: Default()}} {
		if v, ok := l.quotas[e][ConnectionCreationRate]; ok {
			return v, true
		}
	}
	return 0, false
}

// Resolve returns the quota of type t that applies to (user, clientID) and
// the entity it is configured on, by Kafka's precedence; ok is false when
// none does.
func (l *Limiter) Resolve(t Type, user, clientID string) (bound float64, from Entity, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resolve(t, user, clientID)
}

func (l *Limiter) resolve(t Type, user, clientID string) (float64, Entity, bool) {
	if len(l.quotas) == 0 {
		return 0, Entity{}, false
	}
	key := t.Key()
	for _, e := range precedence(user, clientID) {
		if v, ok := l.quotas[e][key]; ok {
			return v, e, true
		}
	}
	return 0, Entity{}, false
}

// Record adds value (bytes for Produce and Fetch) to the rate of (user,
// clientID) under its quota of type t, and returns how long the client must
// now pause: 0 while within the quota or without one. Byte-rate throttles are
// capped at the span of all windows.
func (l *Limiter) Record(t Type, user, clientID string, value float64, now time.Time) time.Duration {
	limit := time.Duration(l.cfg.Samples) * l.cfg.Window
	if t == Request {
		limit = l.cfg.Window
	}
	return l.record(t, user, clientID, value, now, limit)
}

// RecordTime adds d, time spent serving a request of (user, clientID), to its
// request_percentage rate as Kafka counts it (percent-seconds, so the rate is
// a percentage of one thread), and returns the throttle, capped at one
// window as Kafka's ClientRequestQuotaManager caps it.
func (l *Limiter) RecordTime(user, clientID string, d time.Duration, now time.Time) time.Duration {
	return l.Record(Request, user, clientID, d.Seconds()*100, now)
}

// Unrecord takes value back out of a rate, for a response that was
// recorded and then not sent (Kafka's unrecordQuotaSensor, for fetches
// answered empty because they were throttled).
func (l *Limiter) Unrecord(t Type, user, clientID string, value float64, now time.Time) {
	l.record(t, user, clientID, -value, now, 0)
}

func (l *Limiter) record(t Type, user, clientID string, value float64, now time.Time, limit time.Duration) time.Duration {
	ns := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	bound, from, ok := l.resolve(t, user, clientID)
	if !ok {
		return 0
	}
	s := l.sensor(sensorKey{t: t, e: sensorEntity(from, user, clientID)}, ns)
	s.rate.record(value, ns)
	if value <= 0 {
		return 0
	}
	return s.rate.throttle(ns, bound, limit)
}

// MaxInWindow is the most a client may take of quota t within one quota
// span, (Samples-1)×Window at its rate: Kafka caps a fetch's max bytes to it
// (getMaxValueInQuotaWindow) so that one response cannot overshoot the quota
// by more than the rate allows. ok is false without a quota.
func (l *Limiter) MaxInWindow(t Type, user, clientID string) (float64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	bound, _, ok := l.resolve(t, user, clientID)
	if !ok {
		return math.Inf(1), false
	}
	return bound * float64(l.cfg.Samples-1) * l.cfg.Window.Seconds(), true
}

// Sensors returns how many sensors are kept.
func (l *Limiter) Sensors() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sensors)
}

// sensor returns k's sensor, creating it, after dropping idle sensors when a
// sweep is due and an arbitrary one when at the cap (not sweeping then: a
// client making up client ids would make every request a walk over all
// sensors). l.mu is held.
func (l *Limiter) sensor(k sensorKey, now int64) *sensor {
	if now-l.lastSweep >= int64(sweepInterval) {
		l.sweep(now)
	}
	s, ok := l.sensors[k]
	if !ok {
		for victim := range l.sensors {
			if len(l.sensors) < l.cfg.MaxSensors {
				break
			}
			// Map order is unspecified: this drops an arbitrary
			// sensor, costing its client only its recent history.
			delete(l.sensors, victim)
		}
		s = &sensor{rate: newRate(l.cfg.Window, l.cfg.Samples)}
		l.sensors[k] = s
	}
	s.lastUsed = now
	return s
}

// sweep drops sensors idle for IdleExpiry. l.mu is held.
func (l *Limiter) sweep(now int64) {
	l.lastSweep = now
	for k, s := range l.sensors {
		if now-s.lastUsed >= int64(l.cfg.IdleExpiry) {
			delete(l.sensors, k)
		}
	}
}
