package gateway

// Fetch: v4-v16
//
// Behavior:
//   - Reads from each partition's fetch offset up to the high watermark: the
//     newest data from the block cache this gateway filled when it flushed, the
//     rest from segment objects with ranged GETs through the cache.
//   - Limits: MaxBytes over the response and PartitionMaxBytes per partition,
//     except that the first batch with data is returned whole even if larger
//     (KIP-74), so a consumer always makes progress.
//   - Long poll: when fewer than MinBytes are ready the request waits up to
//     MaxWaitMillis, woken by a channel that closes when any fetched
//     partition's high watermark moves; there is no polling loop. Any error
//     answers at once.
//   - v13+ names topics by id; an unknown id is UNKNOWN_TOPIC_ID.
//   - read_committed (IsolationLevel 1) reads below each partition's last
//     stable offset and returns the aborted transactions among the batches
//     served; read_uncommitted reads up to the high watermark. Both report
//     the LSO.
//
//   - ACLs (authorize.go): READ on each topic, else its partitions are
//     TOPIC_AUTHORIZATION_FAILED.
//
//   - Fetch sessions (KIP-227, v7+): see fetch_sessions.go. The session
//     decides which partitions a fetch reads and which its response carries.
//   - The long poll waits on all the partitions' watch channels at once with
//     reflect.Select (waitAny): no goroutine per partition.
//   - A partition never written is read from offset 0 as empty without
//     being claimed or loaded (unwritten.go), so consumers of a new wide
//     topic cost its gateway neither claims nor memory; their long polls
//     wake on the gateway's first append to it.
//
// Follower fetching (KIP-392): the leader answers a v11+ fetch from a
// consumer with a rack (client.rack) with a PreferredReadReplica in that rack,
// when there is one and the leader is not in it, and no records; any live
// gateway then serves v11+ fetches of partitions it does not lead from the
// committed state (tiered replica reads), up to ReplicaRefresh (250 ms)
// behind the leader, its long polls waking at that interval.

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/placement"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// maxFetchWait caps MaxWaitMillis so a hostile request cannot hold a reply
// goroutine for days; Kafka clients ask for 500 ms to a few seconds.
const maxFetchWait = 5 * time.Minute

func (s *Server) handleFetch(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	f, code := s.fetchSessions.begin(c, kreq.(*kmsg.FetchRequest))
	if code != 0 {
		return respond(sessionError(f.req, code)), nil
	}
	denied := s.fetchDenied(ctx, c, f.req)
	return func(ctx context.Context) kmsg.Response { return f.finish(s.fetch(ctx, f.req, denied)) }, nil
}

// fetchDenied marks the topics (by index in req.Topics) the principal may
// not READ; nil when it may read them all. A topic id no topic has is left
// to fetchOnce (UNKNOWN_TOPIC_ID).
func (s *Server) fetchDenied(ctx context.Context, c *conn, req *kmsg.FetchRequest) []bool {
	if s.cfg.Authorizer == nil {
		return nil
	}
	byID := req.Version >= 13
	var denied []bool
	for i, rt := range req.Topics {
		name := rt.Topic
		if t, ok := internalTopicNamed(rt.Topic, rt.TopicID, byID); ok {
			name = t.Name
		} else if t, ok := s.fetchTopic(rt, byID); ok {
			name = t.Name
		} else if byID {
			continue
		}
		if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name) {
			if denied == nil {
				denied = make([]bool, len(req.Topics))
			}
			denied[i] = true
		}
	}
	return denied
}

// fetch serves req, every partition a fetch reads, waiting as its long poll
// asks.
func (s *Server) fetch(ctx context.Context, req *kmsg.FetchRequest, denied []bool) *kmsg.FetchResponse {
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, maxFetchWait)
	if len(denied) > 0 && !slices.Contains(denied, false) {
		wait = 0 // nothing to wait for, as Kafka answers a fetch of only refused partitions
	}
	s.loadLed(ctx, s.checkUnwritten(ctx, s.fetchLed(req, denied)))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		watches := make([]<-chan struct{}, 0, 8)
		resp, n, failed, release := s.fetchGranted(ctx, req, denied, &watches)
		if n >= int(req.MinBytes) || failed || wait == 0 {
			holdUntilWritten(ctx, release)
			return resp
		}
		release() // too little: this response is dropped
		s.metrics.fetchPurgatory.Inc()
		woken := waitAny(ctx, timer.C, watches)
		s.metrics.fetchPurgatory.Dec()
		if !woken {
			// The deadline passed: answer with what is there now.
			resp, _, _, release = s.fetchGranted(ctx, req, denied, nil)
			holdUntilWritten(ctx, release)
			return resp
		}
	}
}

