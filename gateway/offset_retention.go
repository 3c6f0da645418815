package gateway

// Committed offsets expire as in Kafka (offsets.retention.minutes, KIP-211):
//   - A group without members loses all its offsets once it has been idle for
//     the retention: no member for that long (when this gateway saw it
//     empty) and no commit for that long. Kafka counts from the moment the
//     group became empty; a gateway that restarted since does not know that
//     moment and counts from the newest commit, which is no later.
//   - A consumer group with members (classic with the "consumer" protocol, or
//     KIP-848) loses the offsets of topics no member subscribes to, each once
//     it is older than the retention. Groups of other protocol types keep all
//     their offsets while they have members.
// Every removal is a compare-and-swap that spares offsets committed after the
// cutoff, so a group coming back to life keeps its new commits.

import (
	"context"
	"time"
)

// expireOffsetsLoop checks committed offsets against the retention every
// OffsetsRetentionCheckInterval until ctx ends.
func (s *Server) expireOffsetsLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.OffsetsRetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.expireOffsets(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("expire committed offsets", "expired", n, "err", err)
		} else if n > 0 {
			s.cfg.Logger.Info("expired committed offsets", "partitions", n, "retention", s.cfg.OffsetsRetention)
		}
	}
}

// expireOffsets makes one pass over every group with committed offsets and
// returns how many partitions' offsets it removed.
func (s *Server) expireOffsets(ctx context.Context) (int, error) {
	now := s.now()
	cutoff := now.Add(-s.cfg.OffsetsRetention).UnixMilli()
	groups, err := s.cfg.Offsets.OffsetGroups(ctx)
	if err != nil {
		return 0, err
	}
	summaries := s.groups.Groups()
	expired := 0
	for _, g := range groups {
		if !s.coordinates(g) {
			continue // its coordinator expires them
		}
		topics, err := s.cfg.Offsets.OffsetTopics(ctx, g)
		if err != nil {
			return expired, err
		}
		members, subscribed, err := s.groupSubscriptions(ctx, g)
		if err != nil {
			return expired, err
		}
		var expiring []string
		switch {
		case members && subscribed == nil:
			continue
		case members:
			for _, t := range topics {
				if !subscribed[t] {
					expiring = append(expiring, t)
				}
			}
		default:
			idle, err := s.idleSince(ctx, g, topics, summaries[g].EmptySince)
			if err != nil {
				return expired, err
			}
			if idle.UnixMilli() >= cutoff {
				continue
			}
			expiring = topics
		}
		for _, t := range expiring {
			n, err := s.cfg.Offsets.ExpireOffsets(ctx, g, t, cutoff)
			expired += n
			if err != nil {
				return expired, err
			}
		}
	}
	s.metrics.offsetsExpired.Add(float64(expired))
	return expired, nil
}

// idleSince is when an empty group was last active: the later of its newest
// commit and when it lost its last member.
func (s *Server) idleSince(ctx context.Context, group string, topics []string, emptySince time.Time) (time.Time, error) {
	newest := emptySince.UnixMilli()
	if emptySince.IsZero() {
		newest = 0
	}
	for _, t := range topics {
		committed, err := s.cfg.Offsets.FetchOffsets(ctx, group, t)
		if err != nil {
			return time.Time{}, err
		}
		for _, c := range committed {
			newest = max(newest, c.CommitMs)
		}
	}
	return time.UnixMilli(newest), nil
}
