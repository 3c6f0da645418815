package schemaregistry

import (
	"slices"
	"testing"
)

// TestMessageIndexes reads the index paths Confluent's Protobuf
// serializers write (zig-zag varints: a count, then the indexes).
func TestMessageIndexes(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want []int
		ok   bool
	}{
		{[]byte{0, 0xff}, []int{0}, true},          // the short form of [0]
		{[]byte{2, 2, 0xff}, []int{1}, true},       // [1]
		{[]byte{4, 2, 0, 0xff}, []int{1, 0}, true}, // [1 0]
		{[]byte{6, 0x80, 0x01, 2, 4}, []int{64, 1, 2}, true},
		{nil, nil, false},
		{[]byte{4, 2}, nil, false},             // fewer indexes than counted
		{[]byte{1}, nil, false},                // negative count
		{[]byte{2, 1}, nil, false},             // negative index
		{[]byte{0xfe, 0x01}, nil, false},       // count over the cap
		{[]byte{0x80, 0x80, 0x80}, nil, false}, // truncated varint
	} {
		got, ok := messageIndexes(c.data)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("messageIndexes(%x) = %v, %v; want %v, %v", c.data, got, ok, c.want, c.ok)
		}
	}
}
