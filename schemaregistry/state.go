package schemaregistry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// KV is the registry's storage: compare-and-swap writes on revisions, and a
// watch; coordinator.SchemaKV implements it.
type KV interface {
	// Get returns key's value and revision, revision 0 when absent.
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	// Put writes key if its revision is still prev (0: absent) and
	// returns the new revision and true; a lost race is false, no error.
	Put(ctx context.Context, key string, value []byte, prev uint64) (uint64, bool, error)
	// Delete removes key if its revision is still prev (true); a lost race
	// is false, no error.
	Delete(ctx context.Context, key string, prev uint64) (bool, error)
	// Watch calls fn with every record, then ("", nil, 0) once all stored
	// records are delivered, then every change (nil value: deleted), until
	// ctx ends.
	Watch(ctx context.Context, fn func(key string, value []byte, rev uint64)) error
}

// Records, as JSON under these keys (escape is coordinator.EscapeKey):
//
//	ids                      {"next": 7}                    the next schema id
//	schema.<id>              schemaRecord                   immutable once written
//	fp.<fingerprint>         {"id": 3}                      a schema's id by content
//	subject.<escape(name)>   subjectRecord                  its versions, by CAS
//	config | config.<escape> {"compatibilityLevel": "FULL"} global | subject level
//	mode | mode.<escape>     {"mode": "READONLY"}
//
// A schema's fingerprint is a SHA-256 over its type, canonical form and
// references, so the same schema registered under another subject reuses
// its id (Confluent's id semantics).
type schemaRecord struct {
	ID          int         `json:"id"`
	Type        string      `json:"schemaType,omitempty"`
	Schema      string      `json:"schema"`
	References  []reference `json:"references,omitempty"`
	Fingerprint string      `json:"fingerprint"`
}

type reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

type subjectRecord struct {
	Subject  string          `json:"subject"`
	Versions []subjectSchema `json:"versions"`
}

type subjectSchema struct {
	Version int  `json:"version"`
	ID      int  `json:"id"`
	Deleted bool `json:"deleted,omitempty"`
}

// live returns the versions not soft-deleted, or all with deleted.
func (r subjectRecord) live(deleted bool) []subjectSchema {
	var out []subjectSchema
	for _, v := range r.Versions {
		if deleted || !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

// cache is the gateway's copy of the registry's bucket, fed by the watch
// and by this gateway's own writes, each applied only if newer than what it
// holds. mu guards the maps; it is a leaf lock.
type cache struct {
	mu       sync.RWMutex
	revs     map[string]uint64
	schemas  map[int]schemaRecord
	fps      map[string]int
	subjects map[string]subjectRecord // by record key (subjectKey)
	settings map[string]string        // config and mode keys to their value
	synced   chan struct{}
	once     sync.Once
}

func newCache() *cache {
	return &cache{
		revs:     map[string]uint64{},
		schemas:  map[int]schemaRecord{},
		fps:      map[string]int{},
		subjects: map[string]subjectRecord{},
		settings: map[string]string{},
		synced:   make(chan struct{}),
	}
}

// apply records key's value at rev (nil: deleted), unless it holds a newer
// revision of it.
func (c *cache) apply(key string, value []byte, rev uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rev <= c.revs[key] {
		return nil
	}
	c.revs[key] = rev
	kind, _, _ := strings.Cut(key, ".")
	switch kind {
	case "schema":
		var r schemaRecord
		if value == nil {
			return nil // schemas are never deleted
		}
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		c.schemas[r.ID] = r
	case "fp":
		var r struct{ ID int }
		if value == nil || json.Unmarshal(value, &r) != nil {
			return fmt.Errorf("record %s: bad fingerprint record", key)
		}
		c.fps[strings.TrimPrefix(key, "fp.")] = r.ID
	case "subject":
		if value == nil {
			delete(c.subjects, key)
			return nil
		}
		var r subjectRecord
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		c.subjects[key] = r
	case "config", "mode":
		if value == nil {
			delete(c.settings, key)
			return nil
		}
		var r struct {
			Level string `json:"compatibilityLevel"`
			Mode  string `json:"mode"`
		}
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("record %s: %w", key, err)
		}
		c.settings[key] = r.Mode
		if kind == "config" {
			c.settings[key] = r.Level
		}
	}
	return nil
}

func (c *cache) schema(id int) (schemaRecord, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.schemas[id]
	return s, ok
}

// maxID is the highest schema id registered, 0 for none.
func (c *cache) maxID() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	highest := 0
	for id := range c.schemas {
		highest = max(highest, id)
	}
	return highest
}

func (c *cache) subject(name string) (subjectRecord, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.subjects[subjectKey(name)]
	return s, ok
}

func (c *cache) setting(key string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.settings[key]
	return v, ok
}

func (c *cache) fingerprint(fp string) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.fps[fp]
	return id, ok
}

func (c *cache) subjectNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.subjects))
	for _, r := range c.subjects {
		out = append(out, r.Subject)
	}
	return out
}

// fingerprintOf is a schema's identity for id reuse.
func fingerprintOf(typ, canonical string, refs []reference) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", typ, canonical)
	for _, r := range refs {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", r.Name, r.Subject, r.Version)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// errConflict is returned by the write helpers when a compare-and-swap lost:
// the caller reloads and tries again.
var errConflict = errors.New("schemaregistry: conflicting write")

func settingKey(kind, subject string) string {
	if subject == "" {
		return kind
	}
	return kind + "." + escape(subject)
}

func subjectKey(subject string) string { return "subject." + escape(subject) }
func schemaKey(id int) string          { return "schema." + strconv.Itoa(id) }

// escape writes s in the characters KV keys allow, reversibly: bytes other
// than [a-zA-Z0-9_-] become "=XX" (upper-case hex), as the coordinator
// writes topic names.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}
