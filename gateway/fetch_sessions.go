package gateway

// Fetch sessions (KIP-227): Fetch v7+
//
// Behavior:
//   - A full fetch with epoch 0 opens a session once its response is made,
//     if the cache has room or can evict (below). The session remembers each
//     partition's fetch offset, partition max bytes and current leader
//     epoch, and what its last response said of it (high watermark, last
//     stable offset, log start offset). The response carries the session's
//     id, or 0 when none was opened, which KIP-227 allows: clients then send
//     full fetches. A full fetch naming a session (epoch 0 or -1) closes it
//     first; epoch -1 opens none (a sessionless fetch).
//   - An incremental fetch (the session's id and next epoch, n+1 after a
//     response to epoch n, 1 after the one that opened it) adds or updates
//     the partitions it names, removes its ForgottenTopics, and reads every
//     partition of the session, in the session's order. Its response holds
//     only the partitions with something new: records, a changed high
//     watermark, LSO or log start offset, an error (which also forgets the
//     high watermark sent, so the partition comes again once healthy), a
//     preferred read replica, or the first response since the partition
//     joined (Kafka's CachedPartition.maybeUpdateResponseData). The
//     partitions answered move to the end of the order, so that MaxBytes is
//     shared round robin across responses, as Kafka's
//     IncrementalFetchContext. One that empties its session closes it and is
//     answered without a session.
//   - Errors go in the response's top-level error code, with session id 0
//     and no partitions: FETCH_SESSION_ID_NOT_FOUND for a session this
//     connection does not have (never opened, closed, evicted, or another
//     connection's), INVALID_FETCH_SESSION_EPOCH for an epoch other than the
//     next, FETCH_SESSION_TOPIC_ID_ERROR when a session opened with topic
//     ids (v13+) is used by name, or the reverse.
//   - v13+ sessions name topics by id, earlier ones by name. A session entry
//     whose id names no topic answers UNKNOWN_TOPIC_ID on every fetch until
//     it is forgotten.
//   - A session serves only the connection that opened it; a full fetch from
//     another connection of the same principal may close it (a client that
//     reconnects frees its old slot, as Kafka's clients do on reconnecting).
//   - ACLs: READ is checked on every partition the session reads, at every
//     fetch (Kafka authorizes fetchContext.foreachPartition), not only on
//     those the request names.
//
// The cache (Kafka's FetchSessionCache) holds at most
// Config.MaxIncrementalFetchSessionCacheSlots sessions (Kafka's
// max.incremental.fetch.session.cache.slots, default 1000), with at most
// maxFetchSessionCachePartitions partitions in them all. A new session that
// does not fit may evict, one session at a time and only while every
// eviction is allowed: the least recently used session when it has been idle
// longer than minFetchSessionEviction (120 s, Kafka's
// MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS); otherwise the smallest session
// (ties: the lowest id) among those opened more than 120 s ago, when the new
// one has more partitions than it. Otherwise no session is opened. An
// incremental fetch that would take the cache over its partition bound
// evicts its own session (FETCH_SESSION_ID_NOT_FOUND: the client starts again
// with a full fetch). Sessions, their partitions and evictions are metrics.
//
// Deviations: no session is privileged (Kafka's follower sessions, which
// evict consumers' first): gateways do not replicate by fetching from one
// another, and a ReplicaID in a client's request proves nothing. Kafka
// decides which sessions are evictable when each was last used; this cache
// decides at the eviction, from the same times. A response that a client
// quota throttles (quotas.go) is replaced by an empty one after the session
// has recorded what it held; the records are sent again (the client's fetch
// offset has not moved), but a high watermark or log start offset change
// alone waits for the partition's next change.
//
// Lock order: fetchSession.mu before fetchSessionCache.mu.

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// minFetchSessionEviction is how long a session is safe from eviction
	// after it is opened (by a larger one) or last used (by any), Kafka's
	// MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS.
	minFetchSessionEviction = 120 * time.Second
	// maxFetchSessionCachePartitions bounds the partitions cached in all of a
	// gateway's sessions, about 100 bytes each (an entry, its map slot and
	// its place in the order): 500,000 are about 50 MiB, 50 consumers of
	// 10,000 partitions each.
	maxFetchSessionCachePartitions = 500_000
)

