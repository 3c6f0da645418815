package gateway

// FindCoordinator: v0-v4, JoinGroup: v0-v9, SyncGroup: v0-v5, Heartbeat: v0-v4,
// LeaveGroup: v0-v5, ListGroups: v0-v5, DescribeGroups: v0-v6, DeleteGroups: v0-v2
//
// Behavior:
//   - Classic consumer groups with any client-side assignor, eager or
//     cooperative (the protocol is the same on the broker), as in Kafka's
//     GroupCoordinator: see coordinator/group.
//   - FindCoordinator answers the gateway the live set assigns the group to
//     (cluster.go; v4 batches keys); group requests sent elsewhere get
//     NOT_COORDINATOR.
//   - JoinGroup v4+ requires a known member id (KIP-394): the first join gets
//     MEMBER_ID_REQUIRED with the id to use. v5+ static members (KIP-345): a
//     restart with the same group.instance.id and subscription keeps its
//     assignment without a rebalance, and fences the previous instance.
//   - Session timeouts must lie in [6 s, 30 min] (Kafka's group.min/max.
//     session.timeout.ms), else INVALID_SESSION_TIMEOUT.
//   - ListGroups and DescribeGroups include groups that only have committed
//     offsets, as Empty classic groups. ListGroups v5 gives each group's type,
//     "classic" or "consumer" (KIP-848), and filters by it. DescribeGroups
//     describes classic groups; for any other name v6 answers
//     GROUP_ID_NOT_FOUND and older versions the Dead state. DeleteGroups
//     refuses groups with members (NON_EMPTY_GROUP) and deletes the committed
//     offsets of the rest.
//
//   - Group membership and committed offsets are in the coordinator store
//     (Config.GroupStore, coordinator/group persist.go): after a gateway
//     restart members carry on with their generations, epochs and
//     assignments, without a rebalance.
//
//   - ACLs (authorize.go): FindCoordinator needs DESCRIBE on the group or
//     transactional id; JoinGroup, SyncGroup, Heartbeat and LeaveGroup READ
//     on the group; DescribeGroups DESCRIBE and DeleteGroups DELETE on each
//     group (GROUP_AUTHORIZATION_FAILED). ListGroups lists every group with
//     DESCRIBE on the cluster, else only the groups the principal may
//     DESCRIBE, and never fails for it. DescribeGroups v3+ reports the
//     authorized operations when asked.
//
// Deviations: after a restart or a coordinator move, ListGroups shows a group
// with stored members as Empty until one of its members' requests (or a
// describe) loads it. Transaction coordinators are not served yet
// (FindCoordinator for a transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator/group"
)

func (s *Server) handleFindCoordinator(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int16, int32, string, int32) {
		switch {
		case req.CoordinatorType == 0 && !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key):
			return kerr.GroupAuthorizationFailed.Code, -1, "", -1
		case req.CoordinatorType == 1 && !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key):
			return kerr.TransactionalIDAuthorizationFailed.Code, -1, "", -1
		case req.CoordinatorType == 1 && s.txns == nil:
			return kerr.TransactionalIDAuthorizationFailed.Code, -1, "", -1
		case req.CoordinatorType > 1 || key == "":
			return kerr.InvalidRequest.Code, -1, "", -1
		}
		node := s.view.coordinatorFor(key)
		for _, b := range s.brokers(c.ln) {
			if b.NodeID == node {
				return 0, b.NodeID, b.host, b.port
			}
		}
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = answer(req.CoordinatorKey)
		return respond(resp), nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.NodeID, c.Host, c.Port = answer(key)
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return respond(resp), nil
}

func (s *Server) handleJoinGroup(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return respond(resp), nil
	}
	rebalance := req.RebalanceTimeoutMillis
	if req.Version == 0 {
		rebalance = req.SessionTimeoutMillis
	}
	jr := group.JoinRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		InstanceID:           deref(req.InstanceID),
		ClientID:             c.clientID,
		ClientHost:           clientHost(c),
		ProtocolType:         req.ProtocolType,
		SessionTimeout:       time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:     time.Duration(rebalance) * time.Millisecond,
		RequireKnownMemberID: req.Version >= 4,
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	return func(ctx context.Context) kmsg.Response {
		res := s.groups.Join(ctx, jr)
		resp.ErrorCode = errorCode(res.Err)
		resp.MemberID = res.MemberID
		if res.Err != nil {
			return resp
		}
		resp.Generation, resp.LeaderID = res.Generation, res.Leader
		resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
		for _, m := range res.Members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
			if m.InstanceID != "" {
				rm.InstanceID = &m.InstanceID
			}
			resp.Members = append(resp.Members, rm)
		}
		return resp
	}, nil
}

