package gateway

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/security/acl"
	"github.com/stratalog/strata/tiered/batch"
)

// The ACL matrix: scenarios (a set of ACLs, a principal and the address it
// connects from) times actions (one request each, on a fixed resource), each
// case answered allowed or denied by a real gateway to a real franz-go client
// authenticated by its certificate. What each scenario allows is written out
// by hand from Kafka's documented semantics (the authorization docs'
// "Operations and resources on protocols" table and AclAuthorizer's rules:
// DENY wins, literal/wildcard/prefix patterns, "User:*", hosts, ALL, READ,
// WRITE, DELETE and ALTER implying DESCRIBE, ALTER_CONFIGS implying
// DESCRIBE_CONFIGS, super users, allow.everyone.if.no.acl.found), not
// computed by the code under test.
//
// The resources: topics orders, orders-eu and payments (one partition each);
// group g1; transactional id tx-1; the cluster.

// matrixAction is one request, on a fixed resource, whose answer shows the
// authorization decision.
type matrixAction struct {
	name string
	// needs is what Kafka requires, for the reader (the expectations are
	// the scenarios' lists, not derived from this).
	needs string
	req   func(e *aclEnv) kmsg.Request
	// code is the error code that carries the decision.
	code func(kmsg.Response) int16
}

func matrixActions(t testing.TB) []matrixAction {
	records := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(1, 10)})
	produce := func(topic string) func(*aclEnv) kmsg.Request {
		return func(*aclEnv) kmsg.Request { return produceRequest(topic, 0, 1, records) }
	}
	produceCode := func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }
	metadata := func(topic string) func(*aclEnv) kmsg.Request {
		return func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			return req
		}
	}
	metadataCode := func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }
	topicConfig := func(typ kmsg.ConfigResourceType, name string) func(*aclEnv) kmsg.Request {
		return func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = typ, name
			req.Resources = append(req.Resources, rr)
			return req
		}
	}
	describeConfigsCode := func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }
	findCoordinator := func(typ int8, key string) func(*aclEnv) kmsg.Request {
		return func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = typ, key, []string{key}
			return req
		}
	}
	findCoordinatorCode := func(r kmsg.Response) int16 {
		resp := r.(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) > 0 {
			return resp.Coordinators[0].ErrorCode
		}
		return resp.ErrorCode
	}
	initProducerID := func(txnID *string) func(*aclEnv) kmsg.Request {
		return func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60000
			return req
		}
	}
	initProducerIDCode := func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }

	return []matrixAction{
		{name: "produce", needs: "WRITE topic orders", req: produce("orders"), code: produceCode},
		{name: "produce-pay", needs: "WRITE topic payments", req: produce("payments"), code: produceCode},
		{name: "fetch", needs: "READ topic orders", req: func(e *aclEnv) kmsg.Request {
			req := kmsg.NewPtrFetchRequest()
			req.MaxBytes = 1 << 20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "orders", e.srv.topicID(e.t, "orders")
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 {
			resp := r.(*kmsg.FetchResponse)
			if resp.ErrorCode != 0 {
				return resp.ErrorCode
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}},
		{name: "offsets", needs: "DESCRIBE topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "orders"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "meta", needs: "DESCRIBE topic orders", req: metadata("orders"), code: metadataCode},
		{name: "meta-eu", needs: "DESCRIBE topic orders-eu", req: metadata("orders-eu"), code: metadataCode},
		{name: "create", needs: "CREATE cluster or topic orders-new", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.ValidateOnly, req.TimeoutMillis = true, 5000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "orders-new", 1, -1
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }},
		{name: "delrec", needs: "DELETE topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.TimeoutMillis = 5000
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "orders"
			rt.Partitions = append(rt.Partitions, kmsg.NewDeleteRecordsRequestTopicPartition())
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "descconf", needs: "DESCRIBE_CONFIGS topic orders", req: topicConfig(kmsg.ConfigResourceTypeTopic, "orders"), code: describeConfigsCode},
		{name: "alterconf", needs: "ALTER_CONFIGS topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			req.ValidateOnly = true
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op, c.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("3600000")
			rr.Configs = append(rr.Configs, c)
			req.Resources = append(req.Resources, rr)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode }},
		{name: "parts", needs: "ALTER cluster or topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.ValidateOnly, req.TimeoutMillis = true, 5000
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "orders", 3
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }},
		{name: "producers", needs: "READ topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = "orders", []int32{0}
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 {
			return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
		}},
		{name: "commit", needs: "READ group g1 and topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.Generation = "g1", -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = "orders"
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "ofetch", needs: "DESCRIBE group g1 and topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrOffsetFetchRequest()
			req.Group = "g1"
			req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "orders", Partitions: []int32{0}}}
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = "g1"
			g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "orders", Partitions: []int32{0}}}
			req.Groups = append(req.Groups, g)
			return req
		}, code: func(r kmsg.Response) int16 {
			resp := r.(*kmsg.OffsetFetchResponse)
			if len(resp.Groups) > 0 {
				if g := resp.Groups[0]; g.ErrorCode != 0 || len(g.Topics) == 0 {
					return g.ErrorCode
				}
				return resp.Groups[0].Topics[0].Partitions[0].ErrorCode
			}
			if resp.ErrorCode != 0 {
				return resp.ErrorCode
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}},
		{name: "join", needs: "READ group g1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group, req.ProtocolType = "g1", "consumer"
			req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata = "range", []byte{}
			req.Protocols = append(req.Protocols, p)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{name: "hb", needs: "READ group g1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrHeartbeatRequest()
			req.Group, req.MemberID, req.Generation = "g1", "nobody", 1
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{name: "dgroups", needs: "DESCRIBE group g1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{"g1"}
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{name: "delgroup", needs: "DELETE group g1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{"g1"}
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{name: "findgrp", needs: "DESCRIBE group g1", req: findCoordinator(0, "g1"), code: findCoordinatorCode},
		{name: "odelete", needs: "DELETE group g1 and READ topic orders", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrOffsetDeleteRequest()
			req.Group = "g1"
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = "orders"
			rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 {
			resp := r.(*kmsg.OffsetDeleteResponse)
			if resp.ErrorCode != 0 || len(resp.Topics) == 0 {
				return resp.ErrorCode
			}
			return resp.Topics[0].Partitions[0].ErrorCode
		}},
		{name: "initpid-idem", needs: "IDEMPOTENT_WRITE cluster, or WRITE on some topic", req: initProducerID(nil), code: initProducerIDCode},
		{name: "initpid-txn", needs: "WRITE transactional id tx-1", req: initProducerID(kmsg.StringPtr("tx-1")), code: initProducerIDCode},
		{name: "findtxn", needs: "DESCRIBE transactional id tx-1", req: findCoordinator(1, "tx-1"), code: findCoordinatorCode},
		{name: "endtxn", needs: "WRITE transactional id tx-1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID, req.ProducerID = "tx-1", 999999
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }},
		{name: "addoffsets", needs: "WRITE transactional id tx-1 and READ group g1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.Group = "tx-1", 999999, "g1"
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }},
		{name: "desctxn", needs: "DESCRIBE transactional id tx-1", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{"tx-1"}
			return req
		}, code: func(r kmsg.Response) int16 {
			return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
		}},
		{name: "descacls", needs: "DESCRIBE cluster", req: func(*aclEnv) kmsg.Request {
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
			req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode }},
		{name: "createacls", needs: "ALTER cluster", req: func(*aclEnv) kmsg.Request {
			// An invalid binding: allowed is INVALID_REQUEST, and no
			// ACL changes under the scenario.
			req := kmsg.NewPtrCreateACLsRequest()
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "x", kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = aclAlice, "not-an-address", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			req.Creations = append(req.Creations, c)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode }},
		{name: "brokerconf", needs: "DESCRIBE_CONFIGS cluster", req: topicConfig(kmsg.ConfigResourceTypeBroker, "0"), code: describeConfigsCode},
	}
}

