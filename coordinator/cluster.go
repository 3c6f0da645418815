package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// clusterIDKey holds the cluster id in the counters bucket.
const clusterIDKey = "cluster-id"

// clusterSecretKey holds the secret gateways present to one another.
const clusterSecretKey = "cluster-secret"

// ClusterID returns the cluster's id, creating it on the first call against a
// fresh store. Every gateway of a cluster, and every restart, sees the same id,
// which clients compare to detect that they reached another cluster. The id is
// 16 random bytes in unpadded URL-safe base64, the shape of Kafka's ids.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	return s.createOnce(ctx, clusterIDKey, 16)
}

// ClusterSecret returns the secret the cluster's gateways present to one
// another on requests only a gateway may send (transaction markers),
// creating it on the first call: 32 random bytes in URL-safe base64. Anyone
// who can read the coordinator's buckets can read it, which is no more than
// they could do already.
func (s *Store) ClusterSecret(ctx context.Context) (string, error) {
	return s.createOnce(ctx, clusterSecretKey, 32)
}

// createOnce returns the value at key in the counters bucket, creating it
// from n random bytes if absent: the first writer wins and everyone reads
// its value.
func (s *Store) createOnce(ctx context.Context, key string, n int) (string, error) {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	v := base64.RawURLEncoding.EncodeToString(b)
	_, err := s.counters.Create(ctx, key, []byte(v))
	if err == nil {
		return v, nil
	}
	if !isCASMismatch(err) {
		return "", fmt.Errorf("create %s: %w", key, err)
	}
	// Another gateway, or an earlier run, created it first.
	e, err := s.counters.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return string(e.Value()), nil
}
