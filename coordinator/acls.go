package coordinator

// ACL bindings (Kafka's AclBinding) live in "<prefix>_acls", one record per
// binding, so that every gateway enforces the same ACLs: each watches the
// bucket (WatchACLs) into its in-memory set. A binding's key is derived from
// its content, which makes creating a stored binding again a no-op and needs
// no read-modify-write: bindings are created with kv.Create and deleted by
// revision, never updated.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// aclVersion is the format version of ACL records.
const aclVersion = 1

// ACL is one stored ACL binding. The enumerations are Kafka's names
// ("TOPIC", "PREFIXED", "READ", "ALLOW"), not their wire numbers, so a record
// reads the same to any tool. The coordinator stores what it is given;
// validating a binding is its caller's job.
type ACL struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// aclRecord is an ACL as stored.
type aclRecord struct {
	V int `json:"v"`
	ACL
}

// aclKeyDomain starts the hashed encoding, so that the keys of a later
// encoding cannot collide with these.
const aclKeyDomain = "strata acl v1\x00"

// aclKey is a's key: 64 lower-case hex digits of a SHA-256 over its fields,
// each as a uvarint length and its bytes, in declaration order.
func aclKey(a ACL) string {
	h := sha256.New()
	h.Write([]byte(aclKeyDomain))
	var buf []byte
	for _, f := range [...]string{a.ResourceType, a.ResourceName, a.PatternType, a.Principal, a.Host, a.Operation, a.Permission} {
		buf = binary.AppendUvarint(buf[:0], uint64(len(f)))
		buf = append(buf, f...)
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CreateACL stores a and reports whether this call created it: creating a
// stored binding again succeeds and reports false. A record over
// RecordLimit fails with ErrTooLarge.
func (s *Store) CreateACL(ctx context.Context, a ACL) (bool, error) {
	key := aclKey(a)
	data, err := json.Marshal(aclRecord{V: aclVersion, ACL: a})
	if err != nil {
		return false, fmt.Errorf("encode acl %s: %w", key, err)
	}
	if len(data) > s.recordLimit {
		return false, fmt.Errorf("acl %s of %d bytes: %w", key, len(data), ErrTooLarge)
	}
	_, err = s.acls.Create(ctx, key, data)
	switch {
	case isCASMismatch(err):
		return false, nil // the key is the content: it is this binding
	case err != nil:
		return false, fmt.Errorf("create acl %s: %w", key, err)
	}
	return true, nil
}

// DeleteACL deletes the binding stored under key if its revision is still
// rev, and reports whether it did; a record deleted or rewritten since
// reports false and no error.
func (s *Store) DeleteACL(ctx context.Context, key string, rev uint64) (bool, error) {
	err := s.acls.Delete(ctx, key, jetstream.LastRevision(rev))
	switch {
	case isCASMismatch(err) || isNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("delete acl %s: %w", key, err)
	}
	return true, nil
}

// ACLRevision returns the revision of the ACL bucket's latest change. A
// watch that has delivered a change of at least this revision has seen
// every binding stored or deleted before the call.
func (s *Store) ACLRevision(ctx context.Context) (uint64, error) {
	st, err := s.acls.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("acl bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("acl bucket status: unexpected type %T", st)
	}
	return bs.StreamInfo().State.LastSeq, nil
}

// WatchACLs calls fn with every stored binding, then once with key "" to
// mark that they are all delivered, then with every change, in revision
// order, until ctx ends (nil) or the watch fails. A deleted binding comes
// with a nil ACL. A record that does not decode is logged as corrupt and
// delivered as a deletion of its key, so that no gateway keeps acting on
// what it said before.
func (s *Store) WatchACLs(ctx context.Context, fn func(key string, a *ACL, rev uint64)) error {
	return watchBucket(ctx, s.acls, "acls", s.log, func(e jetstream.KeyValueEntry) {
		switch {
		case e == nil:
			fn("", nil, 0)
		case e.Operation() != jetstream.KeyValuePut:
			fn(e.Key(), nil, e.Revision())
		default:
			a, err := decodeACL(e.Key(), e.Value())
			if err != nil {
				s.log.Error("corrupt acl record", "key", e.Key(), "revision", e.Revision(), "err", err)
				fn(e.Key(), nil, e.Revision())
				return
			}
			fn(e.Key(), &a, e.Revision())
		}
	})
}

// decodeACL decodes the record stored under key, which must be its
// binding's key.
func decodeACL(key string, data []byte) (ACL, error) {
	var r aclRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return ACL{}, corruptf("acl %s: %v", key, err)
	}
	if r.V != aclVersion {
		return ACL{}, corruptf("acl %s: format version %d, want %d", key, r.V, aclVersion)
	}
	if k := aclKey(r.ACL); k != key {
		return ACL{}, corruptf("acl %s: content hashes to %s", key, k)
	}
	return r.ACL, nil
}
