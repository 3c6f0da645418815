package acl

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Policy is the broker configuration a decision is made under.
type Policy struct {
	// SuperUsers are principals ("User:admin") allowed everything (Kafka's
	// super.users).
	SuperUsers []string
	// AllowEveryoneIfNoACLFound allows a request on a resource that no
	// binding applies to at all (Kafka's allow.everyone.if.no.acl.found).
	AllowEveryoneIfNoACLFound bool
}

// IsSuperUser reports whether principal is one of p's super users.
func (p Policy) IsSuperUser(principal string) bool {
	return slices.Contains(p.SuperUsers, principal)
}

// Resource is a concrete resource a request acts on: a type and a name
// ("kafka-cluster" for the CLUSTER).
type Resource struct {
	Type kmsg.ACLResourceType
	Name string
}

// Request is one action to decide: a principal, connected from Host (an IP
// address), performing Operation on Resource.
type Request struct {
	Principal string
	Host      string
	Operation kmsg.ACLOperation
	Resource  Resource
}

// supportedOperations are the operations Kafka reports in authorized
// operations bitfields for each resource type (AclEntry.supportedOperations).
var supportedOperations = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {
		kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeGroup: {
		kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeCluster: {
		kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
	},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe},
	kmsg.ACLResourceTypeUser:            {kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens},
}

// SupportedOperations returns the operations that apply to resources of type
// rt, as authorized operations bitfields list them. The slice is shared:
// callers must not change it.
func SupportedOperations(rt kmsg.ACLResourceType) []kmsg.ACLOperation {
	return supportedOperations[rt]
}

// entry is a binding as the index keeps it, its host in canonical form.
type entry struct {
	b    Binding
	host string
}

// verdict is what one entry says about a request.
type verdict int8

const (
	notApplicable verdict = iota
	allowed
	denied
)

// verdict applies e to a request from principal at host (canonical) for op,
// the resource having matched already (StandardAuthorizerData.findResult).
func (e *entry) verdict(principal, host string, op kmsg.ACLOperation) verdict {
	if e.b.Principal != principal && e.b.Principal != WildcardPrincipal {
		return notApplicable
	}
	if e.host != WildcardHost && e.host != host {
		return notApplicable
	}
	allow := e.b.Permission == kmsg.ACLPermissionTypeAllow
	if e.b.Operation != kmsg.ACLOperationAll && e.b.Operation != op && !(allow && implies(e.b.Operation, op)) {
		return notApplicable
	}
	if allow {
		return allowed
	}
	return denied
}

// implies reports whether an ALLOW of granted also allows op (KIP-86: the
// describe operations are implied by the operations that need them).
func implies(granted, op kmsg.ACLOperation) bool {
	switch op {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// decision gathers the verdicts of every binding that applies to a resource
// (StandardAuthorizerData's MatchingRuleBuilder).
type decision struct {
	// matched is set when any binding applies to the resource, whichever
	// principal, host or operation it names: then the default of
	// AllowEveryoneIfNoACLFound no longer applies.
	matched bool
	allowed bool
	denied  bool
}

func (d *decision) add(es []entry, principal, host string, op kmsg.ACLOperation) {
	for i := range es {
		d.matched = true
		switch es[i].verdict(principal, host, op) {
		case allowed:
			d.allowed = true
		case denied:
			d.denied = true
			return
		}
	}
}

func (d *decision) result(p Policy) bool {
	switch {
	case d.denied:
		return false
	case d.allowed:
		return true
	}
	return !d.matched && p.AllowEveryoneIfNoACLFound
}
