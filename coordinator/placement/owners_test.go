package placement

import (
	"fmt"
	"slices"
	"testing"
)

// TestCoordinatorsSpread: group coordinators are spread over the gateways,
// the same group maps to the same gateway whatever the order of the live
// set, and a gateway leaving moves only the groups it coordinated.
func TestCoordinatorsSpread(t *testing.T) {
	three := gateways("", 1, 2, 3)
	reversed := slices.Clone(three)
	slices.Reverse(reversed)
	count := map[int32]int{}
	for i := range 3000 {
		key := fmt.Sprint("group-", i)
		c := Coordinator(key, three)
		count[c]++
		if r := Coordinator(key, reversed); r != c {
			t.Fatalf("group %s: %d, and %d with the live set reversed", key, c, r)
		}
		if after := Coordinator(key, without(three, 3)); c != 3 && after != c {
			t.Fatalf("group %s moved from %d to %d when node 3 left", key, c, after)
		}
	}
	for node, n := range count {
		if n < 800 || n > 1200 {
			t.Errorf("node %d coordinates %d of 3000 groups", node, n)
		}
	}
}

// TestOwnersWithoutGateways: with no live gateway nothing has an owner.
func TestOwnersWithoutGateways(t *testing.T) {
	for name, got := range map[string]int32{
		"Coordinator": Coordinator("g", nil),
		"JobOwner":    JobOwner("gc", nil),
		"ReadReplica": ReadReplica([16]byte{1}, 0, "a", nil),
	} {
		if got != -1 {
			t.Errorf("%s with no live gateway: %d, want -1", name, got)
		}
	}
}

// TestJobOwner: a job's owner is stable, spread like coordinators, and
// chosen independently of the coordinator of a group of the same name.
func TestJobOwner(t *testing.T) {
	three := gateways("", 1, 2, 3)
	count := map[int32]int{}
	same := 0
	for i := range 3000 {
		key := fmt.Sprint("job-", i)
		o := JobOwner(key, three)
		if again := JobOwner(key, gateways("", 3, 2, 1)); again != o {
			t.Fatalf("job %s: owner %d, then %d", key, o, again)
		}
		count[o]++
		if o == Coordinator(key, three) {
			same++
		}
	}
	for node, n := range count {
		if n < 800 || n > 1200 {
			t.Errorf("node %d owns %d of 3000 jobs", node, n)
		}
	}
	// Independent choices among three agree a third of the time.
	if same < 800 || same > 1200 {
		t.Errorf("job owner and group coordinator of the same key agree %d of 3000 times", same)
	}
}

// TestReadReplica: a consumer's rack gets one of that rack's gateways, the
// reads of a topic spread over them, and a rack without gateways gets -1.
func TestReadReplica(t *testing.T) {
	gws := append(gateways("a", 1, 2), gateways("b", 3, 4)...)
	count := map[int32]int{}
	for p := range int32(1000) {
		r := ReadReplica([16]byte{9}, p, "b", gws)
		if r != 3 && r != 4 {
			t.Fatalf("partition %d: replica %d is not in rack b", p, r)
		}
		count[r]++
	}
	if count[3] < 400 || count[4] < 400 {
		t.Errorf("reads from rack b spread %v", count)
	}
	if r := ReadReplica([16]byte{9}, 0, "c", gws); r != -1 {
		t.Errorf("rack c has no gateway, replica %d", r)
	}
}
