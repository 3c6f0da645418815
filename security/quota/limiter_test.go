package quota

import (
	"math"
	"testing"
	"time"
)

// at is a fixed instant plus an offset, the clock of these tests.
func at(d time.Duration) time.Time { return time.Unix(1_700_000_000, 0).Add(d) }

// TestRateWindows follows one rate through Kafka's sampling: the first
// values are spread over n-1 assumed windows, a value after a full window
// opens a new sample, and samples older than n windows stop counting.
func TestQuotaRateWindows(t *testing.T) {
	r := newRate(time.Second, 11)
	ns := func(d time.Duration) int64 { return at(d).UnixNano() }
	steps := []struct {
		at     time.Duration
		record float64
		span   time.Duration
		rate   float64
	}{
		// One sample at 0: the span is the 10 assumed whole windows.
		{0, 100, 10 * time.Second, 10},
		// A second sample 2.5 s in: 2.5 s elapsed, 2 whole windows,
		// plus the 8 missing ones.
		{2500 * time.Millisecond, 100, 10500 * time.Millisecond, 200 / 10.5},
		// At 12 s the first sample is 11 windows old and is dropped;
		// the oldest left started at 2.5 s: 9.5 s, 9 windows + 1.
		{12 * time.Second, 0, 10500 * time.Millisecond, 100 / 10.5},
		// At 14 s both are gone; the oldest is the reset one at 12 s.
		{14 * time.Second, 0, 10 * time.Second, 0},
	}
	for _, s := range steps {
		if s.record != 0 {
			r.record(s.record, ns(s.at))
		}
		if got := r.span(ns(s.at)); got != s.span {
			t.Errorf("at %v: span %v, want %v", s.at, got, s.span)
		}
		if got := r.measure(ns(s.at)); math.Abs(got-s.rate) > 1e-9 {
			t.Errorf("at %v: rate %v, want %v", s.at, got, s.rate)
		}
	}
}

