package gateway

// Client quotas: DescribeClientQuotas v0-v1, AlterClientQuotas v0-v1, and
// their enforcement.
//
// Behavior:
//   - Quotas are Kafka's (KIP-13, KIP-55, KIP-124, KIP-546): per user, client
//     id, or both, each a name or <default>, resolved by Kafka's precedence
//     (security/quota), and per IP address. They are stored in the
//     coordinator (Config.Quotas), so every gateway enforces the same ones;
//     each gateway keeps a copy current through a watch (quotaEnforcer.run)
//     and measures its own connections, as each Kafka broker does.
//   - DescribeClientQuotas reads the coordinator, so it sees every alter at
//     once, on any gateway; it matches as Kafka's ClientQuotasImage does
//     (MATCH_TYPE_SPECIFIED matches defaults too, strict with no components
//     matches nothing). A bad filter is INVALID_REQUEST, an unknown entity
//     type UNSUPPORTED_VERSION, in the top-level error with Kafka's message.
//   - AlterClientQuotas validates as Kafka's ClientQuotaControlManager:
//     known entity types given once, no empty names, user and/or client-id
//     or ip alone, known keys for the entity (connection_creation_rate only
//     on ip), values above zero and whole for long/int keys, each key once
//     per entity: otherwise INVALID_REQUEST with Kafka's message and nothing
//     of that entity changed. Removing a key the entity does not have is not
//     an error. validate_only checks without writing. Each entity is one
//     compare-and-swap; entities of one request are not atomic together, and
//     a later entry naming an entity already in the request is refused
//     ("Ignoring duplicate entity").
//   - Enforcement (KIP-219): producer_byte_rate counts produce request
//     frames, consumer_byte_rate the record bytes of fetch responses,
//     request_percentage the time from a request's frame being read to its
//     in-order part being done (decoding, validation, and a produce's
//     append). A request over a quota is still served; its response carries
//     throttle_time_ms (the largest of the throttles) and the connection
//     reads nothing more until then. A fetch over consumer_byte_rate is
//     answered empty, with the throttle, and its bytes are not counted, as
//     Kafka does; a fetch's max_bytes is capped at what the quota allows in
//     one quota window (Kafka's getMaxValueInQuotaWindow).
//   - Exempt from request_percentage: ApiVersions, SaslHandshake,
//     SaslAuthenticate (Kafka serves those outside its request handlers) and
//     WriteTxnMarkers (only gateways send it, as brokers' cluster actions
//     are exempt in Kafka).
//
// Deviations:
//   - Without Config.Quotas both APIs answer UNSUPPORTED_VERSION with a
//     message (a Kafka broker always has quotas); nothing is enforced.
//   - request_percentage counts the in-order part only: a produce's wait for
//     durability and a fetch's read and long poll run in the reply
//     goroutine, which mostly waits on the WAL, the object store or new
//     data, none of it a handler thread's time as Kafka counts it. So fetch
//     requests cost little request time.
//   - ip connection_creation_rate is enforced on accept (connlimits.go);
//     controller_mutation_rate is stored and described, not enforced. ip names must be addresses; Kafka also
//     resolves host names.
//   - A request read before a throttle was decided (clients pipeline up to
//     five) is served at once; the mute holds back the ones after it. For
//     responses of versions before KIP-219 (e.g. Produce v3-v5) Kafka delays
//     the response instead; Strata answers at once and mutes.
//   - Byte-rate throttles are capped at the span of all quota windows (11 s
//     by default), request throttles at one window.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/security/quota"
)

// QuotaStore keeps the cluster's client quotas; coordinator.Store implements
// it. AlterClientQuota is a compare-and-swap that calls fn again after a lost
// race; WatchClientQuotas delivers every stored entity, a Synced event, then
// changes, until ctx ends (nil) or the watch fails (an error).
type QuotaStore interface {
	ClientQuotas(ctx context.Context) ([]coordinator.ClientQuota, error)
	AlterClientQuota(ctx context.Context, entity coordinator.QuotaEntity, fn func(values map[string]float64) error) (map[string]float64, error)
	WatchClientQuotas(ctx context.Context, fn func(coordinator.QuotaEvent)) error
}

