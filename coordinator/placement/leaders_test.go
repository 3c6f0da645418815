package placement

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stratalog/strata/coordinator"
)

// gateways returns live gateways with the given node ids, all in rack.
func gateways(rack string, ids ...int32) []coordinator.Gateway {
	out := make([]coordinator.Gateway, len(ids))
	for i, id := range ids {
		out[i] = coordinator.Gateway{NodeID: id, Addr: fmt.Sprintf("127.0.0.1:%d", 9000+id), Rack: rack}
	}
	return out
}

// racked returns racks × perRack gateways, node ids from 1, racks "r0", "r1", ….
func racked(racks, perRack int) []coordinator.Gateway {
	var out []coordinator.Gateway
	for r := range racks {
		for i := range perRack {
			out = append(out, gateways(fmt.Sprint("r", r), int32(r*perRack+i+1))...)
		}
	}
	return out
}

func without(gws []coordinator.Gateway, nodeID int32) []coordinator.Gateway {
	return slices.DeleteFunc(slices.Clone(gws), func(g coordinator.Gateway) bool { return g.NodeID == nodeID })
}

func topicID(i int) [16]byte { return [16]byte{byte(i), byte(i >> 8), 7} }

// legacyLeaders is the leader assignment gateways made before placement
// existed (gateway.assignLeaders), copied verbatim with its hashes, as the
// oracle for clusters without racks.
func legacyLeaders(topicID [16]byte, partitions int32, gws []coordinator.Gateway) []int32 {
	partitionHash := func(topicID [16]byte, partition int32) uint64 {
		h := fnv.New64a()
		h.Write(topicID[:])
		var pb [4]byte
		binary.BigEndian.PutUint32(pb[:], uint32(partition))
		h.Write(pb[:])
		return h.Sum64()
	}
	rank := func(base uint64, nodeID int32) uint64 {
		z := base ^ (uint64(uint32(nodeID)) * 0x9E3779B97F4A7C15)
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		return z ^ (z >> 31)
	}
	leaders := make([]int32, partitions)
	if len(gws) == 0 {
		for i := range leaders {
			leaders[i] = -1
		}
		return leaders
	}
	share := (int(partitions) + len(gws) - 1) / len(gws)
	load := make([]int, len(gws))
	order := make([]int, len(gws))
	ranks := make([]uint64, len(gws))
	for p := range partitions {
		base := partitionHash(topicID, p)
		for i, g := range gws {
			order[i], ranks[i] = i, rank(base, g.NodeID)
		}
		slices.SortFunc(order, func(a, b int) int {
			switch {
			case ranks[a] > ranks[b]:
				return -1
			case ranks[a] < ranks[b]:
				return 1
			}
			return 0
		})
		for _, i := range order {
			if load[i] < share {
				load[i]++
				leaders[p] = gws[i].NodeID
				break
			}
		}
	}
	return leaders
}

// TestLeadersUnchangedWithoutRacks: with no rack set, or every gateway in
// the same rack, Leaders gives exactly what gateways computed before racks
// counted, whatever the order of the live set.
func TestLeadersUnchangedWithoutRacks(t *testing.T) {
	sets := [][]int32{{1}, {1, 2}, {1, 2, 3}, {1, 2, 3, 4}, {0, 5, 9, 10, 42}, {3, 1, 2, 8, 6, 7, 4}}
	counts := []int32{0, 1, 2, 3, 7, 12, 64, 100, 1000}
	for _, rk := range []string{"", "eu-west-1a"} {
		for _, ids := range sets {
			t.Run(fmt.Sprintf("rack=%q/gateways=%v", rk, ids), func(t *testing.T) {
				gws := gateways(rk, ids...)
				shuffled := slices.Clone(gws)
				rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				for i := range 50 {
					for _, n := range counts {
						want := legacyLeaders(topicID(i), n, gateways("", ids...))
						if got := Leaders(topicID(i), n, gws); !slices.Equal(got, want) {
							t.Fatalf("topic %d, %d partitions: %v, before racks %v", i, n, got, want)
						}
						if got := Leaders(topicID(i), n, shuffled); !slices.Equal(got, want) {
							t.Fatalf("topic %d, %d partitions, live set shuffled: %v, want %v", i, n, got, want)
						}
					}
				}
			})
		}
	}
	if l := Leaders([16]byte{1}, 3, nil); !slices.Equal(l, []int32{-1, -1, -1}) {
		t.Errorf("no live gateway: leaders %v", l)
	}
}

