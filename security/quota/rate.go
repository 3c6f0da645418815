package quota

import "time"

// rate is Kafka's Rate over a SampledStat of totals
// (org.apache.kafka.common.metrics.stats): up to n samples, each the total
// recorded during one window that starts at the first value recorded in it.
// Times are nanoseconds since the Unix epoch, so the arithmetic is exact and
// independent of the monotonic clock.
type rate struct {
	window  int64 // nanoseconds
	n       int
	samples []sample // grows to n, then is reused as a ring
	cur     int      // the sample being recorded into
}

type sample struct {
	start int64
	total float64
}

func newRate(window time.Duration, n int) *rate {
	return &rate{window: int64(window), n: n, samples: make([]sample, 0, n)}
}

// record adds v at now, starting a new window when the current one is
// complete (SampledStat.record and advance).
func (r *rate) record(v float64, now int64) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: now})
	}
	if now-r.samples[r.cur].start >= r.window {
		r.cur = (r.cur + 1) % r.n
		if r.cur == len(r.samples) {
			r.samples = append(r.samples, sample{start: now})
		} else {
			r.samples[r.cur] = sample{start: now}
		}
	}
	r.samples[r.cur].total += v
}

// purge resets samples that started n windows or more before now, which no
// longer count (SampledStat.purgeObsoleteSamples).
func (r *rate) purge(now int64) {
	expire := int64(r.n) * r.window
	for i := range r.samples {
		if now-r.samples[i].start >= expire {
			r.samples[i] = sample{start: now}
		}
	}
}

// span is the time the samples cover at now (Rate.windowSize): from the
// oldest sample's start, but never less than n-1 whole windows plus the part
// of the current one elapsed, so that a young sensor's first values do not
// read as a huge rate; and at least a millisecond.
func (r *rate) span(now int64) time.Duration {
	r.purge(now)
	oldest := now
	for _, s := range r.samples {
		oldest = min(oldest, s.start)
	}
	elapsed := now - oldest
	if full := elapsed / r.window; full < int64(r.n-1) {
		elapsed += (int64(r.n-1) - full) * r.window
	}
	return max(time.Duration(elapsed), time.Millisecond)
}

// measure is the rate at now, per second.
func (r *rate) measure(now int64) float64 {
	span := r.span(now)
	var total float64
	for _, s := range r.samples {
		total += s.total
	}
	return total / span.Seconds()
}

// throttle is how long the client must pause for the rate to come back to
// bound (QuotaUtils.throttleTime): (observed-bound)/bound of the span, 0 when
// the rate is within bound, at most limit, to the millisecond.
func (r *rate) throttle(now int64, bound float64, limit time.Duration) time.Duration {
	observed := r.measure(now)
	if observed <= bound {
		return 0
	}
	t := time.Duration((observed - bound) / bound * float64(r.span(now)))
	return min(t, limit).Round(time.Millisecond)
}