var _ QuotaStore = (*coordinator.Store)(nil)

// quotaWatchRetry is the pause before watching the quotas again after the
// watch failed (NATS unreachable): long enough not to spin, short enough
// that quotas are current again soon after NATS is back.
const quotaWatchRetry = time.Second

// errNoQuotaStore answers the quota APIs of a gateway without Config.Quotas.
var errNoQuotaStore = errors.New("client quotas are not enabled on this gateway")

// quotaEnforcer applies the cluster's client quotas to this gateway's
// connections: limits holds the quotas (kept current by run) and the rates.
type quotaEnforcer struct {
	store  QuotaStore
	limits *quota.Limiter
	log    *slog.Logger
	// throttles and throttled count throttled responses and their
	// throttle time, by quota type.
	throttles [3]prometheus.Counter
	throttled [3]prometheus.Counter
}

// newQuotaEnforcer builds the enforcement of cfg.Quotas; cfg's defaults are
// already filled. Metrics are registered here, since they exist only with
// quotas.
func newQuotaEnforcer(cfg *Config) *quotaEnforcer {
	q := &quotaEnforcer{
		store:  cfg.Quotas,
		limits: quota.New(quota.Config{Window: cfg.QuotaWindow, Samples: cfg.QuotaWindows}),
		log:    cfg.Logger,
	}
	f := promauto.With(cfg.Registerer)
	throttles := f.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_gateway_quota_throttles_total",
		Help: "Responses throttled by a client quota (KIP-219), by quota.",
	}, []string{"quota"})
	throttled := f.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_gateway_quota_throttle_seconds_total",
		Help: "Throttle time imposed by client quotas, by quota.",
	}, []string{"quota"})
	for _, t := range []quota.Type{quota.Produce, quota.Fetch, quota.Request} {
		q.throttles[t] = throttles.WithLabelValues(t.Key())
		q.throttled[t] = throttled.WithLabelValues(t.Key())
	}
	return q
}

// run keeps limits current with the stored quotas until ctx ends, watching
// again after a failure.
func (q *quotaEnforcer) run(ctx context.Context) {
	for {
		err := q.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		q.log.Warn("client quota watch failed, retrying", "err", err, "delay", quotaWatchRetry)
		t := time.NewTimer(quotaWatchRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// watch runs one watch: the stored records are gathered and replace limits'
// quotas at once on the synced mark (so a quota removed while the watch was
// down goes too), and changes after it are applied one by one.
func (q *quotaEnforcer) watch(ctx context.Context) error {
	initial := map[quota.Entity]quota.Values{}
	return q.store.WatchClientQuotas(ctx, func(ev coordinator.QuotaEvent) {
		if ev.Synced {
			q.limits.Replace(initial)
			initial = nil
			return
		}
		e, err := quotaEntity(ev.Entity)
		if err != nil {
			q.log.Warn("ignoring stored client quota", "entity", ev.Entity, "err", err)
			return
		}
		switch {
		case initial == nil:
			q.limits.Set(e, ev.Values)
		case ev.Values == nil:
			delete(initial, e)
		default:
			initial[e] = ev.Values
		}
	})
}

// quotaEntity converts a stored entity, checking it as an alter would.
func quotaEntity(ce coordinator.QuotaEntity) (quota.Entity, error) {
	var e quota.Entity
	for _, c := range ce {
		if err := e.Add(c.Type, c.Name); err != nil {
			return quota.Entity{}, err
		}
	}
	return e, e.Validate()
}

func storeEntity(e quota.Entity) coordinator.QuotaEntity {
	var ce coordinator.QuotaEntity
	for _, c := range e.Components() {
		ce = append(ce, coordinator.QuotaComponent{Type: c.Type, Name: c.Name})
	}
	return ce
}

// quotaError returns the code and message for a quota API error: Kafka's
// message alone for a refused entity, filter or value.
func quotaError(err error) (int16, *string) {
	var code *kerr.Error
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, quota.ErrInvalid):
		code = kerr.InvalidRequest
	case errors.Is(err, quota.ErrUnsupported), errors.Is(err, errNoQuotaStore):
		code = kerr.UnsupportedVersion
	case errors.Is(err, coordinator.ErrTooLarge):
		// Only a very long user or client id makes a key too large:
		// the client's input, not the store's failure.
		code = kerr.InvalidRequest
	default:
		return errorCode(err), errorMessage(err)
	}
	msg := err.Error()
	for _, prefix := range []string{quota.ErrInvalid.Error() + ": ", quota.ErrUnsupported.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return code.Code, &msg
}

func (s *Server) handleDescribeClientQuotas(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	// As Kafka: quotas are the cluster's configs.
	if !s.authorizeCluster(ctx, c, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp), nil
	}
	entries, err := s.describeClientQuotas(ctx, req)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = quotaError(err)
		s.cfg.Logger.Debug("describe client quotas refused", "remote", c.remote, "err", err)
		return respond(resp), nil
	}
	resp.Entries = entries
	return respond(resp), nil
}