// TestLeadersBalancedAndSticky: every partition gets a leader, no gateway
// leads more than its fair share of a topic, and a gateway joining or
// leaving moves little more than its share.
func TestLeadersBalancedAndSticky(t *testing.T) {
	const topics, partitions = 200, 12
	three, four := gateways("", 1, 2, 3), gateways("", 1, 2, 3, 4)
	ideal := topics * partitions / 4
	joined, left := moves(t, topics, partitions, three, four), moves(t, topics, partitions, four, three)
	t.Logf("moves: %d on a join, %d on a leave, ideal %d", joined, left, ideal)
	if joined > ideal*3/2 {
		t.Errorf("a fourth gateway joining moved %d partitions, ideal %d", joined, ideal)
	}
	if left > ideal*3/2 {
		t.Errorf("a gateway leaving moved %d partitions, ideal %d", left, ideal)
	}
	if got := moves(t, topics, partitions, three, three); got != 0 {
		t.Errorf("the same live set moved %d partitions", got)
	}
}

// moves counts the partitions of topics whose leader differs between the
// live sets from and to, checking on the way that every partition has a live
// leader under to and no gateway leads more than its fair share.
func moves(t *testing.T, topics int, partitions int32, from, to []coordinator.Gateway) (moved int) {
	t.Helper()
	share := (int(partitions) + len(to) - 1) / len(to)
	for i := range topics {
		a, b := Leaders(topicID(i), partitions, from), Leaders(topicID(i), partitions, to)
		load := map[int32]int{}
		for p := range partitions {
			if !slices.ContainsFunc(to, func(g coordinator.Gateway) bool { return g.NodeID == b[p] }) {
				t.Fatalf("topic %d partition %d: leader %d is not live", i, p, b[p])
			}
			load[b[p]]++
			if a[p] != b[p] {
				moved++
			}
		}
		for node, n := range load {
			if n > share {
				t.Fatalf("topic %d: node %d leads %d of %d partitions, share %d", i, node, n, partitions, share)
			}
		}
	}
	return moved
}

// spreadOf counts a topic's partitions per rack and per gateway.
func spreadOf(leaders []int32, gws []coordinator.Gateway) (perRack map[string]int, perGateway map[int32]int) {
	rackOf := map[int32]string{}
	perRack, perGateway = map[string]int{}, map[int32]int{}
	for _, g := range gws {
		rackOf[g.NodeID] = g.Rack
		perRack[g.Rack] += 0
		perGateway[g.NodeID] += 0
	}
	for _, l := range leaders {
		perRack[rackOf[l]]++
		perGateway[l]++
	}
	return perRack, perGateway
}

func spreadWidth[K comparable](counts map[K]int, keep func(K) bool) int {
	lo, hi, any := 0, 0, false
	for k, n := range counts {
		if !keep(k) {
			continue
		}
		if !any || n < lo {
			lo = n
		}
		if !any || n > hi {
			hi = n
		}
		any = true
	}
	return hi - lo
}

// TestLeadersSpreadOverRacks: with racks of equal size, for every partition
// count from 1 to 1000, racks lead counts within one of each other, and so
// do the gateways of a rack; no gateway leads more than its fair share.
func TestLeadersSpreadOverRacks(t *testing.T) {
	for _, shape := range []struct{ racks, perRack int }{{3, 2}, {2, 1}, {2, 3}, {3, 3}, {4, 2}} {
		t.Run(fmt.Sprintf("%dx%d", shape.racks, shape.perRack), func(t *testing.T) {
			gws := racked(shape.racks, shape.perRack)
			for n := int32(1); n <= 1000; n++ {
				leaders := Leaders(topicID(int(n)), n, gws)
				perRack, perGateway := spreadOf(leaders, gws)
				if w := spreadWidth(perRack, func(string) bool { return true }); w > 1 {
					t.Fatalf("%d partitions: per rack %v", n, perRack)
				}
				for r := range shape.racks {
					inRack := func(id int32) bool { return (int(id)-1)/shape.perRack == r }
					if w := spreadWidth(perGateway, inRack); w > 1 {
						t.Fatalf("%d partitions: rack r%d's gateways lead %v", n, r, perGateway)
					}
				}
				share := (int(n) + len(gws) - 1) / len(gws)
				for id, c := range perGateway {
					if c > share {
						t.Fatalf("%d partitions: node %d leads %d, share %d", n, id, c, share)
					}
				}
			}
		})
	}
}

