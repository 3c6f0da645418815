package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// clusterIDKey holds the cluster id in the counters bucket.
const clusterIDKey = "cluster-id"

// ClusterID returns the cluster's id, creating it on the first call against a
// fresh store. Every gateway of a cluster, and every restart, sees the same id,
// which clients compare to detect that they reached another cluster. The id is
// 16 random bytes in unpadded URL-safe base64, the shape of Kafka's ids.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	id := base64.RawURLEncoding.EncodeToString(b[:])
	_, err := s.counters.Create(ctx, clusterIDKey, []byte(id))
	if err == nil {
		return id, nil
	}
	if !isCASMismatch(err) {
		return "", fmt.Errorf("create cluster id: %w", err)
	}
	// Another gateway, or an earlier run, created it first.
	e, err := s.counters.Get(ctx, clusterIDKey)
	if err != nil {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	return string(e.Value()), nil
}