func (s *Server) describeClientQuotas(ctx context.Context, req *kmsg.DescribeClientQuotasRequest) ([]kmsg.DescribeClientQuotasResponseEntry, error) {
	if s.cfg.Quotas == nil {
		return nil, errNoQuotaStore
	}
	comps := make([]quota.FilterComponent, 0, len(req.Components))
	for _, rc := range req.Components {
		comps = append(comps, quota.FilterComponent{Type: rc.EntityType, Match: quota.MatchType(rc.MatchType), Name: rc.Match})
	}
	filter, err := quota.NewFilter(comps, req.Strict)
	if err != nil {
		return nil, err
	}
	stored, err := s.cfg.Quotas.ClientQuotas(ctx)
	if err != nil {
		return nil, err
	}
	entries := []kmsg.DescribeClientQuotasResponseEntry{}
	for _, cq := range stored {
		e, err := quotaEntity(cq.Entity)
		if err != nil || !filter.Matches(e) {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, comp := range e.Components() {
			ee := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = comp.Type, comp.Name
			entry.Entity = append(entry.Entity, ee)
		}
		for _, k := range slices.Sorted(maps.Keys(cq.Values)) {
			ev := kmsg.NewDescribeClientQuotasResponseEntryValue()
			ev.Key, ev.Value = k, cq.Values[k]
			entry.Values = append(entry.Values, ev)
		}
		entries = append(entries, entry)
	}
	return entries, nil
}

func (s *Server) handleAlterClientQuotas(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	allowed := s.authorizeCluster(ctx, c, kmsg.ACLOperationAlterConfigs)
	seen := map[quota.Entity]bool{}
	for _, re := range req.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		for _, e := range re.Entity {
			oe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			oe.Type, oe.Name = e.Type, e.Name
			out.Entity = append(out.Entity, oe)
		}
		if !allowed {
			out.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Entries = append(resp.Entries, out)
			continue
		}
		err := s.alterClientQuota(ctx, re, req.ValidateOnly, seen)
		if err != nil {
			s.cfg.Logger.Debug("alter client quotas refused", "remote", c.remote, "err", err)
		}
		out.ErrorCode, out.ErrorMessage = quotaError(err)
		resp.Entries = append(resp.Entries, out)
	}
	return respond(resp), nil
}

