package gateway

// DescribeCluster: v0-v1
//
// Behavior: the live gateways as brokers, the lowest node id as the
// controller (there is none: the coordinator store decides); v1 endpoint type
// 1 (brokers) is the only one served, others get UNSUPPORTED_ENDPOINT_TYPE.
// Cluster authorized operations, when asked for, need DESCRIBE on the cluster
// (else 0), as Kafka's brokers answer; the request itself needs no
// permission there (see authorize.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeCluster(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return respond(resp), nil
	}
	resp.ClusterID = s.cfg.ClusterID
	for _, g := range s.brokers(c.ln) {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = g.NodeID, g.host, g.port, nonEmpty(g.Rack)
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ControllerID = resp.Brokers[0].NodeID
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = s.clusterAuthorizedOps(ctx, c)
	}
	return respond(resp), nil
}