// fetchSessionCache is a gateway's fetch sessions.
type fetchSessionCache struct {
	maxSessions   int
	maxPartitions int

	mu sync.Mutex
	// now is the clock eviction reads (time.Now; tests move it).
	now      func() time.Time
	sessions map[int32]*fetchSession
	// partitions is the sum of the sessions' sizes.
	partitions int
	evictions  uint64
}

var _ prometheus.Collector = (*fetchSessionCache)(nil)

// newFetchSessionCache returns cfg's session cache, its metrics registered
// with cfg.Registerer.
func newFetchSessionCache(cfg Config) *fetchSessionCache {
	c := &fetchSessionCache{
		maxSessions:   cfg.MaxIncrementalFetchSessionCacheSlots,
		maxPartitions: maxFetchSessionCachePartitions,
		now:           time.Now,
		sessions:      make(map[int32]*fetchSession),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(c)
	}
	return c
}

// fetchSession is one client's session: what it fetches, in the order the
// next fetch reads it.
type fetchSession struct {
	id        int32
	owner     *conn
	principal string
	// byID: the session names topics by id (opened with Fetch v13+).
	byID bool

	// Guarded by the cache's mu.
	opened, lastUsed time.Time
	size             int // partitions, as counted in the cache
	closed           bool

	mu sync.Mutex
	// epoch is the epoch the next incremental fetch must carry.
	epoch int32
	// topics are the session's topics, indexed by topicIdx's values;
	// entries are never removed while the session lives.
	topics   []kmsg.FetchRequestTopic // Topic and TopicID only
	topicIdx map[sessionTopic]int32
	parts    map[sessionPartKey]*sessionPartition
	order    []*sessionPartition
}

// sessionTopic names a topic by id (v13+ sessions) or by name.
type sessionTopic struct {
	id   [16]byte
	name string
}

type sessionPartKey struct{ topic, partition int32 }

// sessionPartition is one partition of a session: what the client asked
// for and what it was last told.
type sessionPartition struct {
	key         sessionPartKey
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32
	// The last response's values; a high watermark of -1 means the next
	// response must carry the partition.
	highWatermark, lastStable, logStart int64
}

// sessionFetch is how one Fetch request uses sessions: req is every
// partition to read (the session's, for an incremental fetch), and finish
// turns the response to it into the one to send.
type sessionFetch struct {
	req     *kmsg.FetchRequest
	cache   *fetchSessionCache
	owner   *conn
	session *fetchSession // incremental
	open    bool          // epoch 0: open a session with the response
}

// begin runs the in-order part of a fetch's session handling: it closes,
// checks or updates the session req names, and returns the fetch to serve,
// or a session error code.
func (c *fetchSessionCache) begin(conn *conn, req *kmsg.FetchRequest) (sessionFetch, int16) {
	f := sessionFetch{req: req, cache: c, owner: conn}
	if req.Version < 7 {
		return f, 0
	}
	switch req.SessionEpoch {
	case -1: // a sessionless fetch, closing the session it names
		c.close(req.SessionID, conn)
		return f, 0
	case 0:
		c.close(req.SessionID, conn)
		f.open = true
		return f, 0
	}
	s := c.get(req.SessionID, conn)
	if s == nil {
		return f, kerr.FetchSessionIDNotFound.Code
	}
	return s.update(c, req)
}

// get returns conn's session id, or nil.
func (c *fetchSessionCache) get(id int32, conn *conn) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[id]; s != nil && s.owner == conn {
		return s
	}
	return nil
}

// close removes session id when conn's principal opened it.
func (c *fetchSessionCache) close(id int32, conn *conn) {
	if id == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sessions[id]; s != nil && (s.owner == conn || s.principal == conn.Principal()) {
		c.remove(s)
	}
}