// alterClientQuota validates one entry and, unless validateOnly, applies it;
// seen holds the entities of the request's earlier entries.
func (s *Server) alterClientQuota(ctx context.Context, re kmsg.AlterClientQuotasRequestEntry, validateOnly bool, seen map[quota.Entity]bool) error {
	if s.cfg.Quotas == nil {
		return errNoQuotaStore
	}
	var e quota.Entity
	for _, c := range re.Entity {
		if err := e.Add(c.Type, c.Name); err != nil {
			return err
		}
	}
	if err := e.Validate(); err != nil {
		return err
	}
	if seen[e] {
		return fmt.Errorf("%w: Ignoring duplicate entity %s", quota.ErrInvalid, e)
	}
	seen[e] = true
	ops := make(map[string]kmsg.AlterClientQuotasRequestEntryOp, len(re.Ops))
	for _, op := range re.Ops {
		if _, dup := ops[op.Key]; dup {
			return fmt.Errorf("%w: Duplicate quota key %s not updating quota for this entity %s", quota.ErrInvalid, op.Key, e)
		}
		if !op.Remove {
			if err := quota.ValidateValue(e, op.Key, op.Value); err != nil {
				return err
			}
		}
		ops[op.Key] = op
	}
	if validateOnly || len(ops) == 0 {
		return nil
	}
	_, err := s.cfg.Quotas.AlterClientQuota(ctx, storeEntity(e), func(values map[string]float64) error {
		for k, op := range ops {
			if op.Remove {
				delete(values, k)
			} else {
				values[k] = op.Value
			}
		}
		return nil
	})
	return err
}

// quotaClient is who a request's quotas are counted against: the user name
// of the connection's principal (the name after its type, "User:alice" →
// "alice", as Kafka takes KafkaPrincipal.getName; ANONYMOUS before a login)
// and the request's client id. It is taken on the read loop, which owns
// conn.clientID, and carried to the reply goroutine.
type quotaClient struct {
	user, clientID string
}

func (c *conn) quotaClient() quotaClient {
	p := c.Principal()
	if _, name, ok := strings.Cut(p, ":"); ok {
		p = name
	}
	return quotaClient{user: p, clientID: c.clientID}
}

// record counts value against id's quota of type t and returns the throttle.
func (q *quotaEnforcer) record(t quota.Type, id quotaClient, value float64, now time.Time) time.Duration {
	d := q.limits.Record(t, id.user, id.clientID, value, now)
	q.count(t, d)
	return d
}

func (q *quotaEnforcer) count(t quota.Type, d time.Duration) {
	if d > 0 {
		q.throttles[t].Inc()
		q.throttled[t].Add(d.Seconds())
	}
}

// recordProduce counts a produce request of frameBytes and returns the
// throttle; 0 without quotas.
func (s *Server) recordProduce(id quotaClient, frameBytes int, now time.Time) time.Duration {
	q := s.quotas
	if q == nil {
		return 0
	}
	return q.record(quota.Produce, id, float64(frameBytes), now)
}

// recordRequestTime counts d of request time for a request of api key and
// returns the throttle; 0 without quotas or for an exempt key.
func (s *Server) recordRequestTime(id quotaClient, key int16, d time.Duration, now time.Time) time.Duration {
	q := s.quotas
	if q == nil {
		return 0
	}
	switch kmsg.Key(key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate, kmsg.WriteTxnMarkers:
		return 0
	}
	t := q.limits.RecordTime(id.user, id.clientID, d, now)
	q.count(quota.Request, t)
	return t
}

// capFetch lowers a fetch's max_bytes to what id's consumer_byte_rate allows
// in one quota window, so a single response cannot take many windows' worth
// (Kafka's getMaxValueInQuotaWindow). A fetch's first batch may still go
// over (KIP-74).
func (s *Server) capFetch(id quotaClient, req *kmsg.FetchRequest) {
	q := s.quotas
	if q == nil {
		return
	}
	limit, ok := q.limits.MaxInWindow(quota.Fetch, id.user, id.clientID)
	if !ok {
		return
	}
	capped := int32(min(max(limit, 1), float64(1<<31-1)))
	if req.MaxBytes <= 0 || req.MaxBytes > capped {
		req.MaxBytes = capped
	}
}