// fetchLed returns the partitions of req this gateway leads and may read.
func (s *Server) fetchLed(req *kmsg.FetchRequest, denied []bool) []index.TopicPartition {
	var led []index.TopicPartition
	for i, rt := range req.Topics {
		if i < len(denied) && denied[i] {
			continue
		}
		if t, ok := s.fetchTopic(rt, req.Version >= 13); ok {
			led = appendLed(s, led, t, rt.Partitions, func(rp kmsg.FetchRequestTopicPartition) int32 { return rp.Partition })
		}
	}
	return led
}

// fetchGranted is fetchOnce within a grant of the fetch response budget
// (MaxFetchResponseBytes): up to req.MaxBytes, less while other fetches
// hold it. It gives back at once what the response does not carry; release
// gives back the rest, once the response is written or dropped.
func (s *Server) fetchGranted(ctx context.Context, req *kmsg.FetchRequest, denied []bool, watches *[]<-chan struct{}) (resp *kmsg.FetchResponse, n int, failed bool, release func()) {
	want := int64(req.MaxBytes)
	if want <= 0 {
		want = math.MaxInt32
	}
	grant, err := s.fetchBytes.acquireUpTo(ctx, want)
	if err != nil {
		// The connection is closing: nothing will be written.
		return req.ResponseKind().(*kmsg.FetchResponse), 0, true, func() {}
	}
	resp, n, failed = s.fetchOnce(ctx, req, denied, watches, int(grant))
	// A first batch larger than the grant is served whole (KIP-74); the
	// grant is what stays held.
	held := min(int64(n), grant)
	s.fetchBytes.release(grant - held)
	return resp, n, failed, sync.OnceFunc(func() { s.fetchBytes.release(held) })
}

