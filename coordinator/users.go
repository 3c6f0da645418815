package coordinator

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// SASL users live in the users bucket: one record per user and SCRAM
// mechanism, under "<mechanism>.<escaped user>", the user name escaped as a
// topic name is (topicKey), so that any name makes a valid key and the '.'
// after the mechanism is unambiguous. A record holds the salted credential
// (RFC 5802 §3: salt, iterations, StoredKey, ServerKey), never a password;
// the gateway's security/sasl checks logins against it. Every write is a
// compare-and-swap on the record's revision.

// maxUserKeyBytes bounds a user record's key, as maxTxnKeyBytes bounds a
// transactional id's: keys travel in NATS protocol lines, which a server
// refuses past 4 KiB. 3 KiB holds any user name of up to 1 KiB, each byte
// escaped to three, and 64 bytes more the mechanism.
const maxUserKeyBytes = 3<<10 + 64

// userRecordVersion is the users bucket's record format.
const userRecordVersion = 1

// UserCredential is one user's salted credential for one SCRAM mechanism.
type UserCredential struct {
	User string
	// Mechanism is the SCRAM mechanism, "SCRAM-SHA-256" or
	// "SCRAM-SHA-512"; the coordinator only checks that it fits in a key.
	Mechanism  string
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// userRecord is the stored form; user and mechanism are in the key. Byte
// fields are base64 in the JSON.
type userRecord struct {
	V          int    `json:"v"`
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// userKey returns the key of user's credential for mechanism: ErrTooLarge
// (wrapped) when it would not fit in a NATS protocol line, a plain error (a
// caller's bug) for an empty user or a mechanism that is not a key token.
func userKey(user, mechanism string) (string, error) {
	if user == "" {
		return "", errors.New("coordinator: empty user name")
	}
	if mechanism == "" || strings.IndexFunc(mechanism, func(r rune) bool { return r > 0x7f || !keyByteOK(byte(r)) }) >= 0 {
		return "", fmt.Errorf("coordinator: mechanism %q is not [-_a-zA-Z0-9]+", mechanism)
	}
	key := mechanism + "." + topicKey(user)
	if len(key) > maxUserKeyBytes {
		return "", fmt.Errorf("user name of %d bytes, key of %d bytes, limit %d: %w", len(user), len(key), maxUserKeyBytes, ErrTooLarge)
	}
	return key, nil
}

// parseUserKey splits a key made by userKey.
func parseUserKey(key string) (user, mechanism string, err error) {
	mechanism, escaped, ok := strings.Cut(key, ".")
	if !ok {
		return "", "", corruptf("user key %q has no mechanism", key)
	}
	user, err = topicName(escaped)
	if err != nil || user == "" {
		return "", "", corruptf("user key %q: %v", key, err)
	}
	return user, mechanism, nil
}

func decodeUser(key string, value []byte) (UserCredential, error) {
	user, mechanism, err := parseUserKey(key)
	if err != nil {
		return UserCredential{}, err
	}
	var r userRecord
	if err := json.Unmarshal(value, &r); err != nil {
		return UserCredential{}, corruptf("user record %s: %v", key, err)
	}
	if r.V != userRecordVersion {
		return UserCredential{}, corruptf("user record %s: version %d", key, r.V)
	}
	return UserCredential{User: user, Mechanism: mechanism, Salt: r.Salt, Iterations: r.Iterations, StoredKey: r.StoredKey, ServerKey: r.ServerKey}, nil
}

// UserCredential returns user's credential for mechanism, or false when
// there is none. It reads from the bucket's stream leader.
func (s *Store) UserCredential(ctx context.Context, user, mechanism string) (UserCredential, bool, error) {
	key, err := userKey(user, mechanism)
	if err != nil {
		return UserCredential{}, false, fmt.Errorf("read user credential: %w", err)
	}
	e, err := s.users.Get(ctx, key)
	switch {
	case isNotFound(err):
		return UserCredential{}, false, nil
	case err != nil:
		return UserCredential{}, false, fmt.Errorf("read %s credential of %q: %w", mechanism, user, err)
	}
	c, err := decodeUser(key, e.Value())
	if err != nil {
		return UserCredential{}, false, err
	}
	return c, true, nil
}

// UserCredentials returns the credentials of the given users, or of every
// user when none is given, sorted by user and mechanism. A user without
// credentials is not in the result. It reads the bucket's stream in one
// pass; records written meanwhile may or may not be in it.
func (s *Store) UserCredentials(ctx context.Context, users ...string) ([]UserCredential, error) {
	var filters []string
	for _, u := range users {
		// Any mechanism's key of the user: "*.<escaped user>".
		if _, err := userKey(u, "m"); err != nil {
			return nil, fmt.Errorf("list user credentials: %w", err)
		}
		filters = append(filters, "*."+topicKey(u))
	}
	recs, err := s.filteredRecords(ctx, s.users, filters)
	if err != nil {
		return nil, fmt.Errorf("list user credentials: %w", err)
	}
	out := make([]UserCredential, 0, len(recs))
	for key, value := range recs {
		c, err := decodeUser(key, value)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b UserCredential) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Mechanism, b.Mechanism))
	})
	return out, nil
}

// PutUserCredential creates or replaces c's user's credential for its
// mechanism, by compare-and-swap on the record's revision, retried as
// retryCAS does (the new value does not depend on the old one). Errors:
// ErrTooLarge for a user name whose key is too long, ErrConflict after
// losing too many races.
func (s *Store) PutUserCredential(ctx context.Context, c UserCredential) error {
	key, err := userKey(c.User, c.Mechanism)
	if err != nil {
		return fmt.Errorf("write user credential: %w", err)
	}
	data, err := s.encode(userRecord{V: userRecordVersion, Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey})
	if err != nil {
		return fmt.Errorf("write %s credential of %q: %w", c.Mechanism, c.User, err)
	}
	err = retryCAS(ctx, func() error {
		e, err := s.users.Get(ctx, key)
		switch {
		case isNotFound(err):
			// A deleted key keeps a tombstone at its revision: Create
			// takes it over, and fails if someone else wrote first.
			_, err = s.users.Create(ctx, key, data)
		case err != nil:
			return err
		default:
			_, err = s.users.Update(ctx, key, data, e.Revision())
		}
		if isCASMismatch(err) {
			return errCASLost
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s credential of %q: %w", c.Mechanism, c.User, err)
	}
	return nil
}

// DeleteUserCredential removes user's credential for mechanism, by
// compare-and-swap on its revision, and reports whether there was one.
func (s *Store) DeleteUserCredential(ctx context.Context, user, mechanism string) (bool, error) {
	key, err := userKey(user, mechanism)
	if err != nil {
		return false, fmt.Errorf("delete user credential: %w", err)
	}
	deleted := false
	err = retryCAS(ctx, func() error {
		e, err := s.users.Get(ctx, key)
		switch {
		case isNotFound(err):
			return nil
		case err != nil:
			return err
		}
		err = s.users.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if isCASMismatch(err) {
			return errCASLost
		}
		deleted = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete %s credential of %q: %w", mechanism, user, err)
	}
	return deleted, nil
}
