package coordinator

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// kvKey is what NATS KV accepts as a key (jetstream's keyValid).
var kvKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func validKVKey(k string) bool {
	return kvKey.MatchString(k) && !strings.HasPrefix(k, ".") && !strings.HasSuffix(k, ".") && !strings.Contains(k, "..")
}

func TestTopicKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, key string }{
		{"orders", "orders"},
		{"a.b", "a=2Eb"},
		{".a", "=2Ea"},
		{"a.", "a=2E"},
		{"a..b", "a=2E=2Eb"},
		{"...", "=2E=2E=2E"},
		{"_-_", "_-_"},
		{"Mixed.Case-1_2.x", "Mixed=2ECase-1_2=2Ex"},
		{strings.Repeat(".", 249), strings.Repeat("=2E", 249)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateTopicName(tc.name); err != nil {
				t.Fatalf("validateTopicName: %v", err)
			}
			key := topicKey(tc.name)
			if key != tc.key {
				t.Errorf("topicKey(%q) = %q, want %q", tc.name, key, tc.key)
			}
			if !validKVKey(key) {
				t.Errorf("topicKey(%q) = %q is not a valid KV key", tc.name, key)
			}
			got, err := topicName(key)
			if err != nil || got != tc.name {
				t.Errorf("topicName(%q) = %q, %v; want %q", key, got, err, tc.name)
			}
		})
	}
}

func TestTopicNameBadKeys(t *testing.T) {
	for _, key := range []string{"a=", "a=2", "a=ZZ", "=G0"} {
		if name, err := topicName(key); err == nil {
			t.Errorf("topicName(%q) = %q, want an error", key, name)
		}
	}
}

func TestValidateTopicName(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a b", "a/b", "a=b", "ä", strings.Repeat("a", 250)} {
		if err := validateTopicName(name); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("validateTopicName(%q) = %v, want ErrInvalidTopic", name, err)
		}
	}
	if err := validateTopicName(strings.Repeat("a", 249)); err != nil {
		t.Errorf("249 characters: %v", err)
	}
}

func TestKeysAreValidKVKeys(t *testing.T) {
	tp := index.TopicPartition{TopicID: [16]byte{0xab, 1}, Partition: 7}
	entries := []segment.IndexEntry{{Object: "o", BaseOffset: 10, LastOffset: 19}, {Object: "o", BaseOffset: 20, LastOffset: 29}}
	for _, k := range []string{partitionKey(tp), chunkKey(tp, entries)} {
		if !validKVKey(k) {
			t.Errorf("%q is not a valid KV key", k)
		}
	}
	if got, want := partitionKey(tp), "ab010000000000000000000000000000.7"; got != want {
		t.Errorf("partitionKey = %q, want %q", got, want)
	}
	k := chunkKey(tp, entries)
	if !strings.HasPrefix(k, "ab010000000000000000000000000000.7.10-29.") || len(k) != len("ab010000000000000000000000000000.7.10-29.")+16 {
		t.Errorf("chunkKey = %q", k)
	}
	if chunkKey(tp, entries) != k {
		t.Error("chunkKey is not deterministic")
	}
	changed := append([]segment.IndexEntry(nil), entries...)
	changed[1].Object = "p"
	if chunkKey(tp, changed) == k {
		t.Error("chunkKey ignores the object name")
	}
}

func TestNewTopicID(t *testing.T) {
	seen := make(map[[16]byte]bool)
	for range 1000 {
		id := newTopicID()
		if id == ([16]byte{}) || id[0]>>2 == 62 || id[6]>>4 != 4 {
			t.Fatalf("bad id %x", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %x", id)
		}
		seen[id] = true
	}
}