// fetchOnce reads every requested partition once, but those of denied
// topics (TOPIC_AUTHORIZATION_FAILED, which does not end a long poll: the
// other partitions are still waited for, as Kafka). It returns the response,
// the record bytes in it, and whether any partition failed. When watches is
// not nil it collects each partition's watch channel, taken before the read
// so that a write landing after the read still wakes the caller.
func (s *Server) fetchOnce(ctx context.Context, req *kmsg.FetchRequest, denied []bool, watches *[]<-chan struct{}, maxBytes int) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	remaining := maxBytes
	total, failed := 0, false
	byID := req.Version >= 13
	for i, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t, known := s.fetchTopic(rt, byID)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// An empty record set, never null: librdkafka rejects a
			// null one as a bad message set size.
			sp.RecordBatches = []byte{}
			if i < len(denied) && denied[i] {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			tp, exists := t.Partition(rp.Partition)
			leads := exists && s.view.leads(t, tp)
			_, internal := internalTopicNamed(rt.Topic, rt.TopicID, byID)
			var src fetchSource
			switch {
			case internal && rp.Partition >= 0 && rp.Partition < internalTopicPartitions:
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = 0, 0, 0 // no records
			case !known && byID:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case !exists:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !leads && (req.Version < 11 || !s.view.member()):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case !leads:
				// A follower read (KIP-392): any live gateway serves
				// what is committed.
				src = replicaSource{s.cfg.Logs}
			default:
				if code := s.checkLeaderEpoch(ctx, tp, rp.CurrentLeaderEpoch); code != 0 {
					sp.ErrorCode = code
					break
				}
				if r := s.preferredReadReplica(tp, req.Rack); r >= 0 {
					sp.PreferredReadReplica = r // no records: the client goes there
					break
				}
				src = s.cfg.Logs
				if written, ok := s.knownUnwritten(tp, rp.FetchOffset); ok {
					src = unwrittenSource{written}
				}
			}
			if src != nil {
				limit := min(int(rp.PartitionMaxBytes), remaining)
				n := s.fetchPartition(ctx, src, tp, rp.FetchOffset, limit, total == 0, tiered.Isolation(req.IsolationLevel), &sp, watches)
				total += n
				remaining -= n
			}
			if sp.ErrorCode != 0 {
				failed = true
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, failed
}

// fetchTopic looks a fetched topic up by id (v13+) or by name.
func (s *Server) fetchTopic(rt kmsg.FetchRequestTopic, byID bool) (coordinator.Topic, bool) {
	if byID {
		return s.cfg.Topics.TopicByID(rt.TopicID)
	}
	return s.cfg.Topics.Topic(rt.Topic)
}

// fetchPartition fills sp from one partition and returns the record bytes read.
// With first set the partition may return one batch over limit (KIP-74).
func (s *Server) fetchPartition(ctx context.Context, src fetchSource, tp index.TopicPartition, offset int64, limit int, first bool, iso tiered.Isolation, sp *kmsg.FetchResponseTopicPartition, watches *[]<-chan struct{}) int {
	if watches != nil {
		ch, err := src.Watch(ctx, tp)
		if err != nil {
			sp.ErrorCode = errorCode(err)
			return 0
		}
		*watches = append(*watches, ch)
	}
	if limit <= 0 && !first {
		// Over the response's budget: report offsets only.
		o, err := src.Offsets(ctx, tp)
		sp.ErrorCode = errorCode(err)
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = o.HighWatermark, o.LastStable, o.LogStart
		return 0
	}
	res, err := src.Read(ctx, tp, offset, max(limit, 1), iso)
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	for _, a := range res.AbortedTxns {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		sp.AbortedTransactions = append(sp.AbortedTransactions, at)
	}
	if err != nil {
		sp.ErrorCode = errorCode(err)
		if !errors.Is(err, tiered.ErrOffsetOutOfRange) && ctx.Err() == nil {
			s.cfg.Logger.Warn("fetch read failed", "partition", tp.Partition, "offset", offset, "err", err)
		}
		return 0
	}
	if !first && len(res.Records) > limit {
		// Read returns its first batch whole; only the first partition with
		// data may go over its limit (KIP-74), so leave this one for the
		// next fetch.
		return 0
	}
	if len(res.Records) > 0 {
		sp.RecordBatches = res.Records
	}
	return len(res.Records)
}

// fetchSource is where a fetch reads a partition: the log it leads, or
// replicaSource.
type fetchSource interface {
	Read(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso tiered.Isolation) (tiered.ReadResult, error)
	Offsets(ctx context.Context, tp index.TopicPartition) (tiered.Offsets, error)
	Watch(ctx context.Context, tp index.TopicPartition) (<-chan struct{}, error)
}

// replicaSource reads partitions this gateway does not lead.
type replicaSource struct{ logs Logs }

func (r replicaSource) Read(ctx context.Context, tp index.TopicPartition, offset int64, maxBytes int, iso tiered.Isolation) (tiered.ReadResult, error) {
	return r.logs.ReadReplica(ctx, tp, offset, maxBytes, iso)
}

func (r replicaSource) Offsets(ctx context.Context, tp index.TopicPartition) (tiered.Offsets, error) {
	return r.logs.ReplicaOffsets(ctx, tp)
}

func (r replicaSource) Watch(ctx context.Context, tp index.TopicPartition) (<-chan struct{}, error) {
	return r.logs.WatchReplica(ctx, tp)
}

// preferredReadReplica is the gateway a consumer in rack should read tp
// from (KIP-392's rack-aware selector): -1 when that is this leader (in the
// rack, or no live gateway is), else one of the rack's gateways
// (placement.ReadReplica), chosen per partition so the reads spread.
func (s *Server) preferredReadReplica(tp index.TopicPartition, rack string) int32 {
	if rack == "" || rack == s.cfg.Rack {
		return -1
	}
	return placement.ReadReplica(tp.TopicID, tp.Partition, rack, s.view.gateways())
}

// maxSelectCases is the most cases reflect.Select takes.
const maxSelectCases = 1 << 16

// waitAny blocks until one of watches closes (true), the deadline fires, or
// ctx ends (false). It selects on them all at once with reflect.Select, in
// the calling goroutine; only past maxSelectCases watches (a fetch of more
// partitions than that) does each further chunk of them wait in a goroutine
// of its own, which exits before waitAny returns.
func waitAny(ctx context.Context, deadline <-chan time.Time, watches []<-chan struct{}) bool {
	const fixed = 3 // ctx, deadline, and the chunks' wake-up
	cases := make([]reflect.SelectCase, fixed, fixed+min(len(watches), maxSelectCases-fixed))
	cases[0] = recvCase(ctx.Done())
	cases[1] = recvCase(deadline)
	cases[2] = recvCase[struct{}](nil) // never ready, unless chunks wait below
	if len(watches) > maxSelectCases-fixed {
		woke, stop := make(chan struct{}), make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		// Shutdown order: 1. stop closes; 2. every chunk's goroutine exits.
		defer wg.Wait()
		defer close(stop)
		for rest := watches[maxSelectCases-fixed:]; len(rest) > 0; {
			chunk := rest[:min(len(rest), maxSelectCases-1)]
			rest = rest[len(chunk):]
			wg.Go(func() {
				if waitChunk(stop, chunk) {
					once.Do(func() { close(woke) })
				}
			})
		}
		cases[2] = recvCase(woke)
		watches = watches[:maxSelectCases-fixed]
	}
	for _, w := range watches {
		cases = append(cases, recvCase(w))
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

// waitChunk blocks until one of watches closes (true) or stop does (false).
func waitChunk(stop <-chan struct{}, watches []<-chan struct{}) bool {
	cases := make([]reflect.SelectCase, 0, len(watches)+1)
	cases = append(cases, recvCase(stop))
	for _, w := range watches {
		cases = append(cases, recvCase(w))
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen > 0
}

func recvCase[T any](ch <-chan T) reflect.SelectCase {
	return reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
}