// throttleFetch counts a fetch response's record bytes against id's
// consumer_byte_rate. Within the quota it returns resp and 0. Over it, as
// Kafka, it takes the bytes back out (they are not sent) and returns an
// empty response carrying the throttle, and the throttle.
func (s *Server) throttleFetch(id quotaClient, resp *kmsg.FetchResponse, now time.Time) (*kmsg.FetchResponse, time.Duration) {
	q := s.quotas
	if q == nil {
		return resp, 0
	}
	n := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			n += len(p.RecordBatches)
		}
	}
	d := q.record(quota.Fetch, id, float64(n), now)
	if d == 0 {
		return resp, 0
	}
	q.limits.Unrecord(quota.Fetch, id.user, id.clientID, float64(n), now)
	empty := kmsg.NewPtrFetchResponse()
	empty.Version = resp.Version
	empty.ErrorCode, empty.SessionID = resp.ErrorCode, resp.SessionID
	empty.ThrottleMillis = throttleMillis(d)
	return empty, d
}

func throttleMillis(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), 1<<31-1))
}

// addThrottle raises resp's throttle_time_ms to d, for the response types
// that have one.
func addThrottle(resp kmsg.Response, d time.Duration) {
	r, ok := resp.(interface {
		kmsg.ThrottleResponse
		kmsg.SetThrottleResponse
	})
	if !ok || d <= 0 {
		return
	}
	if cur, _ := r.Throttle(); throttleMillis(d) > cur {
		r.SetThrottle(throttleMillis(d))
	}
}

// startQuota is start under the client quotas: it caps a fetch to its quota,
// runs the in-order part, counts the request's time (since started, when its
// frame was read) and a produce's frameBytes, and mutes the connection for
// the throttle (mute is the connection's). The reply it returns counts a
// fetch's response and carries the largest throttle in throttle_time_ms.
func (c *conn) startQuota(ctx context.Context, a api, req kmsg.Request, frameBytes int, started time.Time, mute *throttleUntil) (reply, error) {
	s := c.s
	if s.quotas == nil {
		return c.start(ctx, a, req)
	}
	id := c.quotaClient()
	if f, ok := req.(*kmsg.FetchRequest); ok {
		s.capFetch(id, f)
	}
	rep, err := c.start(ctx, a, req)
	if err != nil {
		return nil, err
	}
	now := s.now()
	throttle := s.recordRequestTime(id, a.key, now.Sub(started), now)
	if a.key == produceKey {
		throttle = max(throttle, s.recordProduce(id, frameBytes, now))
	}
	// Muted now, not when the response is written: an acks=0 produce has
	// no response, and a client already over its quota should not get
	// more requests in meanwhile.
	if throttle > 0 {
		mute.extend(now.Add(throttle))
	}
	return func(ctx context.Context) kmsg.Response {
		resp := rep(ctx)
		if f, ok := resp.(*kmsg.FetchResponse); ok {
			var d time.Duration
			if resp, d = s.throttleFetch(id, f, s.now()); d > 0 {
				mute.extend(s.now().Add(d))
				// The fetch session recorded what the dropped
				// response held as told.
				s.fetchSessions.unsent(f.SessionID, c)
			}
		}
		if resp != nil {
			addThrottle(resp, throttle)
		}
		return resp
	}, nil
}

// throttleUntil is when a throttled connection may have its next request
// read (KIP-219: the broker answers at once, then mutes the channel for the
// throttle time). Written by the read loop and reply goroutines, read by the
// read loop.
type throttleUntil struct{ unixNano atomic.Int64 }

// extend moves the mute's end to until, if that is later.
func (t *throttleUntil) extend(until time.Time) {
	ns := until.UnixNano()
	for {
		cur := t.unixNano.Load()
		if ns <= cur || t.unixNano.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// wait returns once the mute has ended, or ctx's error if it ends first.
func (t *throttleUntil) wait(ctx context.Context) error {
	for {
		d := time.Until(time.Unix(0, t.unixNano.Load()))
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}
