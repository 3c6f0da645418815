package gateway

// Authorization: Kafka ACLs on every API.
//
// Behavior:
//   - With Config.Authorizer nil nothing is checked, as a Kafka broker
//     without authorizer.class.name, and the ACL APIs answer
//     SECURITY_DISABLED.
//   - Otherwise each API checks what Kafka's broker checks (KafkaApis and
//     ControllerApis; the "Operations and resources on protocols" table of
//     Kafka's authorization documentation), at the level Kafka answers:
//     TOPIC_AUTHORIZATION_FAILED per topic or partition,
//     GROUP_AUTHORIZATION_FAILED per group, TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//     for the transaction, CLUSTER_AUTHORIZATION_FAILED for the request. Each
//     handler's check sits at the top of its loop over resources and names
//     the operation.
//   - Super users (Config.SuperUsers, Kafka's super.users) are allowed
//     everything; a resource no ACL names is closed unless
//     Config.AllowEveryoneIfNoACLFound. The decision itself is security/acl.
//   - The principal is the connection's (AnonymousPrincipal until it
//     authenticates) and the host its client's IP address.
//   - Requests from the cluster's other gateways (their client id carries
//     the cluster secret, see peers.go) are trusted with WriteTxnMarkers, as
//     a broker's own principal holds CLUSTER_ACTION in Kafka.
//   - Listings leave out what the principal may not describe rather than
//     fail: Metadata for all topics, ListGroups (without DESCRIBE on the
//     cluster), OffsetFetch for all topics, ListTransactions,
//     DescribeTransactions' topics.
//
// Decisions are cached per connection (aclCache), keyed by operation and
// resource and dropped when the Authorizer's generation moves, so a produce
// request of many batches to one topic decides once, and a change of ACLs
// applies to the very next request.
//
// Deviations: DescribeCluster needs no permission (as Kafka's brokers: only
// its authorized operations need DESCRIBE on the cluster, else they are 0),
// although Kafka's table lists DESCRIBE; regex subscriptions of
// consumer-protocol members are not filtered by topic DESCRIBE.

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/security/acl"
)

// Authorizer decides what a principal may do (Kafka's Authorizer). It is
// safe for concurrent use; an *acl.Set is one, over a fixed set of bindings.
// An Authorizer whose ACLs can be changed through the Kafka protocol also
// implements ACLAdmin.
type Authorizer interface {
	// Authorize decides r under p.
	Authorize(p acl.Policy, r acl.Request) bool
	// AuthorizeAny reports whether r's operation is allowed on at least
	// one resource of r's type (Kafka's authorizeByResourceType).
	AuthorizeAny(p acl.Policy, r acl.Request) bool
	// Generation changes whenever the bindings do: a decision made under
	// one generation holds until it changes.
	Generation() uint64
}

// ACLAdmin is an Authorizer's optional capability to change and list its
// bindings, which CreateAcls, DescribeAcls and DeleteAcls use. Bindings and
// filters reach it validated.
type ACLAdmin interface {
	// CreateACLs stores each binding, idempotently, and returns each one's
	// error; once it returns, decisions on this gateway apply them.
	CreateACLs(ctx context.Context, bs []acl.Binding) []error
	// DescribeACLs returns the bindings f matches, including every one
	// created or deleted (on any gateway) before the call.
	DescribeACLs(ctx context.Context, f acl.Filter) ([]acl.Binding, error)
	// DeleteACLs deletes the bindings each filter matches and returns
	// them, each with its error; error is for the whole request. Once it
	// returns, decisions on this gateway no longer apply them.
	DeleteACLs(ctx context.Context, fs []acl.Filter) ([][]ACLDeletion, error)
}

// ACLDeletion is a binding a DeleteAcls filter matched, and why deleting it
// failed, if it did.
type ACLDeletion struct {
	Binding acl.Binding
	Err     error
}

// clusterResource is the one CLUSTER resource.
var clusterResource = acl.Resource{Type: kmsg.ACLResourceTypeCluster, Name: acl.ClusterName}

func (s *Server) aclPolicy() acl.Policy {
	return acl.Policy{SuperUsers: s.cfg.SuperUsers, AllowEveryoneIfNoACLFound: s.cfg.AllowEveryoneIfNoACLFound}
}

