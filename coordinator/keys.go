package coordinator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// maxTopicNameLen is Kafka's limit on topic names (Topic.MAX_NAME_LENGTH in
// org.apache.kafka.common.internals.Topic).
const maxTopicNameLen = 249

// keyByteOK reports whether b stands for itself in an encoded topic key. KV
// keys allow [-/_=.a-zA-Z0-9] with no empty '.'-separated token; '.' is
// escaped (topic names may be ".a" or "a..b") and '=' is the escape character.
func keyByteOK(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// validateTopicName applies Kafka's rules (Topic.validate): 1 to 249
// characters from [a-zA-Z0-9._-], and not "." or "..".
func validateTopicName(name string) error {
	if name == "" || len(name) > maxTopicNameLen {
		return fmt.Errorf("topic name of %d characters, want 1..%d: %w", len(name), maxTopicNameLen, ErrInvalidTopic)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q: %w", name, ErrInvalidTopic)
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; !keyByteOK(b) && b != '.' {
			return fmt.Errorf("topic name %q: character %q not in [a-zA-Z0-9._-]: %w", name, b, ErrInvalidTopic)
		}
	}
	return nil
}

// topicKey encodes a topic name as a KV key: bytes other than [a-zA-Z0-9_-]
// become "=XX" (upper-case hex), so "a.b" is "a=2Eb". It is reversible for
// any string, and for valid topic names only '.' is escaped.
func topicKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keyByteOK(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// topicName decodes a key made by topicKey.
func topicName(key string) (string, error) {
	if !strings.Contains(key, "=") {
		return key, nil
	}
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != '=' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(key) {
			return "", fmt.Errorf("topic key %q: truncated escape", key)
		}
		v, err := strconv.ParseUint(key[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("topic key %q: bad escape: %w", key, err)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// partitionKey is the key of a partition's head record: "<topic id
// hex>.<partition>".
func partitionKey(tp index.TopicPartition) string {
	return hex.EncodeToString(tp.TopicID[:]) + "." + strconv.FormatInt(int64(tp.Partition), 10)
}

// chunkKey is the key of the chunk record holding entries, which must be
// non-empty: "<topic id hex>.<partition>.<first offset>-<last
// offset>.<hash>", where hash is 16 hex digits of a SHA-256 over every field
// of every entry. The same entries always get the same key, so rewriting a
// chunk after a crash is idempotent; different entries over the same offsets
// (after compaction) get a different key, so chunks are never overwritten.
func chunkKey(tp index.TopicPartition, entries []segment.IndexEntry) string {
	sum := entriesHash(entries)
	return fmt.Sprintf("%s.%d-%d.%s",
		partitionKey(tp), entries[0].BaseOffset, entries[len(entries)-1].LastOffset,
		hex.EncodeToString(sum[:8]))
}

// entriesHash hashes a fixed binary encoding of entries (JSON would be far
// slower, and the hash is recomputed for every chunk on every commit).
func entriesHash(entries []segment.IndexEntry) [sha256.Size]byte {
	h := sha256.New()
	buf := make([]byte, 0, 128)
	for i := range entries {
		e := &entries[i]
		buf = buf[:0]
		buf = binary.AppendUvarint(buf, uint64(len(e.Object)))
		buf = append(buf, e.Object...)
		buf = append(buf, e.TopicID[:]...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(e.Partition))
		for _, v := range [...]int64{e.BaseOffset, e.LastOffset, e.MaxTimestamp, e.Position, e.Length, e.Records} {
			buf = binary.BigEndian.AppendUint64(buf, uint64(v))
		}
		if e.Whole { // appended only when set, so older chunks keep their keys
			buf = append(buf, 1)
		}
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
