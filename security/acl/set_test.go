package acl

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Shorthands for the tables.
const (
	topic   = kmsg.ACLResourceTypeTopic
	group   = kmsg.ACLResourceTypeGroup
	cluster = kmsg.ACLResourceTypeCluster
	txnID   = kmsg.ACLResourceTypeTransactionalId

	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed

	allow = kmsg.ACLPermissionTypeAllow
	deny  = kmsg.ACLPermissionTypeDeny

	opAll             = kmsg.ACLOperationAll
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opClusterAction   = kmsg.ACLOperationClusterAction
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
)

func bind(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func req(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) Request {
	return Request{Principal: principal, Host: host, Operation: op, Resource: Resource{Type: rt, Name: name}}
}

const alice, bob, admin = "User:alice", "User:bob", "User:admin"

// TestAuthorize checks Kafka's documented decision, case by case.
func TestACLAuthorize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bindings []Binding
		policy   Policy
		req      Request
		want     bool
	}{
		{"no acls: denied", nil, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"no acls, allow everyone", nil, Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"super user, no acls", nil, Policy{SuperUsers: []string{admin}}, req(admin, "10.0.0.1", opAlter, cluster, ClusterName), true},
		{"super user beats deny", []Binding{bind(topic, "*", literal, "User:*", "*", opAll, deny)},
			Policy{SuperUsers: []string{admin}}, req(admin, "10.0.0.1", opWrite, topic, "orders"), true},
		{"super user list is exact", nil, Policy{SuperUsers: []string{"User:Admin"}}, req(admin, "10.0.0.1", opRead, topic, "t"), false},

		{"literal allow", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"literal other name", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "payments"), false},
		{"literal is not a prefix", []Binding{bind(topic, "ord", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"literal other type", []Binding{bind(group, "orders", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"wildcard literal", []Binding{bind(topic, "*", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "anything"), true},
		{"wildcard is literal only", []Binding{bind(topic, "*", prefixed, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "anything"), false},
		{"prefixed", []Binding{bind(topic, "orders-", prefixed, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders-eu"), true},
		{"prefixed equal name", []Binding{bind(topic, "orders", prefixed, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"prefixed longer than name", []Binding{bind(topic, "orders-", prefixed, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"prefixed not a prefix", []Binding{bind(topic, "pay", prefixed, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"prefix is case sensitive", []Binding{bind(topic, "Ord", prefixed, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},

		{"other principal", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow)}, Policy{}, req(bob, "10.0.0.1", opRead, topic, "orders"), false},
		{"wildcard principal", []Binding{bind(topic, "orders", literal, "User:*", "*", opRead, allow)}, Policy{}, req(bob, "10.0.0.1", opRead, topic, "orders"), true},
		{"other principal type is no wildcard", []Binding{bind(topic, "orders", literal, "Group:*", "*", opRead, allow)}, Policy{}, req(bob, "10.0.0.1", opRead, topic, "orders"), false},
		{"host exact", []Binding{bind(topic, "orders", literal, alice, "10.0.0.1", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"host other", []Binding{bind(topic, "orders", literal, alice, "10.0.0.2", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"host ipv6 spellings", []Binding{bind(topic, "orders", literal, alice, "0:0:0:0:0:0:0:1", opRead, allow)}, Policy{}, req(alice, "::1", opRead, topic, "orders"), true},
		{"host ipv4-mapped", []Binding{bind(topic, "orders", literal, alice, "10.0.0.1", opRead, allow)}, Policy{}, req(alice, "::ffff:10.0.0.1", opRead, topic, "orders"), true},

		{"all allows any op", []Binding{bind(topic, "orders", literal, alice, "*", opAll, allow)}, Policy{}, req(alice, "10.0.0.1", opAlterConfigs, topic, "orders"), true},
		{"deny all denies describe", []Binding{bind(topic, "orders", literal, alice, "*", opAll, deny), bind(topic, "orders", literal, alice, "*", opDescribe, allow)},
			Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), false},
		{"other op", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opWrite, topic, "orders"), false},
		{"read implies describe", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), true},
		{"write implies describe", []Binding{bind(topic, "orders", literal, alice, "*", opWrite, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), true},
		{"delete implies describe", []Binding{bind(topic, "orders", literal, alice, "*", opDelete, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), true},
		{"alter implies describe", []Binding{bind(topic, "orders", literal, alice, "*", opAlter, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), true},
		{"create does not imply describe", []Binding{bind(topic, "orders", literal, alice, "*", opCreate, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), false},
		{"alter configs implies describe configs", []Binding{bind(topic, "orders", literal, alice, "*", opAlterConfigs, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribeConfigs, topic, "orders"), true},
		{"alter does not imply describe configs", []Binding{bind(topic, "orders", literal, alice, "*", opAlter, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribeConfigs, topic, "orders"), false},
		{"describe implies nothing", []Binding{bind(topic, "orders", literal, alice, "*", opDescribe, allow)}, Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"deny read does not deny describe", []Binding{bind(topic, "orders", literal, alice, "*", opRead, deny), bind(topic, "orders", literal, alice, "*", opDescribe, allow)},
			Policy{}, req(alice, "10.0.0.1", opDescribe, topic, "orders"), true},
		{"deny alter configs does not deny describe configs", []Binding{bind(topic, "orders", literal, alice, "*", opAlterConfigs, deny), bind(topic, "*", literal, alice, "*", opDescribeConfigs, allow)},
			Policy{}, req(alice, "10.0.0.1", opDescribeConfigs, topic, "orders"), true},

		{"deny wins over allow", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow), bind(topic, "orders", literal, alice, "*", opRead, deny)},
			Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"prefixed deny wins over literal allow", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow), bind(topic, "ord", prefixed, alice, "*", opRead, deny)},
			Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"wildcard deny wins", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow), bind(topic, "*", literal, "User:*", "*", opRead, deny)},
			Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"deny other host does not apply", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow), bind(topic, "orders", literal, alice, "10.9.9.9", opRead, deny)},
			Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"deny from host applies", []Binding{bind(topic, "orders", literal, "User:*", "*", opRead, allow), bind(topic, "orders", literal, alice, "10.0.0.1", opRead, deny)},
			Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"deny other principal does not apply", []Binding{bind(topic, "orders", literal, alice, "*", opRead, allow), bind(topic, "orders", literal, bob, "*", opRead, deny)},
			Policy{}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},

		{"allow everyone: resource with others' acls is closed", []Binding{bind(topic, "orders", literal, bob, "*", opRead, allow)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"allow everyone: other op's acl closes the resource", []Binding{bind(topic, "orders", literal, alice, "*", opWrite, allow)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"allow everyone: other host's acl closes the resource", []Binding{bind(topic, "orders", literal, alice, "10.9.9.9", opRead, allow)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"allow everyone: prefix acl closes the resource", []Binding{bind(topic, "ord", prefixed, bob, "*", opRead, allow)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},
		{"allow everyone: other resource's acl does not", []Binding{bind(topic, "payments", literal, bob, "*", opRead, allow)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"allow everyone: other type's acl does not", []Binding{bind(group, "orders", literal, bob, "*", opRead, allow)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), true},
		{"allow everyone: deny still denies", []Binding{bind(topic, "orders", literal, alice, "*", opRead, deny)},
			Policy{AllowEveryoneIfNoACLFound: true}, req(alice, "10.0.0.1", opRead, topic, "orders"), false},

		{"cluster", []Binding{bind(cluster, ClusterName, literal, alice, "*", opIdempotentWrite, allow)}, Policy{}, req(alice, "10.0.0.1", opIdempotentWrite, cluster, ClusterName), true},
		{"transactional id prefix", []Binding{bind(txnID, "app-", prefixed, alice, "*", opWrite, allow)}, Policy{}, req(alice, "10.0.0.1", opDescribe, txnID, "app-1"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Set
			for _, b := range tc.bindings {
				if err := b.Validate(); err != nil {
					t.Fatalf("test binding %v: %v", b, err)
				}
				s.Add(b)
			}
			if got := s.Authorize(tc.policy, tc.req); got != tc.want {
				t.Fatalf("Authorize(%+v) = %v, want %v", tc.req, got, tc.want)
			}
		})
	}
}

// TestAuthorizeAny follows Kafka's AuthorizerTest cases for
// authorizeByResourceType.
func TestACLAuthorizeAny(t *testing.T) {
	w := req(alice, "10.0.0.1", opWrite, topic, "")
	for _, tc := range []struct {
		name     string
		bindings []Binding
		policy   Policy
		want     bool
	}{
		{"nothing", nil, Policy{}, false},
		{"nothing, allow everyone", nil, Policy{AllowEveryoneIfNoACLFound: true}, true},
		{"super user", nil, Policy{SuperUsers: []string{alice}}, true},
		{"literal allow", []Binding{bind(topic, "t1", literal, alice, "*", opWrite, allow)}, Policy{}, true},
		{"all allows write", []Binding{bind(topic, "t1", literal, alice, "*", opAll, allow)}, Policy{}, true},
		{"read is not write", []Binding{bind(topic, "t1", literal, alice, "*", opRead, allow)}, Policy{}, false},
		{"other principal", []Binding{bind(topic, "t1", literal, bob, "*", opWrite, allow)}, Policy{}, false},
		{"wildcard principal", []Binding{bind(topic, "t1", literal, "User:*", "*", opWrite, allow)}, Policy{}, true},
		{"other host", []Binding{bind(topic, "t1", literal, alice, "10.0.0.2", opWrite, allow)}, Policy{}, false},
		{"other type", []Binding{bind(group, "t1", literal, alice, "*", opWrite, allow)}, Policy{}, false},
		{"literal allow, literal deny", []Binding{bind(topic, "t1", literal, alice, "*", opWrite, allow), bind(topic, "t1", literal, alice, "*", opWrite, deny)}, Policy{}, false},
		{"literal allow, other literal deny", []Binding{bind(topic, "t1", literal, alice, "*", opWrite, allow), bind(topic, "t2", literal, alice, "*", opWrite, deny)}, Policy{}, true},
		{"literal allow, prefix deny", []Binding{bind(topic, "t1", literal, alice, "*", opWrite, allow), bind(topic, "t", prefixed, alice, "*", opWrite, deny)}, Policy{}, false},
		{"prefix allow, longer prefix deny", []Binding{bind(topic, "a", prefixed, alice, "*", opWrite, allow), bind(topic, "ab", prefixed, alice, "*", opWrite, deny)}, Policy{}, true},
		{"prefix allow, shorter prefix deny", []Binding{bind(topic, "ab", prefixed, alice, "*", opWrite, allow), bind(topic, "a", prefixed, alice, "*", opWrite, deny)}, Policy{}, false},
		{"prefix allow, literal deny", []Binding{bind(topic, "ab", prefixed, alice, "*", opWrite, allow), bind(topic, "ab", literal, alice, "*", opWrite, deny)}, Policy{}, true},
		{"wildcard allow", []Binding{bind(topic, "*", literal, alice, "*", opWrite, allow)}, Policy{}, true},
		{"wildcard deny", []Binding{bind(topic, "t1", literal, alice, "*", opWrite, allow), bind(topic, "*", literal, alice, "*", opWrite, deny)}, Policy{}, false},
		{"wildcard allow and deny", []Binding{bind(topic, "*", literal, alice, "*", opWrite, allow), bind(topic, "*", literal, alice, "*", opWrite, deny)}, Policy{}, false},
		{"allow everyone, acls elsewhere", []Binding{bind(topic, "t1", literal, bob, "*", opWrite, allow)}, Policy{AllowEveryoneIfNoACLFound: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Set
			for _, b := range tc.bindings {
				s.Add(b)
			}
			if got := s.AuthorizeAny(tc.policy, w); got != tc.want {
				t.Fatalf("AuthorizeAny = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestACLAuthorizedOperations(t *testing.T) {
	var s Set
	s.Add(bind(topic, "orders", literal, alice, "*", opRead, allow))
	s.Add(bind(topic, "orders", literal, alice, "*", opAlterConfigs, allow))
	s.Add(bind(topic, "orders", literal, alice, "*", opCreate, allow))
	s.Add(bind(topic, "orders", literal, alice, "*", opCreate, deny))
	got := s.AuthorizedOperations(Policy{}, req(alice, "10.0.0.1", 0, topic, "orders"))
	want := int32(1<<opRead | 1<<opDescribe | 1<<opAlterConfigs | 1<<opDescribeConfigs)
	if got != want {
		t.Fatalf("topic ops = %b, want %b", got, want)
	}
	all := s.AuthorizedOperations(Policy{SuperUsers: []string{admin}}, req(admin, "10.0.0.1", 0, group, "g"))
	if want := int32(1<<opRead | 1<<opDescribe | 1<<opDelete | 1<<opDescribeConfigs | 1<<opAlterConfigs); all != want {
		t.Fatalf("super user group ops = %b, want %b", all, want)
	}
	if got := s.AuthorizedOperations(Policy{}, req(bob, "10.0.0.1", 0, cluster, ClusterName)); got != 0 {
		t.Fatalf("no grants: %b, want 0", got)
	}
}

func TestACLSetChanges(t *testing.T) {
	var s Set
	b := bind(topic, "ord", prefixed, alice, "*", opRead, allow)
	r := req(alice, "10.0.0.1", opRead, topic, "orders")
	g0 := s.Generation()
	if !s.Add(b) || s.Add(b) {
		t.Fatal("Add: want true, then false for the same binding")
	}
	g1 := s.Generation()
	if g1 == g0 || s.Len() != 1 {
		t.Fatalf("after Add: generation %d (was %d), len %d", g1, g0, s.Len())
	}
	if !s.Authorize(Policy{}, r) {
		t.Fatal("prefix binding not applied")
	}
	if s.Remove(bind(topic, "ord", literal, alice, "*", opRead, allow)) {
		t.Fatal("Remove of an absent binding reported true")
	}
	if s.Generation() != g1 {
		t.Fatal("a no-op changed the generation")
	}
	if !s.Remove(b) || s.Len() != 0 || s.Generation() == g1 {
		t.Fatal("Remove did not remove, or kept the generation")
	}
	if s.Authorize(Policy{}, r) {
		t.Fatal("removed prefix binding still applies")
	}
	s.Replace([]Binding{bind(topic, "orders", literal, alice, "*", opRead, allow), bind(group, "g", literal, alice, "*", opRead, allow)})
	if s.Len() != 2 || !s.Authorize(Policy{}, r) {
		t.Fatal("Replace did not install its bindings")
	}
	got := s.Bindings(Filter{ResourceType: group, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
	if len(got) != 1 || got[0].ResourceName != "g" {
		t.Fatalf("Bindings(group) = %v", got)
	}
}

// reference is the decision written out naively, straight from Kafka's
// documentation, with no index: the indexed Set must agree with it.
func reference(bs []Binding, p Policy, r Request) bool {
	if p.IsSuperUser(r.Principal) {
		return true
	}
	host, _ := canonicalHost(r.Host)
	matched, allowedAny := false, false
	for _, b := range bs {
		if b.ResourceType != r.Resource.Type {
			continue
		}
		switch b.PatternType {
		case literal:
			if b.ResourceName != r.Resource.Name && b.ResourceName != "*" {
				continue
			}
		case prefixed:
			if !strings.HasPrefix(r.Resource.Name, b.ResourceName) {
				continue
			}
		}
		matched = true
		bh, _ := canonicalHost(b.Host)
		if b.Principal != r.Principal && b.Principal != "User:*" || bh != "*" && bh != host {
			continue
		}
		opOK := b.Operation == opAll || b.Operation == r.Operation
		if b.Permission == allow && !opOK {
			switch r.Operation {
			case opDescribe:
				opOK = b.Operation == opRead || b.Operation == opWrite || b.Operation == opDelete || b.Operation == opAlter
			case opDescribeConfigs:
				opOK = b.Operation == opAlterConfigs
			}
		}
		if !opOK {
			continue
		}
		if b.Permission == deny {
			return false
		}
		allowedAny = true
	}
	if allowedAny {
		return true
	}
	return !matched && p.AllowEveryoneIfNoACLFound
}

// TestSetAgreesWithReference cross-checks the index against reference on
// random bindings and requests, with bindings added and removed.
func TestACLSetAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "ab", "abc", "abd", "b", "ba", "*"}
	principals := []string{alice, bob, "User:*"}
	hosts := []string{"*", "10.0.0.1", "10.0.0.2"}
	ops := []kmsg.ACLOperation{opAll, opRead, opWrite, opDescribe, opAlter, opAlterConfigs, opDescribeConfigs}
	types := []kmsg.ACLResourceType{topic, group}
	pick := func(n int) int { return rng.IntN(n) }
	randBinding := func() Binding {
		return bind(types[pick(2)], names[pick(len(names))], []kmsg.ACLResourcePatternType{literal, prefixed}[pick(2)],
			principals[pick(3)], hosts[pick(3)], ops[pick(len(ops))], []kmsg.ACLPermissionType{allow, deny}[pick(2)])
	}
	for round := range 200 {
		var s Set
		var bs []Binding
		for range pick(12) {
			b := randBinding()
			if s.Add(b) {
				bs = append(bs, b)
			}
		}
		if len(bs) > 0 && pick(2) == 0 { // remove one, to exercise the index's bookkeeping
			i := pick(len(bs))
			s.Remove(bs[i])
			bs = append(bs[:i], bs[i+1:]...)
		}
		for range 50 {
			r := req([]string{alice, bob}[pick(2)], []string{"10.0.0.1", "10.0.0.2"}[pick(2)], ops[1+pick(len(ops)-1)],
				types[pick(2)], []string{"a", "ab", "abc", "abcd", "b", "bb", "c"}[pick(7)])
			p := Policy{AllowEveryoneIfNoACLFound: pick(2) == 0}
			if got, want := s.Authorize(p, r), reference(bs, p, r); got != want {
				t.Fatalf("round %d: Authorize(%+v, %+v) = %v, reference %v; bindings %v", round, p, r, got, want, bs)
			}
		}
	}
}

// TestSetConcurrent runs decisions against changes; the race detector checks
// the locking.
func TestACLSetConcurrent(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			r := req(alice, "10.0.0.1", opRead, topic, fmt.Sprintf("t%d", i))
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Authorize(Policy{}, r)
				s.AuthorizeAny(Policy{}, r)
				s.Bindings(Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
					Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny})
			}
		})
	}
	for i := range 500 {
		b := bind(topic, fmt.Sprintf("t%d", i%7), prefixed, alice, "*", opRead, allow)
		s.Add(b)
		if i%3 == 0 {
			s.Remove(b)
		}
	}
	close(stop)
	wg.Wait()
}