// remove takes s out of the cache. Called with c.mu held.
func (c *fetchSessionCache) remove(s *fetchSession) {
	if s.closed {
		return
	}
	s.closed = true
	delete(c.sessions, s.id)
	c.partitions -= s.size
}

// update applies an incremental fetch to s: the epoch checks, then the
// partitions added, changed and forgotten (Kafka's FetchSession.update).
func (s *fetchSession) update(c *fetchSessionCache, req *kmsg.FetchRequest) (sessionFetch, int16) {
	f := sessionFetch{req: req, cache: c, owner: s.owner}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case req.SessionEpoch != s.epoch:
		return f, kerr.InvalidFetchSessionEpoch.Code
	case s.byID != (req.Version >= 13):
		return f, kerr.FetchSessionTopicIDError.Code
	}
	for _, rt := range req.Topics {
		t := s.topic(rt)
		for _, rp := range rt.Partitions {
			s.set(sessionPartKey{t, rp.Partition}, rp)
		}
	}
	forgot := false
	for _, ft := range req.ForgottenTopics {
		t, ok := s.topicIdx[s.topicKey(ft.Topic, ft.TopicID)]
		if !ok {
			continue
		}
		for _, p := range ft.Partitions {
			if _, ok := s.parts[sessionPartKey{t, p}]; ok {
				delete(s.parts, sessionPartKey{t, p})
				forgot = true
			}
		}
	}
	if forgot {
		s.order = slices.DeleteFunc(s.order, func(p *sessionPartition) bool { return s.parts[p.key] != p })
	}

	if code, keep := c.resized(s); !keep {
		return f, code
	}
	s.epoch = nextFetchEpoch(s.epoch)
	f.session = s
	f.req = s.request(req)
	return f, 0
}

// resized counts s's new size and use, and reports whether s is kept: an
// empty session is closed (and the fetch answered without one, code 0), one
// evicted meanwhile or now over the cache's partition bound is not found.
func (c *fetchSessionCache) resized(s *fetchSession) (code int16, keep bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case s.closed: // evicted since get
		return kerr.FetchSessionIDNotFound.Code, false
	case len(s.parts) == 0:
		c.remove(s)
		return 0, false
	case c.partitions-s.size+len(s.parts) > c.maxPartitions:
		c.remove(s)
		c.evictions++
		return kerr.FetchSessionIDNotFound.Code, false
	}
	c.partitions += len(s.parts) - s.size
	s.size = len(s.parts)
	s.lastUsed = c.now()
	return 0, true
}

// topic returns the index of rt's topic, adding it if new.
func (s *fetchSession) topic(rt kmsg.FetchRequestTopic) int32 {
	k := s.topicKey(rt.Topic, rt.TopicID)
	if i, ok := s.topicIdx[k]; ok {
		return i
	}
	i := int32(len(s.topics))
	s.topics = append(s.topics, kmsg.FetchRequestTopic{Topic: k.name, TopicID: k.id})
	s.topicIdx[k] = i
	return i
}

func (s *fetchSession) topicKey(name string, id [16]byte) sessionTopic {
	if s.byID {
		return sessionTopic{id: id}
	}
	return sessionTopic{name: name}
}

// set adds or updates a partition from a request; a new one goes last.
func (s *fetchSession) set(k sessionPartKey, rp kmsg.FetchRequestTopicPartition) {
	p := s.parts[k]
	if p == nil {
		p = &sessionPartition{key: k, highWatermark: -1, lastStable: -1, logStart: -1}
		s.parts[k] = p
		s.order = append(s.order, p)
	}
	p.fetchOffset, p.maxBytes, p.leaderEpoch = rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch
}

// request is req with the session's partitions in its order, consecutive
// partitions of a topic under one topic entry. Called with s.mu held.
func (s *fetchSession) request(req *kmsg.FetchRequest) *kmsg.FetchRequest {
	full := *req
	full.Topics, full.ForgottenTopics = nil, nil
	parts := make([]kmsg.FetchRequestTopicPartition, len(s.order))
	start := 0
	for i, p := range s.order {
		rp := &parts[i]
		rp.Default()
		rp.Partition, rp.FetchOffset = p.key.partition, p.fetchOffset
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p.maxBytes, p.leaderEpoch
		if i+1 == len(s.order) || s.order[i+1].key.topic != p.key.topic {
			rt := s.topics[p.key.topic]
			rt.Partitions = parts[start : i+1 : i+1]
			full.Topics = append(full.Topics, rt)
			start = i + 1
		}
	}
	return &full
}

