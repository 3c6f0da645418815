package gateway

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// API keys the connection code needs by name.
const (
	produceKey     = 0
	apiVersionsKey = 18
)

// handler runs the in-order part of serving a request (see conn) and returns
// the reply. A returned error closes the connection.
type handler func(s *Server, ctx context.Context, c *conn, req kmsg.Request) (reply, error)

// api is one supported request type: its key, the versions served, and the
// handler. ApiVersions is built from this table, so what is advertised is
// exactly what is implemented.
type api struct {
	key      int16
	min, max int16
	handle   handler
}

// apis is the version table, in key order. Each handler's file header says what
// the versions mean and where Strata deviates from Kafka. init builds it because
// the ApiVersions handler reads it, which a plain initializer cannot express.
var apis []api

func init() {
	apis = []api{
		{key: 0, min: 3, max: 11, handle: (*Server).handleProduce},
		{key: 1, min: 4, max: 16, handle: (*Server).handleFetch},
		{key: 2, min: 0, max: 8, handle: (*Server).handleListOffsets},
		{key: 3, min: 0, max: 12, handle: (*Server).handleMetadata},
		{key: 8, min: 0, max: 9, handle: (*Server).handleOffsetCommit},
		{key: 9, min: 0, max: 9, handle: (*Server).handleOffsetFetch},
		{key: 10, min: 0, max: 4, handle: (*Server).handleFindCoordinator},
		{key: 11, min: 0, max: 9, handle: (*Server).handleJoinGroup},
		{key: 12, min: 0, max: 4, handle: (*Server).handleHeartbeat},
		{key: 13, min: 0, max: 5, handle: (*Server).handleLeaveGroup},
		{key: 14, min: 0, max: 5, handle: (*Server).handleSyncGroup},
		{key: 15, min: 0, max: 6, handle: (*Server).handleDescribeGroups},
		{key: 16, min: 0, max: 5, handle: (*Server).handleListGroups},
		{key: 17, min: 0, max: 1, handle: (*Server).handleSASLHandshake},
		{key: 18, min: 0, max: 3, handle: (*Server).handleApiVersions},
		{key: 19, min: 0, max: 7, handle: (*Server).handleCreateTopics},
		{key: 20, min: 0, max: 6, handle: (*Server).handleDeleteTopics},
		{key: 21, min: 0, max: 2, handle: (*Server).handleDeleteRecords},
		{key: 22, min: 0, max: 4, handle: (*Server).handleInitProducerID},
		{key: 23, min: 0, max: 4, handle: (*Server).handleOffsetForLeaderEpoch},
		{key: 24, min: 0, max: 5, handle: (*Server).handleAddPartitionsToTxn},
		{key: 25, min: 0, max: 4, handle: (*Server).handleAddOffsetsToTxn},
		{key: 26, min: 0, max: 5, handle: (*Server).handleEndTxn},
		{key: 27, min: 0, max: 1, handle: (*Server).handleWriteTxnMarkers},
		{key: 28, min: 0, max: 5, handle: (*Server).handleTxnOffsetCommit},
		{key: 29, min: 0, max: 3, handle: (*Server).handleDescribeACLs},
		{key: 30, min: 0, max: 3, handle: (*Server).handleCreateACLs},
		{key: 31, min: 0, max: 3, handle: (*Server).handleDeleteACLs},
		{key: 32, min: 0, max: 4, handle: (*Server).handleDescribeConfigs},
		{key: 33, min: 0, max: 2, handle: (*Server).handleAlterConfigs},
		{key: 36, min: 0, max: 2, handle: (*Server).handleSASLAuthenticate},
		{key: 37, min: 0, max: 3, handle: (*Server).handleCreatePartitions},
		{key: 42, min: 0, max: 2, handle: (*Server).handleDeleteGroups},
		{key: 44, min: 0, max: 1, handle: (*Server).handleIncrementalAlterConfigs},
		{key: 47, min: 0, max: 0, handle: (*Server).handleOffsetDelete},
		{key: 48, min: 0, max: 1, handle: (*Server).handleDescribeClientQuotas},
		{key: 49, min: 0, max: 1, handle: (*Server).handleAlterClientQuotas},
		{key: 50, min: 0, max: 0, handle: (*Server).handleDescribeUserSCRAMCredentials},
		{key: 51, min: 0, max: 0, handle: (*Server).handleAlterUserSCRAMCredentials},
		{key: 60, min: 0, max: 1, handle: (*Server).handleDescribeCluster},
		{key: 61, min: 0, max: 0, handle: (*Server).handleDescribeProducers},
		{key: 65, min: 0, max: 0, handle: (*Server).handleDescribeTransactions},
		{key: 66, min: 0, max: 1, handle: (*Server).handleListTransactions},
		{key: 68, min: 0, max: 1, handle: (*Server).handleConsumerGroupHeartbeat},
		{key: 69, min: 0, max: 1, handle: (*Server).handleConsumerGroupDescribe},
	}
}

func apiByKey(key int16) (api, bool) {
	i, ok := slices.BinarySearchFunc(apis, key, func(a api, k int16) int { return int(a.key) - int(k) })
	if !ok {
		return api{}, false
	}
	return apis[i], true
}
