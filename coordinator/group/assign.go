package group

import (
	"cmp"
	"maps"
	"slices"
)

// assignTargets computes every member's target assignment over the group's
// subscribed topics with the group's assignor. Parked static members
// (epoch -2) are members: their partitions wait for them.
func assignTargets(cg *consumerGroup) {
	topics := slices.SortedFunc(maps.Values(cg.topics), func(a, b TopicMeta) int { return cmp.Compare(a.Name, b.Name) })
	members := slices.SortedFunc(maps.Values(cg.members), func(a, b *consumerMember) int { return cmp.Compare(a.id, b.id) })
	if cg.assignor == RangeAssignor {
		assignRange(members, topics)
	} else {
		assignUniform(members, topics)
	}
	for _, m := range members {
		for id := range m.target {
			slices.Sort(m.target[id])
		}
	}
}

// assignRange gives each member a contiguous range of every topic it
// subscribes to, the first members one more when the partitions do not
// divide evenly, as Kafka's range assignor. Static members sort by instance
// id ahead of dynamic ones, so a restarted static member gets the same
// ranges back.
func assignRange(members []*consumerMember, topics []TopicMeta) {
	slices.SortStableFunc(members, func(a, b *consumerMember) int {
		switch {
		case a.instanceID != "" && b.instanceID == "":
			return -1
		case a.instanceID == "" && b.instanceID != "":
			return 1
		}
		return cmp.Or(cmp.Compare(a.instanceID, b.instanceID), cmp.Compare(a.id, b.id))
	})
	for _, m := range members {
		m.target = Assignment{}
	}
	for _, t := range topics {
		var subs []*consumerMember
		for _, m := range members {
			if m.subscribes(t) {
				subs = append(subs, m)
			}
		}
		if len(subs) == 0 {
			continue
		}
		quota, extra := int(t.Partitions)/len(subs), int(t.Partitions)%len(subs)
		next := int32(0)
		for i, m := range subs {
			n := quota
			if i < extra {
				n++
			}
			for range n {
				m.target[t.ID] = append(m.target[t.ID], next)
				next++
			}
		}
	}
}

// assignUniform spreads partitions so that member counts differ by at most
// one where subscriptions allow, moving as few as it can: members keep the
// targets they had while still valid, unassigned partitions go to the least
// loaded subscriber, and then partitions move one at a time from the most to
// the least loaded member until no move narrows the spread.
func assignUniform(members []*consumerMember, topics []TopicMeta) {
	byID := make(map[TopicID]TopicMeta, len(topics))
	for _, t := range topics {
		byID[t.ID] = t
	}
	taken := make(map[TopicID][]bool, len(topics))
	for _, t := range topics {
		taken[t.ID] = make([]bool, t.Partitions)
	}
	count := make(map[*consumerMember]int, len(members))
	for _, m := range members {
		kept := Assignment{}
		for id, parts := range m.target {
			t, ok := byID[id]
			if !ok || !m.subscribes(t) {
				continue
			}
			tk := taken[id]
			for _, p := range parts {
				if p >= t.Partitions || tk[p] {
					continue
				}
				tk[p] = true
				kept[id] = append(kept[id], p)
				count[m]++
			}
		}
		m.target = kept
	}

	// subscribers lists, per topic, the members that may hold it.
	subscribers := make(map[TopicID][]*consumerMember, len(topics))
	for _, t := range topics {
		for _, m := range members {
			if m.subscribes(t) {
				subscribers[t.ID] = append(subscribers[t.ID], m)
			}
		}
	}
	leastLoaded := func(id TopicID) *consumerMember {
		var best *consumerMember
		for _, m := range subscribers[id] {
			if best == nil || count[m] < count[best] {
				best = m
			}
		}
		return best
	}

	for _, t := range topics {
		for p, tk := range taken[t.ID] {
			if tk {
				continue
			}
			if m := leastLoaded(t.ID); m != nil {
				m.target[t.ID] = append(m.target[t.ID], int32(p))
				count[m]++
			}
		}
	}

	// Each move lowers the sum of squared counts, so the loop ends; the
	// bound is a guard, not a limit reached in practice.
	total := 0
	for _, n := range count {
		total += n
	}
	for range total + 1 {
		if !moveOne(members, topics, subscribers, count) {
			break
		}
	}
}

// moveOne moves one partition from a member to a subscriber of its topic
// with at least two fewer partitions, trying the most loaded members first.
// It reports whether it moved one.
func moveOne(members []*consumerMember, topics []TopicMeta, subscribers map[TopicID][]*consumerMember, count map[*consumerMember]int) bool {
	// The two least loaded subscribers of each topic: the least loaded
	// other than a given member is one of them.
	type lightest struct{ first, second *consumerMember }
	light := make(map[TopicID]lightest, len(topics))
	for _, t := range topics {
		var l lightest
		for _, m := range subscribers[t.ID] {
			switch {
			case l.first == nil || count[m] < count[l.first]:
				l.second, l.first = l.first, m
			case l.second == nil || count[m] < count[l.second]:
				l.second = m
			}
		}
		light[t.ID] = l
	}
	heavy := slices.Clone(members)
	slices.SortStableFunc(heavy, func(a, b *consumerMember) int { return cmp.Compare(count[b], count[a]) })
	for _, h := range heavy {
		for _, t := range topics {
			parts := h.target[t.ID]
			if len(parts) == 0 {
				continue
			}
			l := light[t.ID].first
			if l == h {
				l = light[t.ID].second
			}
			if l == nil || count[h]-count[l] < 2 {
				continue
			}
			p := parts[len(parts)-1]
			h.target[t.ID] = parts[:len(parts)-1]
			if len(h.target[t.ID]) == 0 {
				delete(h.target, t.ID)
			}
			l.target[t.ID] = append(l.target[t.ID], p)
			count[h]--
			count[l]++
			return true
		}
	}
	return false
}