// authorize reports whether c's principal may perform op on the resource;
// always true without an Authorizer. ctx is the connection's: its cache of
// decisions lives as long as it.
func (s *Server) authorize(ctx context.Context, c *conn, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return s.decide(ctx, c, aclKey{op: op, rt: rt, name: name})
}

// authorizeCluster is authorize on the CLUSTER.
func (s *Server) authorizeCluster(ctx context.Context, c *conn, op kmsg.ACLOperation) bool {
	return s.authorize(ctx, c, op, clusterResource.Type, clusterResource.Name)
}

// authorizeAny reports whether c's principal may perform op on at least one
// resource of type rt.
func (s *Server) authorizeAny(ctx context.Context, c *conn, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	return s.decide(ctx, c, aclKey{op: op, rt: rt, anyName: true})
}

func (s *Server) decide(ctx context.Context, c *conn, k aclKey) bool {
	a := s.cfg.Authorizer
	if a == nil {
		return true
	}
	principal := c.Principal()
	p := s.aclPolicy()
	if p.IsSuperUser(principal) {
		return true
	}
	cache := &c.acls
	// The generation is read before deciding: a decision cached under it
	// reflects bindings at least that new.
	gen := a.Generation()
	if ok, hit := cache.lookup(principal, gen, k); hit {
		return ok
	}
	r := acl.Request{Principal: principal, Host: c.host, Operation: k.op, Resource: acl.Resource{Type: k.rt, Name: k.name}}
	var ok bool
	if k.anyName {
		ok = a.AuthorizeAny(p, r)
	} else {
		ok = a.Authorize(p, r)
	}
	if !ok {
		s.cfg.Logger.Debug("not authorized", "remote", c.remote, "principal", principal,
			"operation", k.op, "resource_type", k.rt, "resource", k.name, "any", k.anyName)
	}
	cache.store(principal, gen, k, ok)
	return ok
}

// authorizedOps is the authorized operations bitfield of a resource, as
// Metadata, DescribeGroups and ConsumerGroupDescribe report it: every
// operation the resource supports without an Authorizer, as Kafka.
func (s *Server) authorizedOps(ctx context.Context, c *conn, rt kmsg.ACLResourceType, name string) int32 {
	var bits int32
	for _, op := range acl.SupportedOperations(rt) {
		if s.authorize(ctx, c, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// clusterAuthorizedOps is the cluster's authorized operations bitfield:
// 0 without DESCRIBE on the cluster, as Kafka's brokers answer.
func (s *Server) clusterAuthorizedOps(ctx context.Context, c *conn) int32 {
	if !s.authorizeCluster(ctx, c, kmsg.ACLOperationDescribe) {
		return 0
	}
	return s.authorizedOps(ctx, c, clusterResource.Type, clusterResource.Name)
}

// deniedCode is the error for an operation refused on a resource of type rt.
func deniedCode(rt kmsg.ACLResourceType) int16 {
	switch rt {
	case kmsg.ACLResourceTypeTopic:
		return kerr.TopicAuthorizationFailed.Code
	case kmsg.ACLResourceTypeGroup:
		return kerr.GroupAuthorizationFailed.Code
	case kmsg.ACLResourceTypeTransactionalId:
		return kerr.TransactionalIDAuthorizationFailed.Code
	}
	return kerr.ClusterAuthorizationFailed.Code
}

// aclKey is what a cached decision is about.
type aclKey struct {
	op      kmsg.ACLOperation
	rt      kmsg.ACLResourceType
	name    string
	anyName bool // authorizeAny: any resource of the type
}

// maxCachedDecisions bounds a connection's cache: a client touching more
// resources than this (a metadata request for every topic of a large
// cluster) starts over rather than growing it.
const maxCachedDecisions = 4096

// aclCache is one connection's decisions under one generation of the
// Authorizer and one principal. Its mutex guards its fields: the requests of
// a connection run concurrently.
type aclCache struct {
	mu        sync.Mutex
	gen       uint64
	principal string
	decisions map[aclKey]bool
}

func (c *aclCache) lookup(principal string, gen uint64, k aclKey) (ok, hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.principal != principal {
		return false, false
	}
	ok, hit = c.decisions[k]
	return ok, hit
}

func (c *aclCache) store(principal string, gen uint64, k aclKey, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.principal != principal || len(c.decisions) >= maxCachedDecisions {
		c.gen, c.principal, c.decisions = gen, principal, make(map[aclKey]bool)
	}
	c.decisions[k] = ok
}