// TestThrottle checks KIP-219's throttle, (O-Q)/Q of the span, and its caps.
func TestQuotaThrottle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   Type
		bound float64
		value float64
		want  time.Duration
	}{
		// 500 bytes over the 10 s span: 50 B/s, within 100 B/s.
		{"within", Produce, 100, 500, 0},
		{"at the quota", Produce, 100, 1000, 0},
		// 2000 bytes: 200 B/s; (200-100)/100 × 10 s.
		{"over", Produce, 100, 2000, 10 * time.Second},
		// 1500 bytes: 150 B/s; 0.5 × 10 s.
		{"half over", Fetch, 100, 1500, 5 * time.Second},
		// 5000 bytes: 40 s, capped at the 11 windows.
		{"capped", Produce, 100, 5000, 11 * time.Second},
		// Request time: 2 s of handling over a 10 s span is 20% of a
		// thread; with a 10% quota, 10 s, capped at one window.
		{"request capped", Request, 10, 200, time.Second},
		// 1.05 s of handling is 10.5%: 0.05 × 10 s.
		{"request", Request, 10, 105, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := New(Config{})
			l.Set(Entity{User: Default()}, Values{tc.typ.Key(): tc.bound})
			var got time.Duration
			if tc.typ == Request {
				got = l.RecordTime("alice", "app", time.Duration(tc.value/100*float64(time.Second)), at(0))
			} else {
				got = l.Record(tc.typ, "alice", "app", tc.value, at(0))
			}
			if got != tc.want {
				t.Fatalf("throttle %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoQuotaNoSensor checks that clients without a quota are never
// throttled and cost no memory.
func TestQuotaNoQuotaNoSensor(t *testing.T) {
	l := New(Config{})
	l.Set(Entity{User: Named("bob")}, Values{ProducerByteRate: 1})
	if d := l.Record(Produce, "alice", "app", 1e9, at(0)); d != 0 {
		t.Fatalf("throttle %v without a quota", d)
	}
	if n := l.Sensors(); n != 0 {
		t.Fatalf("%d sensors, want 0", n)
	}
}

// TestSharedDefaultSeparateRates checks that users under one default quota
// are measured separately: alice going over does not throttle bob.
func TestQuotaSharedDefaultSeparateRates(t *testing.T) {
	l := New(Config{})
	l.Set(Entity{User: Default()}, Values{ProducerByteRate: 100})
	if d := l.Record(Produce, "alice", "app", 5000, at(0)); d == 0 {
		t.Fatal("alice is not throttled at 5x her quota")
	}
	if d := l.Record(Produce, "bob", "app", 500, at(0)); d != 0 {
		t.Fatalf("bob throttled %v within his own quota", d)
	}
	if n := l.Sensors(); n != 2 {
		t.Fatalf("%d sensors, want 2", n)
	}
}

// TestSteadyRate simulates a client that sends as fast as it may, pausing for
// every throttle as KIP-219 clients do, and checks that its rate converges
// to the quota.
func TestQuotaSteadyRate(t *testing.T) {
	const quota, chunk = 1000.0, 300.0
	l := New(Config{})
	l.Set(Entity{ClientID: Named("app")}, Values{ProducerByteRate: quota})
	var now time.Duration
	var sent float64
	const from, to = 30 * time.Second, 130 * time.Second
	for now < to {
		d := l.Record(Produce, "ANONYMOUS", "app", chunk, at(now))
		if now >= from {
			sent += chunk
		}
		now += d + time.Millisecond // the next request follows the pause
	}
	got := sent / (to - from).Seconds()
	if math.Abs(got-quota)/quota > 0.05 {
		t.Fatalf("steady rate %.0f B/s, want within 5%% of %.0f", got, quota)
	}
}

func TestQuotaUnrecord(t *testing.T) {
	l := New(Config{})
	l.Set(Entity{ClientID: Default()}, Values{ConsumerByteRate: 100})
	if d := l.Record(Fetch, "u", "c", 2000, at(0)); d != 10*time.Second {
		t.Fatalf("throttle %v, want 10s", d)
	}
	l.Unrecord(Fetch, "u", "c", 2000, at(0))
	if d := l.Record(Fetch, "u", "c", 500, at(0)); d != 0 {
		t.Fatalf("throttle %v after the response was taken back, want 0", d)
	}
}

func TestQuotaMaxInWindow(t *testing.T) {
	l := New(Config{})
	if _, ok := l.MaxInWindow(Fetch, "u", "c"); ok {
		t.Fatal("a limit without a quota")
	}
	l.Set(Entity{User: Named("u")}, Values{ConsumerByteRate: 1000})
	if got, ok := l.MaxInWindow(Fetch, "u", "c"); !ok || got != 10000 {
		t.Fatalf("MaxInWindow = %v, %v; want 10000", got, ok)
	}
}

// TestSensorExpiry checks that a sensor idle for IdleExpiry goes, so its
// client starts afresh, and that one in use stays.
func TestQuotaSensorExpiry(t *testing.T) {
	l := New(Config{})
	l.Set(Entity{User: Default()}, Values{ProducerByteRate: 100})
	l.Record(Produce, "idle", "c", 5000, at(0))
	l.Record(Produce, "busy", "c", 1, at(0))
	for m := time.Minute; m <= 61*time.Minute; m += time.Minute {
		l.Record(Produce, "busy", "c", 1, at(m))
	}
	if n := l.Sensors(); n != 1 {
		t.Fatalf("%d sensors after an hour, want 1 (the busy one)", n)
	}
	if d := l.Record(Produce, "idle", "c", 500, at(62*time.Minute)); d != 0 {
		t.Fatalf("the returning client is throttled %v by its old rate", d)
	}
}

// TestMaxSensors checks that client ids made up without end do not grow the
// sensors past the cap.
func TestQuotaMaxSensors(t *testing.T) {
	l := New(Config{MaxSensors: 100})
	l.Set(Entity{ClientID: Default()}, Values{ProducerByteRate: 100})
	for i := range 1000 {
		l.Record(Produce, "u", string(rune('a'+i%26))+string(rune(i)), 1, at(time.Duration(i)*time.Millisecond))
	}
	if n := l.Sensors(); n != 100 {
		t.Fatalf("%d sensors, want the cap of 100", n)
	}
}

func TestQuotaReplace(t *testing.T) {
	l := New(Config{})
	l.Set(Entity{User: Named("a")}, Values{ProducerByteRate: 1})
	l.Replace(map[Entity]Values{{User: Named("b")}: {ProducerByteRate: 2}, {User: Named("c")}: {}})
	got := l.Quotas()
	if len(got) != 1 || got[Entity{User: Named("b")}][ProducerByteRate] != 2 {
		t.Fatalf("Quotas after Replace = %v", got)
	}
}