// finish makes the response to send from resp, the response to f.req: an
// incremental fetch's keeps only the partitions with something new, and a
// full fetch with epoch 0 opens a session.
func (f sessionFetch) finish(resp *kmsg.FetchResponse) *kmsg.FetchResponse {
	switch {
	case f.session != nil:
		f.session.filter(resp)
		resp.SessionID = f.session.id
	case f.open:
		resp.SessionID = f.cache.open(f.owner, f.req, resp)
	}
	return resp
}

// filter leaves in resp the partitions the client must be told of, records
// what they said, and moves them to the end of the session's order.
func (s *fetchSession) filter(resp *kmsg.FetchResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var answered []*sessionPartition
	topics := resp.Topics[:0]
	for _, rt := range resp.Topics {
		t, ok := s.topicIdx[s.topicKey(rt.Topic, rt.TopicID)]
		if !ok {
			continue
		}
		kept := rt.Partitions[:0]
		for _, rp := range rt.Partitions {
			p := s.parts[sessionPartKey{t, rp.Partition}]
			if p == nil {
				continue // forgotten meanwhile
			}
			if p.record(&rp) {
				kept = append(kept, rp)
				answered = append(answered, p)
			}
		}
		if len(kept) > 0 {
			rt.Partitions = kept
			topics = append(topics, rt)
		}
	}
	resp.Topics = topics
	if len(answered) == 0 || len(answered) == len(s.order) {
		return
	}
	moved := make(map[*sessionPartition]bool, len(answered))
	for _, p := range answered {
		moved[p] = true
	}
	s.order = slices.DeleteFunc(s.order, func(p *sessionPartition) bool { return moved[p] })
	s.order = append(s.order, answered...)
}

// unsent marks every partition of session id (of conn) as owed to the
// client in full: a response the session filtered was not sent after all
// (a client quota replaced it with an empty one, quotas.go), so what it
// recorded as told must be told again.
func (c *fetchSessionCache) unsent(id int32, conn *conn) {
	if c == nil || id == 0 {
		return
	}
	s := c.get(id, conn)
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.parts {
		p.highWatermark = -1
	}
}

// record remembers what rp tells the client and reports whether it must be
// sent.
func (p *sessionPartition) record(rp *kmsg.FetchResponseTopicPartition) bool {
	must := len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 || rp.PreferredReadReplica >= 0 ||
		rp.DivergingEpoch.Epoch >= 0 ||
		rp.HighWatermark != p.highWatermark || rp.LastStableOffset != p.lastStable || rp.LogStartOffset != p.logStart
	p.highWatermark, p.lastStable, p.logStart = rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
	if rp.ErrorCode != 0 {
		p.highWatermark = -1
	}
	return must
}

// open makes a session of req's partitions with resp's values, if it fits
// (evicting as the file header says), and returns its id, or 0.
func (c *fetchSessionCache) open(owner *conn, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) int32 {
	s := &fetchSession{
		owner:     owner,
		principal: owner.Principal(),
		byID:      req.Version >= 13,
		epoch:     1,
		topicIdx:  make(map[sessionTopic]int32),
		parts:     make(map[sessionPartKey]*sessionPartition),
	}
	for _, rt := range req.Topics {
		t := s.topic(rt)
		for _, rp := range rt.Partitions {
			s.set(sessionPartKey{t, rp.Partition}, rp)
		}
	}
	for _, rt := range resp.Topics {
		t, ok := s.topicIdx[s.topicKey(rt.Topic, rt.TopicID)]
		if !ok {
			continue
		}
		for i := range rt.Partitions {
			if p := s.parts[sessionPartKey{t, rt.Partitions[i].Partition}]; p != nil {
				p.record(&rt.Partitions[i])
			}
		}
	}
	if len(s.parts) == 0 {
		return 0
	}
	s.size = len(s.parts)

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.makeRoom(s.size, now) {
		return 0
	}
	for s.id == 0 || c.sessions[s.id] != nil {
		s.id = rand.Int32N(math.MaxInt32) + 1
	}
	s.opened, s.lastUsed = now, now
	c.sessions[s.id] = s
	c.partitions += s.size
	return s.id
}