// TestLeadersUnequalRacks: racks of different sizes. No gateway leads more
// than its fair share; a rack leading two or more partitions fewer than
// another is at its cap (its gateways each lead their fair share); the
// gateways of a rack lead counts within one of each other.
func TestLeadersUnequalRacks(t *testing.T) {
	// r0: one gateway; r1: three; r2: two.
	gws := append(append(gateways("r0", 1), gateways("r1", 2, 3, 4)...), gateways("r2", 5, 6)...)
	size := map[string]int{"r0": 1, "r1": 3, "r2": 2}
	for n := int32(1); n <= 1000; n++ {
		leaders := Leaders(topicID(int(n)), n, gws)
		perRack, perGateway := spreadOf(leaders, gws)
		share := (int(n) + len(gws) - 1) / len(gws)
		for id, c := range perGateway {
			if c > share {
				t.Fatalf("%d partitions: node %d leads %d, share %d", n, id, c, share)
			}
		}
		for a, ca := range perRack {
			for _, cb := range perRack {
				if ca < cb-1 && ca != share*size[a] {
					t.Fatalf("%d partitions: rack %s is under its cap %d and leads %v", n, a, share*size[a], perRack)
				}
			}
			inRack := func(id int32) bool {
				return gws[slices.IndexFunc(gws, func(g coordinator.Gateway) bool { return g.NodeID == id })].Rack == a
			}
			if w := spreadWidth(perGateway, inRack); w > 1 {
				t.Fatalf("%d partitions: rack %s's gateways lead %v", n, a, perGateway)
			}
		}
	}
}

// TestLeadersRackMovement: in 3 racks of 2 gateways, a gateway leaving or
// joining, a whole rack going, or a rack appearing in a cluster without
// racks, moves not much more than the ideal (the share that must move), and
// no more than the rule without racks moves for the same change of gateways.
// Few partitions per gateway make tight quotas, and tight quotas move more
// than their share under either rule.
func TestLeadersRackMovement(t *testing.T) {
	const topics = 200
	six := racked(3, 2)
	five := without(six, 1) // r0 is left with node 2
	for _, partitions := range []int32{12, 60, 600} {
		total := topics * int(partitions)
		cases := []struct {
			name     string
			from, to []coordinator.Gateway
			ideal    int
		}{
			// The leaving gateway's sixth must move; no other partition
			// needs to.
			{"leave", six, five, total / 6},
			{"join", five, six, total / 6},
			{"leave another rack", six, without(six, 4), total / 6},
			// Rack r2 goes: its third moves.
			{"rack leaves", six, without(without(six, 5), 6), total / 3},
			// Three gateways without a rack, then a fourth in rack b: it
			// takes a quarter.
			{"rack appears", gateways("", 1, 2, 3), append(gateways("", 1, 2, 3), gateways("b", 4)...), total / 4},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%d/%s", partitions, c.name), func(t *testing.T) {
				got := moves(t, topics, partitions, c.from, c.to)
				norack := 0
				for i := range topics {
					a, b := legacyLeaders(topicID(i), partitions, unracked(c.from)), legacyLeaders(topicID(i), partitions, unracked(c.to))
					for p := range a {
						if a[p] != b[p] {
							norack++
						}
					}
				}
				t.Logf("moved %d of %d; ideal %d, without racks %d", got, total, c.ideal, norack)
				if bound := max(c.ideal*3/2, norack); got > bound {
					t.Errorf("moved %d partitions, ideal %d, without racks %d", got, c.ideal, norack)
				}
			})
		}
	}
}

func unracked(gws []coordinator.Gateway) []coordinator.Gateway {
	out := slices.Clone(gws)
	for i := range out {
		out[i].Rack = ""
	}
	return out
}
