package placement

import (
	"cmp"
	"hash/fnv"
	"slices"

	"github.com/stratalog/strata/coordinator"
)

// Leaders returns the node id leading each partition of a topic, by the
// algorithm in the package doc: one entry per partition, every entry -1 when
// gws is empty. gws is the live set (distinct node ids, any order); every
// gateway given the same set computes the same answer. With one rack, or no
// rack set, the answer is the one gateways computed before racks counted.
func Leaders(topicID [16]byte, partitions int32, gws []coordinator.Gateway) []int32 {
	n := int(max(partitions, 0))
	leaders := make([]int32, n)
	if len(gws) == 0 {
		for p := range leaders {
			leaders[p] = -1
		}
		return leaders
	}
	racks, gateways := quotas(topicID, n, gws)
	for p := range n {
		base := partitionHash(topicID, int32(p))
		best, bestRank := -1, uint64(0)
		for i := range gateways {
			if !gateways[i].hasRoom(&racks[gateways[i].rack]) {
				continue
			}
			if r := rank(base, gateways[i].nodeID); best < 0 || r > bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			panic("placement: quotas leave a partition without a leader")
		}
		gateways[best].take(&racks[gateways[best].rack])
		leaders[p] = gateways[best].nodeID
	}
	return leaders
}

// rackQuota is a rack's quota of a topic's partitions and its gateways'
// progress toward it.
type rackQuota struct {
	name  string
	size  int // live gateways in the rack
	quota int // partitions the rack leads
	load  int // partitions placed in the rack so far
	// extra is how many more of the rack's gateways may go one past their
	// base, so that the rack's quota is met exactly.
	extra int
}

// gatewayQuota is a gateway's quota of a topic's partitions and its
// progress toward it.
type gatewayQuota struct {
	nodeID int32
	rack   int // index of its rackQuota
	base   int // partitions it leads at least, or at most one more
	load   int
}

// hasRoom reports whether the gateway may lead one more partition: its rack
// is under quota, and it is under its base or one of the rack's extras is
// left.
func (g *gatewayQuota) hasRoom(r *rackQuota) bool {
	return r.load < r.quota && (g.load < g.base || (g.load == g.base && r.extra > 0))
}

// take places one more partition with the gateway.
func (g *gatewayQuota) take(r *rackQuota) {
	if g.load >= g.base {
		r.extra--
	}
	g.load++
	r.load++
}

// quotas sets the racks' and gateways' quotas of a topic's partitions (see
// the package doc).
func quotas(topicID [16]byte, partitions int, gws []coordinator.Gateway) ([]rackQuota, []gatewayQuota) {
	share := ceilDiv(partitions, len(gws))
	var racks []rackQuota
	for _, g := range gws {
		if i, ok := slices.BinarySearchFunc(racks, g.Rack, func(r rackQuota, name string) int { return cmp.Compare(r.name, name) }); ok {
			racks[i].size++
		} else {
			racks = slices.Insert(racks, i, rackQuota{name: g.Rack, size: 1})
		}
	}
	gateways := make([]gatewayQuota, len(gws))
	for i, g := range gws {
		r, _ := slices.BinarySearchFunc(racks, g.Rack, func(r rackQuota, name string) int { return cmp.Compare(r.name, name) })
		gateways[i] = gatewayQuota{nodeID: g.NodeID, rack: r, base: share}
	}
	if len(racks) == 1 {
		// Each gateway may take the fair share, however the last ones
		// fill: the rule from before racks counted.
		racks[0].quota = partitions
		return racks, gateways
	}
	rackQuotas(topicID, partitions, share, racks)
	for i := range gateways {
		r := &racks[gateways[i].rack]
		gateways[i].base = r.quota / r.size
		r.extra = r.quota % r.size
	}
	return racks, gateways
}

// rackQuotas splits partitions over racks as evenly as their caps (share
// per gateway) allow, by water filling: a rack whose cap is at most an even
// split of what the racks before it left takes its cap; the others split the
// rest evenly, and the remainder goes one each to the racks ranking highest
// for the topic.
func rackQuotas(topicID [16]byte, partitions, share int, racks []rackQuota) {
	order := make([]int, len(racks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return racks[a].size - racks[b].size })
	left := partitions
	for i, r := range order {
		racksLeft, limit := len(order)-i, share*racks[r].size
		if limit*racksLeft <= left {
			racks[r].quota = limit
			left -= limit
			continue
		}
		// Every rack from here has a cap above the even split, so each
		// can take it plus one.
		rest := order[i:]
		for _, s := range rest {
			racks[s].quota = left / racksLeft
		}
		h := fnv.New64a()
		h.Write(topicID[:])
		base := h.Sum64()
		slices.SortFunc(rest, func(a, b int) int {
			return cmp.Or(cmp.Compare(mix(base, keyHash(racks[b].name)), mix(base, keyHash(racks[a].name))),
				cmp.Compare(racks[a].name, racks[b].name))
		})
		for _, s := range rest[:left%racksLeft] {
			racks[s].quota++
		}
		return
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
