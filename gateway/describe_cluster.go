package gateway

// DescribeCluster: v0-v1
//
// Behavior: this gateway as the one broker and the controller; v1 endpoint type
// 1 (brokers) is the only one served, others get UNSUPPORTED_ENDPOINT_TYPE.
// Cluster authorized operations are not computed until ACLs exist.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeCluster(_ context.Context, _ *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return respond(resp), nil
	}
	resp.ClusterID = s.cfg.ClusterID
	resp.ControllerID = s.cfg.NodeID
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, s.host, s.port
	if s.cfg.Rack != "" {
		b.Rack = &s.cfg.Rack
	}
	resp.Brokers = append(resp.Brokers, b)
	return respond(resp), nil
}