// matrixScenario is a set of ACLs and who asks; allowed lists, by hand, the
// actions Kafka's semantics allow it.
type matrixScenario struct {
	name     string
	everyone bool // on the gateway with allow.everyone.if.no.acl.found
	grants   []acl.Binding
	cn       string // the client certificate's common name
	source   string // the client's address; "" is 127.0.0.1
	allowed  []string
	all      bool // every action allowed
}

func grant(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) acl.Binding {
	return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func matrixScenarios() []matrixScenario {
	const (
		topic, group, cluster, txn = kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster, kmsg.ACLResourceTypeTransactionalId
		lit, pre                   = kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
		allow, deny                = kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny
		kc                         = acl.ClusterName
	)
	op := struct {
		all, read, write, create, del, alter, describe, clusterAction, describeConfigs, alterConfigs, idempotentWrite kmsg.ACLOperation
	}{kmsg.ACLOperationAll, kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
		kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite}
	alice, bob := aclAlice, aclBob
	topicAdminOrders := []string{"produce", "fetch", "offsets", "meta", "create", "delrec", "descconf", "alterconf", "parts", "producers", "meta-eu", "initpid-idem"}
	return []matrixScenario{
		{name: "no acls", cn: "alice"},
		{name: "read literal topic", cn: "alice",
			grants:  []acl.Binding{grant(topic, "orders", lit, alice, "*", op.read, allow)},
			allowed: []string{"fetch", "offsets", "meta", "producers"}},
		{name: "write literal topic", cn: "alice",
			grants:  []acl.Binding{grant(topic, "orders", lit, alice, "*", op.write, allow)},
			allowed: []string{"produce", "offsets", "meta", "initpid-idem"}},
		{name: "all on a prefix", cn: "alice",
			grants:  []acl.Binding{grant(topic, "orders", pre, alice, "*", op.all, allow)},
			allowed: topicAdminOrders},
		{name: "all on a prefix, literal write denied", cn: "alice",
			grants: []acl.Binding{grant(topic, "orders", pre, alice, "*", op.all, allow), grant(topic, "orders", lit, alice, "*", op.write, deny)},
			// DENY WRITE takes produce only; DESCRIBE stays (a DENY implies
			// nothing), and idempotence through the prefix's WRITE stays
			// (a literal DENY does not cover a prefix ALLOW).
			allowed: []string{"fetch", "offsets", "meta", "create", "delrec", "descconf", "alterconf", "parts", "producers", "meta-eu", "initpid-idem"}},
		{name: "consumer of a group", cn: "alice",
			grants:  []acl.Binding{grant(group, "g1", lit, alice, "*", op.read, allow), grant(topic, "orders", lit, alice, "*", op.read, allow)},
			allowed: []string{"fetch", "offsets", "meta", "producers", "commit", "ofetch", "join", "hb", "dgroups", "findgrp"}},
		{name: "wildcard principal and resource", cn: "alice",
			grants:  []acl.Binding{grant(topic, "*", lit, "User:*", "*", op.read, allow)},
			allowed: []string{"fetch", "offsets", "meta", "producers", "meta-eu"}},
		{name: "host-restricted grant, other host", cn: "alice",
			grants: []acl.Binding{grant(topic, "orders", lit, alice, "127.0.0.2", op.read, allow)}},
		{name: "host-restricted grant, its host", cn: "alice", source: "127.0.0.2",
			grants:  []acl.Binding{grant(topic, "orders", lit, alice, "127.0.0.2", op.read, allow)},
			allowed: []string{"fetch", "offsets", "meta", "producers"}},
		{name: "deny from a host, connecting from it", cn: "alice",
			grants: []acl.Binding{grant(topic, "*", lit, "User:*", "*", op.all, allow), grant(topic, "orders", lit, alice, "127.0.0.1", op.read, deny)},
			allowed: []string{"produce", "offsets", "meta", "create", "delrec", "descconf", "alterconf", "parts", "meta-eu",
				"produce-pay", "initpid-idem"}},
		{name: "deny from a host, connecting from another", cn: "alice", source: "127.0.0.2",
			grants:  []acl.Binding{grant(topic, "*", lit, "User:*", "*", op.all, allow), grant(topic, "orders", lit, alice, "127.0.0.1", op.read, deny)},
			allowed: append(slices.Clone(topicAdminOrders), "produce-pay")},
		{name: "cluster operations", cn: "alice",
			grants: []acl.Binding{
				grant(cluster, kc, lit, alice, "*", op.alter, allow), grant(cluster, kc, lit, alice, "*", op.describe, allow),
				grant(cluster, kc, lit, alice, "*", op.idempotentWrite, allow), grant(cluster, kc, lit, alice, "*", op.create, allow),
				grant(cluster, kc, lit, alice, "*", op.describeConfigs, allow),
			},
			allowed: []string{"create", "parts", "initpid-idem", "descacls", "createacls", "brokerconf"}},
		{name: "all on the cluster", cn: "alice",
			grants:  []acl.Binding{grant(cluster, kc, lit, alice, "*", op.all, allow)},
			allowed: []string{"create", "parts", "initpid-idem", "descacls", "createacls", "brokerconf"}},
		{name: "transactional producer", cn: "alice",
			grants: []acl.Binding{
				grant(txn, "tx-1", lit, alice, "*", op.write, allow), grant(topic, "orders", lit, alice, "*", op.write, allow),
				grant(group, "g1", lit, alice, "*", op.read, allow),
			},
			allowed: []string{"produce", "offsets", "meta", "initpid-idem", "initpid-txn", "findtxn", "endtxn", "addoffsets", "desctxn",
				"join", "hb", "dgroups", "findgrp", "ofetch"}},
		{name: "describe on a transactional id prefix", cn: "alice",
			grants:  []acl.Binding{grant(txn, "tx-", pre, alice, "*", op.describe, allow)},
			allowed: []string{"findtxn", "desctxn"}},
		{name: "describe one topic, alter configs of another", cn: "alice",
			grants:  []acl.Binding{grant(topic, "orders", lit, alice, "*", op.describe, allow), grant(topic, "orders-eu", lit, alice, "*", op.alterConfigs, allow)},
			allowed: []string{"offsets", "meta"}},
		{name: "alter configs implies describe configs only", cn: "alice",
			grants:  []acl.Binding{grant(topic, "orders", lit, alice, "*", op.alterConfigs, allow)},
			allowed: []string{"descconf", "alterconf"}},
		{name: "group delete and topic read", cn: "alice",
			grants:  []acl.Binding{grant(group, "g1", lit, alice, "*", op.del, allow), grant(topic, "orders", lit, alice, "*", op.read, allow)},
			allowed: []string{"fetch", "offsets", "meta", "producers", "delgroup", "odelete", "dgroups", "findgrp", "ofetch"}},
		{name: "group read for everyone, denied to bob", cn: "bob",
			grants:  []acl.Binding{grant(group, "g1", lit, "User:*", "*", op.read, allow), grant(group, "g1", lit, bob, "*", op.read, deny)},
			allowed: []string{"dgroups", "findgrp"}},
		{name: "another principal's grants", cn: "bob",
			grants: []acl.Binding{
				grant(topic, "*", lit, alice, "*", op.all, allow), grant(group, "*", lit, alice, "*", op.all, allow),
				grant(cluster, kc, lit, alice, "*", op.all, allow), grant(txn, "*", lit, alice, "*", op.all, allow),
			}},
		{name: "super user despite denials", cn: "admin", all: true,
			grants: []acl.Binding{
				grant(topic, "*", lit, "User:*", "*", op.all, deny), grant(group, "*", lit, "User:*", "*", op.all, deny),
				grant(cluster, kc, lit, "User:*", "*", op.all, deny), grant(txn, "*", lit, "User:*", "*", op.all, deny),
			}},
		{name: "allow everyone, no acls", everyone: true, cn: "alice", all: true},
		{name: "allow everyone, another principal's acl on the topic", everyone: true, cn: "alice",
			grants: []acl.Binding{grant(topic, "orders", lit, bob, "*", op.read, allow)},
			// orders has an ACL, so it is closed to alice; the rest has
			// none and is open.
			allowed: []string{"produce-pay", "meta-eu", "create", "parts", "join", "hb", "dgroups", "delgroup", "findgrp",
				"initpid-idem", "initpid-txn", "findtxn", "endtxn", "addoffsets", "desctxn", "descacls", "createacls", "brokerconf"}},
		{name: "allow everyone, a prefixed deny", everyone: true, cn: "alice",
			grants: []acl.Binding{grant(topic, "pay", pre, alice, "*", op.write, deny)},
			allowed: []string{"produce", "fetch", "offsets", "meta", "meta-eu", "create", "delrec", "descconf", "alterconf", "parts",
				"producers", "commit", "ofetch", "join", "hb", "dgroups", "delgroup", "findgrp", "odelete", "initpid-idem", "initpid-txn",
				"findtxn", "endtxn", "addoffsets", "desctxn", "descacls", "createacls", "brokerconf"}},
	}
}

// authorizationCode reports whether code is a refusal by ACLs.
func authorizationCode(code int16) bool {
	switch code {
	case kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code,
		kerr.ClusterAuthorizationFailed.Code, kerr.TransactionalIDAuthorizationFailed.Code:
		return true
	}
	return false
}

// matrixResult is one case's outcome.
type matrixResult struct {
	scenario, action string
	want, got        bool
	code             int16
}

// runMatrix runs every case; envFor picks the gateway and setACLs installs a
// scenario's ACLs (nil: leave the gateway's authorizer as it is).
func runMatrix(t *testing.T, envFor func(matrixScenario) *aclEnv, setACLs bool) []matrixResult {
	ctx := t.Context()
	actions := matrixActions(t)
	names := map[string]bool{}
	for _, a := range actions {
		names[a.name] = true
	}
	var out []matrixResult
	for _, sc := range matrixScenarios() {
		for _, n := range sc.allowed {
			if !names[n] {
				t.Fatalf("scenario %q allows unknown action %q", sc.name, n)
			}
		}
		e := envFor(sc)
		if setACLs {
			e.setACLs(ctx, sc.grants)
		}
		for _, a := range actions {
			resp, err := e.request(ctx, sc.cn, sc.source, a.req(e))
			if err != nil {
				t.Fatalf("%s / %s: %v", sc.name, a.name, err)
			}
			code := a.code(resp)
			out = append(out, matrixResult{scenario: sc.name, action: a.name, code: code,
				want: sc.all || slices.Contains(sc.allowed, a.name), got: !authorizationCode(code)})
		}
	}
	return out
}

func prepareMatrixEnv(t *testing.T, e *aclEnv) {
	for _, name := range []string{"orders", "orders-eu", "payments"} {
		createTestTopic(t, e.srv, name, 1, nil)
	}
}

// TestACLMatrix runs the matrix against gateways with an ACLAuthorizer and
// expects 0 mismatches; then, as a negative control, against a gateway
// whose authorizer grants nothing (no ACLs, no super user, no
// allow-everyone), where every case the matrix expects allowed must show up
// as a mismatch: the matrix would catch an authorizer that refuses too much,
// and since the control's answers are all refusals, one that allows too
// much shows in the first run's denied cases.
func TestACLMatrix(t *testing.T) {
	ca := testenv.NewCA(t, "acl-test-ca")
	strict := newACLEnv(t, ca, nil, nil)
	everyone := newACLEnv(t, ca, nil, func(c *Config) { c.AllowEveryoneIfNoACLFound = true })
	for _, e := range []*aclEnv{strict, everyone} {
		prepareMatrixEnv(t, e)
	}
	results := runMatrix(t, func(sc matrixScenario) *aclEnv {
		if sc.everyone {
			return everyone
		}
		return strict
	}, true)
	mismatches, allowed := 0, 0
	for _, r := range results {
		if r.want {
			allowed++
		}
		if r.want != r.got {
			mismatches++
			t.Errorf("%s / %s: allowed=%v (%v), want allowed=%v", r.scenario, r.action, r.got, kerr.ErrorForCode(r.code), r.want)
		}
	}
	t.Logf("ACL matrix: %d cases (%d scenarios), %d expected allowed, %d expected denied: %d mismatches",
		len(results), len(matrixScenarios()), allowed, len(results)-allowed, mismatches)
	if len(results) < 200 {
		t.Fatalf("the matrix has %d cases, want at least 200", len(results))
	}
	if allowed == 0 || allowed == len(results) {
		t.Fatalf("the matrix expects %d of %d cases allowed: it must test both outcomes", allowed, len(results))
	}

	// The negative control.
	control := newACLEnv(t, ca, func(*backend) Authorizer { return &acl.Set{} }, func(c *Config) { c.SuperUsers = nil })
	prepareMatrixEnv(t, control)
	controlResults := runMatrix(t, func(matrixScenario) *aclEnv { return control }, false)
	detected, leaked := 0, 0
	for _, r := range controlResults {
		switch {
		case r.want && !r.got:
			detected++
		case r.got:
			leaked++
			t.Errorf("control: %s / %s allowed (%v) by an authorizer that grants nothing", r.scenario, r.action, kerr.ErrorForCode(r.code))
		}
	}
	t.Logf("negative control (no grants): %d of %d expected-allowed cases detected as mismatches, %d allowed", detected, allowed, leaked)
	if detected != allowed {
		t.Fatalf("the control detected %d of the %d expected-allowed cases", detected, allowed)
	}
}