func (s *Server) handleSyncGroup(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	sr := group.SyncRequest{
		Group: req.Group, MemberID: req.MemberID, InstanceID: deref(req.InstanceID), Generation: req.Generation,
		ProtocolType: req.ProtocolType, Protocol: req.Protocol,
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	return func(ctx context.Context) kmsg.Response {
		res := s.groups.Sync(ctx, sr)
		resp.ErrorCode = errorCode(res.Err)
		if res.Err == nil {
			resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
			resp.MemberAssignment = res.Assignment
		}
		return resp
	}, nil
}

func (s *Server) handleHeartbeat(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	resp.ErrorCode = errorCode(s.groups.Heartbeat(ctx, req.Group, req.MemberID, deref(req.InstanceID), req.Generation))
	return respond(resp), nil
}

func (s *Server) handleLeaveGroup(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	if req.Version < 3 {
		resp.ErrorCode = errorCode(s.groups.Leave(ctx, req.Group, []group.LeavingMember{{MemberID: req.MemberID}})[0])
		return respond(resp), nil
	}
	leaving := make([]group.LeavingMember, len(req.Members))
	for i, m := range req.Members {
		leaving[i] = group.LeavingMember{MemberID: m.MemberID, InstanceID: deref(m.InstanceID)}
	}
	for i, err := range s.groups.Leave(ctx, req.Group, leaving) {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = req.Members[i].MemberID, req.Members[i].InstanceID, errorCode(err)
		resp.Members = append(resp.Members, rm)
	}
	return respond(resp), nil
}

// groupSummaries returns every group this gateway knows: the live ones and
// those with only committed offsets (Empty, no protocol type).
func (s *Server) groupSummaries(ctx context.Context) (map[string]group.Summary, error) {
	groups := s.groups.Groups()
	withOffsets, err := s.cfg.Offsets.OffsetGroups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range withOffsets {
		if _, ok := groups[g]; !ok {
			groups[g] = group.Summary{State: group.Empty, Type: group.ClassicType}
		}
	}
	return groups, nil
}

func (s *Server) handleListGroups(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	groups, err := s.groupSummaries(ctx)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return respond(resp), nil
	}
	all := s.authorizeCluster(ctx, c, kmsg.ACLOperationDescribe)
	names := make([]string, 0, len(groups))
	for g := range groups {
		// Each gateway lists the groups it coordinates, as Kafka's brokers.
		if s.coordinates(g) && (all || s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g)) {
			names = append(names, g)
		}
	}
	slices.Sort(names)
	for _, g := range names {
		st := string(groups[g].State)
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(f string) bool { return strings.EqualFold(f, st) }) {
			continue
		}
		typ := groups[g].Type
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(f string) bool { return strings.EqualFold(f, typ) }) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g, groups[g].ProtocolType, st, typ
		resp.Groups = append(resp.Groups, rg)
	}
	return respond(resp), nil
}

func (s *Server) handleDescribeGroups(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		if !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = s.authorizedOps(ctx, c, kmsg.ACLResourceTypeGroup, name)
		}
		d, ok, err := s.groups.Describe(ctx, name)
		if err != nil {
			rg.ErrorCode, rg.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if !ok {
			// A group with only committed offsets is an Empty classic
			// group; a consumer-protocol group is described by
			// ConsumerGroupDescribe, and here is as one that does not
			// exist (as Kafka).
			_, consumer, _ := s.groups.ConsumerDescribe(ctx, name)
			rg.State = string(group.Dead)
			if topics, err := s.cfg.Offsets.OffsetTopics(ctx, name); !consumer && err == nil && len(topics) > 0 {
				rg.State = string(group.Empty)
			} else if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				rg.ErrorMessage = errorMessage(fmt.Errorf("group %q is not a classic group", name))
			}
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.State, rg.ProtocolType, rg.Protocol = string(d.State), d.ProtocolType, d.Protocol
		for _, m := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.ClientID, rm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
			if m.InstanceID != "" {
				rm.InstanceID = &m.InstanceID
			}
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return respond(resp), nil
}

func (s *Server) handleDeleteGroups(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		if !s.authorize(ctx, c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, name) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		err := s.groups.Delete(ctx, name)
		topics, lerr := s.cfg.Offsets.OffsetTopics(ctx, name)
		switch {
		case errors.Is(err, group.ErrNotEmpty):
		case lerr != nil:
			err = lerr
		case errors.Is(err, group.ErrGroupNotFound) && len(topics) == 0:
		default:
			err = s.cfg.Offsets.DeleteGroupOffsets(ctx, name)
		}
		rg.ErrorCode, rg.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Groups = append(resp.Groups, rg)
	}
	return respond(resp), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// clientHost is how Kafka shows a member's address: "/" and its IP.
func clientHost(c *conn) string {
	host, _, err := net.SplitHostPort(c.remote)
	if err != nil {
		return c.remote
	}
	return "/" + host
}