// makeRoom evicts sessions until one of size partitions fits, if the
// eviction rules allow enough of them, and reports whether it fits. Called
// with c.mu held.
func (c *fetchSessionCache) makeRoom(size int, now time.Time) bool {
	if size > c.maxPartitions || c.maxSessions <= 0 {
		return false
	}
	var victims []*fetchSession
	sessions, partitions := len(c.sessions), c.partitions
	for sessions >= c.maxSessions || partitions+size > c.maxPartitions {
		v := c.evictable(size, now, victims)
		if v == nil {
			return false
		}
		victims = append(victims, v)
		sessions, partitions = sessions-1, partitions-v.size
	}
	for _, v := range victims {
		c.remove(v)
		c.evictions++
	}
	return true
}

// evictable is the session a new one of size may evict, but those in
// skip: the least recently used, if idle longer than
// minFetchSessionEviction; else the smallest of those opened longer ago
// than that, if smaller than size. Kafka's FetchSessionCache.tryEvict.
// Called with c.mu held.
func (c *fetchSessionCache) evictable(size int, now time.Time, skip []*fetchSession) *fetchSession {
	var idlest, smallest *fetchSession
	for _, s := range c.sessions {
		if slices.Contains(skip, s) {
			continue
		}
		if idlest == nil || s.lastUsed.Before(idlest.lastUsed) || s.lastUsed.Equal(idlest.lastUsed) && s.id < idlest.id {
			idlest = s
		}
		if now.Sub(s.opened) > minFetchSessionEviction &&
			(smallest == nil || s.size < smallest.size || s.size == smallest.size && s.id < smallest.id) {
			smallest = s
		}
	}
	switch {
	case idlest != nil && now.Sub(idlest.lastUsed) > minFetchSessionEviction:
		return idlest
	case smallest != nil && size > smallest.size:
		return smallest
	}
	return nil
}

// nextFetchEpoch follows epoch, wrapping to 1 (KIP-227).
func nextFetchEpoch(epoch int32) int32 {
	if epoch == math.MaxInt32 {
		return 1
	}
	return epoch + 1
}

// sessionError is the response to a fetch refused for its session.
func sessionError(req *kmsg.FetchRequest, code int16) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.ErrorCode = code
	return resp
}

var (
	fetchSessionsDesc = prometheus.NewDesc("strata_gateway_fetch_sessions",
		"Incremental fetch sessions (KIP-227) in the gateway's cache.", nil, nil)
	fetchSessionPartitionsDesc = prometheus.NewDesc("strata_gateway_fetch_session_partitions",
		"Partitions in the gateway's incremental fetch sessions.", nil, nil)
	fetchSessionEvictionsDesc = prometheus.NewDesc("strata_gateway_fetch_session_evictions_total",
		"Incremental fetch sessions evicted from the gateway's cache to make room.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *fetchSessionCache) Describe(ch chan<- *prometheus.Desc) {
	ch <- fetchSessionsDesc
	ch <- fetchSessionPartitionsDesc
	ch <- fetchSessionEvictionsDesc
}

// Collect implements prometheus.Collector: the cache's counts at the scrape.
func (c *fetchSessionCache) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sessions, partitions, evictions := len(c.sessions), c.partitions, c.evictions
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(fetchSessionsDesc, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(fetchSessionPartitionsDesc, prometheus.GaugeValue, float64(partitions))
	ch <- prometheus.MustNewConstMetric(fetchSessionEvictionsDesc, prometheus.CounterValue, float64(evictions))
}
