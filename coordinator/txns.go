package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Transactional ids live in the txns bucket: one record per id, as
// coordinator/txn encodes it, under the id's key encoded as topicKey does
// (ids are arbitrary strings). The records are opaque here. Every write is a
// compare-and-swap on the record's revision, so two gateways that both think
// they coordinate an id cannot both move its transaction on: the one that
// read an older revision fails with ErrConflict, reloads and decides again.

// maxTxnKeyBytes bounds a transactional id's key. A key travels in the
// subject of every message that writes it, and a NATS server closes a
// connection whose protocol line is longer than its max_control_line (4 KiB
// by default); 3 KiB leaves room for the rest of the line. Every id of up to
// 1 KiB fits, each byte escaping to at most three.
const maxTxnKeyBytes = 3 << 10

// TxnRecord is one stored transactional id record and its revision, the
// revision a SaveTxn or DeleteTxn of it compares against.
type TxnRecord struct {
	Data     []byte
	Revision uint64
}

// txnKey returns id's key: ErrTooLarge (wrapped) when it would not fit in a
// NATS protocol line, a plain error (a caller's bug) for an empty id.
func txnKey(id string) (string, error) {
	if id == "" {
		return "", errors.New("coordinator: empty transactional id")
	}
	key := topicKey(id)
	if len(key) > maxTxnKeyBytes {
		return "", fmt.Errorf("transactional id of %d bytes, key of %d bytes, limit %d: %w", len(id), len(key), maxTxnKeyBytes, ErrTooLarge)
	}
	return key, nil
}

// LoadTxn returns id's record and its revision; rev is 0 (and data nil)
// when there is none. It reads from the bucket's stream leader.
func (s *Store) LoadTxn(ctx context.Context, id string) (data []byte, rev uint64, err error) {
	key, err := txnKey(id)
	if err != nil {
		return nil, 0, fmt.Errorf("load transactional id: %w", err)
	}
	e, err := s.txns.Get(ctx, key)
	switch {
	case isNotFound(err):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("load transactional id %q: %w", id, err)
	}
	return e.Value(), e.Revision(), nil
}

// SaveTxn writes id's record on prevRev, the revision it was read at (0:
// create, when there was none), and returns the new revision. Errors:
// ErrConflict (wrapped) when the record moved on or, for a create, exists,
// which is not retried here: the caller's decision rests on what it read, so
// it reloads and decides again; ErrTooLarge for a record over RecordLimit or
// an id whose key is too long.
func (s *Store) SaveTxn(ctx context.Context, id string, data []byte, prevRev uint64) (uint64, error) {
	key, err := txnKey(id)
	if err != nil {
		return 0, fmt.Errorf("save transactional id: %w", err)
	}
	if len(data) > s.recordLimit {
		return 0, fmt.Errorf("save transactional id %q: %d bytes, limit %d: %w", id, len(data), s.recordLimit, ErrTooLarge)
	}
	var rev uint64
	if prevRev == 0 {
		rev, err = s.txns.Create(ctx, key, data)
	} else {
		rev, err = s.txns.Update(ctx, key, data, prevRev)
	}
	if isCASMismatch(err) {
		return 0, fmt.Errorf("save transactional id %q on revision %d: %w", id, prevRev, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("save transactional id %q: %w", id, err)
	}
	return rev, nil
}

// DeleteTxn removes id's record if it is still at prevRev (an expired id:
// one used since keeps its record); ErrConflict (wrapped) when it moved on
// or is already gone. prevRev 0 (no record was read) deletes nothing.
func (s *Store) DeleteTxn(ctx context.Context, id string, prevRev uint64) error {
	key, err := txnKey(id)
	if err != nil {
		return fmt.Errorf("delete transactional id: %w", err)
	}
	if prevRev == 0 {
		return nil
	}
	err = s.txns.Delete(ctx, key, jetstream.LastRevision(prevRev))
	if isCASMismatch(err) {
		return fmt.Errorf("delete transactional id %q on revision %d: %w", id, prevRev, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete transactional id %q: %w", id, err)
	}
	return nil
}

// Txns returns every stored transactional id record with its revision, by
// id: what a coordinator scans when it takes ids over (to finish Prepare*
// transactions) and for timeouts and expiry. It reads the bucket's stream in
// one pass (see listEntries); records written meanwhile may or may not be
// in it, and each is at the revision returned. A key that does not decode is
// ErrCorrupt.
func (s *Store) Txns(ctx context.Context) (map[string]TxnRecord, error) {
	entries, err := s.listEntries(ctx, s.txns, nil, false)
	if err != nil {
		return nil, fmt.Errorf("list transactional ids: %w", err)
	}
	out := make(map[string]TxnRecord, len(entries))
	for key, e := range entries {
		id, err := topicName(key)
		if err != nil || id == "" {
			return nil, corruptf("transactional id key %q: %v", key, err)
		}
		out[id] = TxnRecord{Data: e.Value(), Revision: e.Revision()}
	}
	return out, nil
}
