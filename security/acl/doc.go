// Package acl is Kafka's ACL model and authorization decision, apart from
// where bindings are stored and from the wire protocol: Binding (Kafka's
// AclBinding), Filter (AclBindingFilter), and Set, an indexed set of bindings
// that answers Authorize, AuthorizeAny and AuthorizedOperations.
//
// It leaves to others: storing bindings (coordinator, one record each),
// keeping a Set current across gateways (gateway watches the store), and
// which operation each Kafka API needs (gateway/authorize.go).
//
// # Semantics
//
// The decision is Kafka's StandardAuthorizer
// (org.apache.kafka.metadata.authorizer.StandardAuthorizerData):
//
//   - A super user (Policy.SuperUsers, Kafka's super.users) is allowed
//     everything, whatever the bindings say.
//   - A binding applies to a resource when its type matches and its pattern
//     does: LITERAL by equal name, or the name "*" for every resource of the
//     type; PREFIXED when the resource's name starts with the binding's.
//   - It applies to a request when its principal is the request's or
//     "User:*", its host is the client's IP address or "*", and its
//     operation is the request's or ALL. An ALLOW of READ, WRITE, DELETE or
//     ALTER also allows DESCRIBE, and an ALLOW of ALTER_CONFIGS also allows
//     DESCRIBE_CONFIGS; a DENY implies nothing (a DENY of READ does not deny
//     DESCRIBE).
//   - DENY wins: any applicable DENY refuses, else any applicable ALLOW
//     allows. With neither, the request is refused, unless no binding of
//     any principal, host or operation applies to the resource at all: then
//     Policy.AllowEveryoneIfNoACLFound decides (Kafka's
//     allow.everyone.if.no.acl.found, default false).
//
// AuthorizeAny is Kafka's Authorizer.authorizeByResourceType: whether an
// operation is allowed on at least one resource of a type, which
// InitProducerId uses to let a producer that may WRITE some topic be
// idempotent.
//
// # Invariants
//
// A Set holds each binding at most once; every change that alters it moves
// its Generation on, so a decision cached under one generation is valid until
// the generation changes. Bindings are validated before they are stored
// (Binding.Validate); a Set indexes whatever it is given.
//
// # Locks
//
// Set.mu guards the index: readers (decisions, Bindings) share it, changes
// take it alone. It is a leaf: nothing else is locked while it is held, and it
// is never held across I/O.
//
// # Usage
//
//	var set acl.Set
//	set.Add(acl.Binding{
//		ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders-",
//		PatternType: kmsg.ACLResourcePatternTypePrefixed,
//		Principal: "User:alice", Host: "*",
//		Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow,
//	})
//	ok := set.Authorize(acl.Policy{}, acl.Request{
//		Principal: "User:alice", Host: "10.0.0.7", Operation: kmsg.ACLOperationDescribe,
//		Resource: acl.Resource{Type: kmsg.ACLResourceTypeTopic, Name: "orders-eu"},
//	}) // true: READ implies DESCRIBE, and "orders-" prefixes "orders-eu"
package acl
