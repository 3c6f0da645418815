package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/security/acl"
)

// Principals of the ACL tests: a client certificate's subject is its
// principal ("User:CN=alice", see listeners.go).
const (
	aclAdmin = "User:CN=admin" // a super user of every ACL test gateway
	aclAlice = "User:CN=alice"
	aclBob   = "User:CN=bob"
)

// aclEnv is a gateway on an SSL listener that requires client certificates,
// over a backend of its own, with transactions on and super user aclAdmin.
type aclEnv struct {
	t    testing.TB
	ca   *testenv.CA
	b    *backend
	srv  *testServer
	addr string

	mu      sync.Mutex
	clients map[string]*kgo.Client // by cn and source address
}

// aclGatewayConfig turns transactions on and makes aclAdmin a super user.
func aclGatewayConfig(b *backend, authorizer Authorizer) func(*Config) {
	return func(c *Config) {
		c.Transactions, c.ClusterSecret = b.store, "acl-test-secret"
		c.Authorizer = authorizer
		c.SuperUsers = []string{aclAdmin}
	}
}

// newACLAuthorizer loads b's ACLs and keeps them current until the test ends.
func newACLAuthorizer(tb testing.TB, b *backend) *ACLAuthorizer {
	tb.Helper()
	a, err := NewACLAuthorizer(b.ctx, b.store, nil)
	if err != nil {
		tb.Fatal(err)
	}
	b.wg.Go(func() {
		if err := a.Run(b.ctx); err != nil {
			tb.Errorf("ACLAuthorizer.Run: %v", err)
		}
	})
	return a
}

// sslListener listens on 127.0.0.1 with a certificate from ca and requires
// clients to present one ca issued.
func sslListener(tb testing.TB, ca *testenv.CA) Listener {
	tb.Helper()
	certPEM, keyPEM := ca.Issue(tb, "gateway", 2)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	return Listener{Name: "SSL", Protocol: SSL, Listener: tls.NewListener(ln, cfg)}
}

// newACLEnv starts a gateway whose Authorizer is the one authorizer builds
// over the backend (nil: an ACLAuthorizer); configure, when set, changes the
// Config last.
func newACLEnv(tb testing.TB, ca *testenv.CA, authorizer func(*backend) Authorizer, configure func(*Config)) *aclEnv {
	tb.Helper()
	b := newBackend(tb, 0)
	var a Authorizer
	if authorizer != nil {
		a = authorizer(b)
	} else {
		a = newACLAuthorizer(tb, b)
	}
	ln := sslListener(tb, ca)
	srv := b.gateway(tb, serverOpts{listeners: []Listener{ln}, configure: func(c *Config) {
		aclGatewayConfig(b, a)(c)
		if configure != nil {
			configure(c)
		}
	}}, 0, "", false)
	return &aclEnv{t: tb, ca: ca, b: b, srv: srv, addr: srv.addr, clients: map[string]*kgo.Client{}}
}

// client returns a client presenting a certificate for cn, connecting from
// source (an IP address on the loopback interface; "" is 127.0.0.1).
func (e *aclEnv) client(cn, source string) *kgo.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := cn + "@" + source
	if cl := e.clients[key]; cl != nil {
		return cl
	}
	cfg := e.ca.ClientConfig(e.t, cn)
	opts := []kgo.Opt{kgo.SeedBrokers(e.addr), kgo.RequestRetries(0)}
	if source == "" {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	} else {
		// A client from another loopback address: kgo's TLS dialer cannot
		// bind the source, so the dialer wraps the connection itself.
		host, _, _ := net.SplitHostPort(e.addr)
		cfg.ServerName = host
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
		opts = append(opts, kgo.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return tls.Client(nc, cfg), nil
		}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	e.clients[key] = cl
	return cl
}

// request sends req straight to the gateway as cn from source, without the
// client's routing (which would ask FindCoordinator or Metadata first).
func (e *aclEnv) request(ctx context.Context, cn, source string, req kmsg.Request) (kmsg.Response, error) {
	return e.client(cn, source).SeedBrokers()[0].Request(ctx, req)
}

// setACLs replaces every ACL with bs, as the super user.
func (e *aclEnv) setACLs(ctx context.Context, bs []acl.Binding) {
	e.t.Helper()
	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	resp, err := e.request(ctx, "admin", "", del)
	if err != nil {
		e.t.Fatalf("delete acls: %v", err)
	}
	for _, r := range resp.(*kmsg.DeleteACLsResponse).Results {
		if r.ErrorCode != 0 {
			e.t.Fatalf("delete acls: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	if len(bs) == 0 {
		return
	}
	create := kmsg.NewPtrCreateACLsRequest()
	for _, b := range bs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
		c.Principal, c.Host, c.Operation, c.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		create.Creations = append(create.Creations, c)
	}
	cresp, err := e.request(ctx, "admin", "", create)
	if err != nil {
		e.t.Fatalf("create acls: %v", err)
	}
	for i, r := range cresp.(*kmsg.CreateACLsResponse).Results {
		if r.ErrorCode != 0 {
			e.t.Fatalf("create acl %v: %v %s", bs[i], kerr.ErrorForCode(r.ErrorCode), deref(r.ErrorMessage))
		}
	}
}

func allowACL(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation) acl.Binding {
	return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
}

// TestACLAPIsWithoutAuthorizer checks that a gateway without an Authorizer
// answers the ACL APIs SECURITY_DISABLED and enforces nothing.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "orders", 1, nil)
	adm := kadm.NewClient(s.client(t))
	ctx := t.Context()
	desc, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil || len(desc) == 0 || !errors.Is(desc[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("DescribeACLs: %v, %+v; want SECURITY_DISABLED", err, desc)
	}
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Topics("orders").Allow("User:alice").Operations(kadm.OpRead))
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("CreateACLs: %v, %+v; want SECURITY_DISABLED", err, res)
	}
	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("orders").Allow("User:alice").AllowHosts().Operations(kadm.OpRead))
	if err != nil || len(del) != 1 || !errors.Is(del[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("DeleteACLs: %v, %+v; want SECURITY_DISABLED", err, del)
	}
	// Everything else as before: an anonymous client uses the topic.
	cl := s.client(t, kgo.DefaultProduceTopic("orders"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce without an authorizer: %v", err)
	}
}

// TestACLRoundTrip creates, describes and deletes ACLs with kadm, with the
// filters Kafka's admin tools send (MATCH, ANY, prefixed, literal), and
// checks validation and that only the cluster's ALTER may change ACLs.
func TestACLRoundTrip(t *testing.T) {
	ca := testenv.NewCA(t, "acl-test-ca")
	e := newACLEnv(t, ca, nil, nil)
	ctx := t.Context()
	adm := kadm.NewClient(e.client("admin", ""))

	create := func(b *kadm.ACLBuilder) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create %+v: %v", r, r.Err)
			}
		}
	}
	create(kadm.NewACLs().Topics("orders").Allow(aclAlice).Operations(kadm.OpRead, kadm.OpWrite))
	create(kadm.NewACLs().Topics("orders-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow(aclBob).Operations(kadm.OpDescribe))
	create(kadm.NewACLs().Topics("*").Deny("User:*").DenyHosts("10.0.0.9").Operations(kadm.OpAll))
	create(kadm.NewACLs().Groups("g").Allow(aclAlice).Operations(kadm.OpRead))
	// Creating one again is a no-op.
	create(kadm.NewACLs().Topics("orders").Allow(aclAlice).Operations(kadm.OpRead))

	count := func(b *kadm.ACLBuilder) int {
		t.Helper()
		res, err := adm.DescribeACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("describe: %v", r.Err)
			}
			n += len(r.Described)
		}
		return n
	}
	anyTopic := func(names ...string) *kadm.ACLBuilder {
		return kadm.NewACLs().Topics(names...).Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny)
	}
	for _, tc := range []struct {
		name string
		b    *kadm.ACLBuilder
		want int
	}{
		{"all", kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny), 5},
		{"match orders-eu", anyTopic("orders-eu").ResourcePatternType(kadm.ACLPatternMatch), 2},   // the prefix and the wildcard
		{"match orders", anyTopic("orders").ResourcePatternType(kadm.ACLPatternMatch), 3},         // READ, WRITE and the wildcard
		{"literal orders", anyTopic("orders").ResourcePatternType(kadm.ACLPatternLiteral), 2},     // READ and WRITE
		{"prefixed orders-", anyTopic("orders-").ResourcePatternType(kadm.ACLPatternPrefixed), 1}, // bob's
		{"any pattern orders-", anyTopic("orders-").ResourcePatternType(kadm.ACLPatternAny), 1},
		{"alice's", kadm.NewACLs().AnyResource().Allow(aclAlice).AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny), 3},
		{"denials", kadm.NewACLs().AnyResource().Deny().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny), 1},
		{"writes", kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternAny), 1},
		{"groups", kadm.NewACLs().Groups().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny), 1},
	} {
		if got := count(tc.b); got != tc.want {
			t.Errorf("%s: %d bindings, want %d", tc.name, got, tc.want)
		}
	}

	// Validation, per binding, the valid one still created.
	bad := kmsg.NewPtrCreateACLsRequest()
	for _, c := range []struct {
		rt        kmsg.ACLResourceType
		name      string
		principal string
		host      string
		pt        kmsg.ACLResourcePatternType
		op        kmsg.ACLOperation
	}{
		{kmsg.ACLResourceTypeTopic, "x", "alice", "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationRead},             // no principal type
		{kmsg.ACLResourceTypeTopic, "x", aclAlice, "host.example", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationRead}, // not an address
		{kmsg.ACLResourceTypeTopic, "x", aclAlice, "*", kmsg.ACLResourcePatternTypeMatch, kmsg.ACLOperationRead},              // not a binding's pattern
		{kmsg.ACLResourceTypeCluster, "c", aclAlice, "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAlter},         // not kafka-cluster
		{kmsg.ACLResourceTypeUnknown, "x", aclAlice, "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationRead},
		{kmsg.ACLResourceTypeTopic, "x", aclAlice, "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationAny},
		{kmsg.ACLResourceTypeTopic, "", aclAlice, "*", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationRead},
		{kmsg.ACLResourceTypeTopic, "fine", aclAlice, "127.0.0.1", kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLOperationRead},
	} {
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = c.rt, c.name, c.pt
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = c.principal, c.host, c.op, kmsg.ACLPermissionTypeAllow
		bad.Creations = append(bad.Creations, cr)
	}
	resp, err := e.request(ctx, "admin", "", bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.(*kmsg.CreateACLsResponse).Results {
		want := kerr.InvalidRequest.Code
		if i == len(bad.Creations)-1 {
			want = 0
		}
		if r.ErrorCode != want || want != 0 && deref(r.ErrorMessage) == "" {
			t.Errorf("creation %d: %v %q, want %v with a message", i, kerr.ErrorForCode(r.ErrorCode), deref(r.ErrorMessage), kerr.ErrorForCode(want))
		}
	}
	unknownFilter := kmsg.NewPtrDescribeACLsRequest()
	unknownFilter.ResourceType = kmsg.ACLResourceTypeUnknown
	if r, err := e.request(ctx, "admin", "", unknownFilter); err != nil || r.(*kmsg.DescribeACLsResponse).ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("describe with an UNKNOWN resource type: %v, %+v; want INVALID_REQUEST", err, r)
	}

	// alice may not change or list ACLs.
	aliceAdm := kadm.NewClient(e.client("alice", ""))
	if res, err := aliceAdm.CreateACLs(ctx, kadm.NewACLs().Topics("x").Allow(aclAlice).Operations(kadm.OpAll)); err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice creating an ACL: %v, %+v; want CLUSTER_AUTHORIZATION_FAILED", err, res)
	}
	if res, err := aliceAdm.DescribeACLs(ctx, anyTopic("orders")); err != nil || len(res) == 0 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice describing ACLs: %v, %+v; want CLUSTER_AUTHORIZATION_FAILED", err, res)
	}

	// Delete by a prefixed filter, then by MATCH (which takes the
	// wildcard and the literal bindings of the name).
	del := func(b *kadm.ACLBuilder) int {
		t.Helper()
		res, err := adm.DeleteACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("delete: %v", r.Err)
			}
			for _, d := range r.Deleted {
				if d.Err != nil {
					t.Fatalf("delete %+v: %v", d, d.Err)
				}
				n++
			}
		}
		return n
	}
	if n := del(anyTopic("orders-").ResourcePatternType(kadm.ACLPatternPrefixed)); n != 1 {
		t.Errorf("prefixed delete removed %d, want 1", n)
	}
	if n := del(anyTopic("orders").ResourcePatternType(kadm.ACLPatternMatch)); n != 3 {
		t.Errorf("match delete removed %d, want 3", n)
	}
	if got := count(kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)); got != 2 {
		t.Errorf("%d bindings left, want 2 (the group's and topic fine's)", got)
	}
}

// TestACLMetadata checks that Metadata shows only the topics the principal
// may describe, answers the others TOPIC_AUTHORIZATION_FAILED by name and by
// id, needs CREATE to auto-create, and reports authorized operations.
func TestACLMetadata(t *testing.T) {
	ca := testenv.NewCA(t, "acl-test-ca")
	e := newACLEnv(t, ca, nil, nil)
	ctx := t.Context()
	for _, name := range []string{"orders", "orders-eu", "payments"} {
		createTestTopic(t, e.srv, name, 1, nil)
	}
	e.setACLs(ctx, []acl.Binding{
		allowACL(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypePrefixed, aclAlice, kmsg.ACLOperationRead),
		allowACL(kmsg.ACLResourceTypeTopic, "auto-", kmsg.ACLResourcePatternTypePrefixed, aclAlice, kmsg.ACLOperationDescribe),
		allowACL(kmsg.ACLResourceTypeTopic, "auto-ok", kmsg.ACLResourcePatternTypeLiteral, aclAlice, kmsg.ACLOperationCreate),
	})

	metadata := func(cn string, topics ...string) *kmsg.MetadataResponse {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.IncludeTopicAuthorizedOperations = true
		if topics != nil {
			req.Topics = []kmsg.MetadataRequestTopic{}
			req.AllowAutoTopicCreation = true
		}
		for _, name := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := e.request(ctx, cn, "", req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.MetadataResponse)
	}
	var names []string
	for _, mt := range metadata("alice").Topics {
		names = append(names, deref(mt.Topic))
		if want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe); mt.AuthorizedOperations != want {
			t.Errorf("topic %s: authorized operations %b, want %b", deref(mt.Topic), mt.AuthorizedOperations, want)
		}
	}
	if slices.Sort(names); !slices.Equal(names, []string{"orders", "orders-eu"}) {
		t.Errorf("alice sees %v, want [orders orders-eu]", names)
	}
	if all := metadata("admin").Topics; len(all) != 5 { // three topics and the two internal ones
		t.Errorf("the super user sees %d topics, want 5", len(all))
	}
	if n := len(metadata("bob").Topics); n != 0 {
		t.Errorf("bob sees %d topics, want none", n)
	}

	codes := map[string]int16{}
	for _, mt := range metadata("alice", "orders", "payments", "no-such-topic", "auto-ok", "auto-no").Topics {
		codes[deref(mt.Topic)] = mt.ErrorCode
	}
	want := map[string]int16{
		"orders":        0,
		"payments":      kerr.TopicAuthorizationFailed.Code, // exists, not describable
		"no-such-topic": kerr.TopicAuthorizationFailed.Code, // its absence is not told
		"auto-ok":       0,                                  // DESCRIBE and CREATE: created
		"auto-no":       kerr.TopicAuthorizationFailed.Code, // DESCRIBE without CREATE
	}
	for name, code := range want {
		if codes[name] != code {
			t.Errorf("metadata of %s: %v, want %v", name, kerr.ErrorForCode(codes[name]), kerr.ErrorForCode(code))
		}
	}
	if _, ok := e.srv.store.Topic("auto-no"); ok {
		t.Error("auto-no was created without CREATE")
	}

	// By id: an id is not secret, the topic behind it is.
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"orders", "payments"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = e.srv.topicID(t, name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := e.request(ctx, "alice", "", req)
	if err != nil {
		t.Fatal(err)
	}
	mts := resp.(*kmsg.MetadataResponse).Topics
	if len(mts) != 2 || mts[0].ErrorCode != 0 || deref(mts[0].Topic) != "orders" ||
		mts[1].ErrorCode != kerr.TopicAuthorizationFailed.Code || mts[1].Topic != nil || mts[1].TopicID != e.srv.topicID(t, "payments") {
		t.Errorf("metadata by id: %+v", mts)
	}

	// A kgo consumer of a regex sees only what it may describe.
	cl := e.client("alice", "")
	adm := kadm.NewClient(cl)
	listed, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.Names(); !slices.Equal(got, []string{"auto-ok", "orders", "orders-eu"}) {
		t.Errorf("kadm.ListTopics as alice: %v", got)
	}
}

// TestACLEnforcedAcrossGateways creates an ACL through one gateway and
// measures how long the other takes to enforce it: under a second, as the
// brief for cluster-wide ACLs asks.
func TestACLEnforcedAcrossGateways(t *testing.T) {
	ca := testenv.NewCA(t, "acl-test-ca")
	b := newBackend(t, 2*time.Second)
	var addrs []string
	for node := range int32(2) {
		a := newACLAuthorizer(t, b)
		srv := b.gateway(t, serverOpts{listeners: []Listener{sslListener(t, ca)}, configure: aclGatewayConfig(b, a)}, node, "", true)
		addrs = append(addrs, srv.addr)
	}
	if _, err := b.store.CreateTopic(t.Context(), coordinator.Topic{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	gw := func(i int) *aclEnv {
		return &aclEnv{t: t, ca: ca, b: b, addr: addrs[i], clients: map[string]*kgo.Client{}}
	}
	a, bgw := gw(0), gw(1)
	ctx := t.Context()

	describeCode := func() int16 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := bgw.request(ctx, "alice", "", req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := describeCode(); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("before any ACL: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	// Whatever answers other than TAF mean "allowed" (the partition may be
	// led by the other gateway: NOT_LEADER_OR_FOLLOWER).
	waitFor := func(allowed bool) time.Duration {
		t.Helper()
		start := time.Now()
		var took time.Duration
		testenv.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			if (describeCode() != kerr.TopicAuthorizationFailed.Code) != allowed {
				return fmt.Errorf("gateway B does not see the change yet (want allowed=%v)", allowed)
			}
			took = time.Since(start)
			return nil
		})
		return took
	}
	a.setACLs(ctx, []acl.Binding{allowACL(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral, aclAlice, kmsg.ACLOperationDescribe)})
	if took := waitFor(true); took >= time.Second {
		t.Fatalf("an ACL created on gateway A took %v to be enforced on B, want under 1s", took)
	} else {
		t.Logf("created on A, enforced on B after %v", took)
	}
	a.setACLs(ctx, nil)
	if took := waitFor(false); took >= time.Second {
		t.Fatalf("an ACL deleted on gateway A took %v to stop applying on B, want under 1s", took)
	} else {
		t.Logf("deleted on A, refused on B after %v", took)
	}
}

// TestACLDecisionsFollowGeneration checks the per-connection cache: a
// decision is reused within a generation and dropped when it moves.
func TestACLDecisionsFollowGeneration(t *testing.T) {
	var set acl.Set
	ca := testenv.NewCA(t, "acl-test-ca")
	e := newACLEnv(t, ca, func(*backend) Authorizer { return &set }, nil)
	createTestTopic(t, e.srv, "orders", 1, nil)
	ctx := t.Context()
	code := func() int16 {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := e.request(ctx, "alice", "", req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode
	}
	if c := code(); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("no grant: %v", kerr.ErrorForCode(c))
	}
	grant := allowACL(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral, aclAlice, kmsg.ACLOperationDescribe)
	set.Add(grant)
	if c := code(); c != 0 {
		t.Fatalf("granted on the same connection: %v, want a fresh decision", kerr.ErrorForCode(c))
	}
	set.Remove(grant)
	if c := code(); c != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("revoked on the same connection: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(c))
	}
}

// TestACLClientsEndToEnd runs franz-go's transactional producer and
// consumer group under ACLs that grant exactly what Kafka documents they
// need (prefixed on "app-"), and checks that another principal is refused.
func TestACLClientsEndToEnd(t *testing.T) {
	ca := testenv.NewCA(t, "acl-test-ca")
	e := newACLEnv(t, ca, nil, nil)
	createTestTopic(t, e.srv, "app-orders", 2, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pre := kmsg.ACLResourcePatternTypePrefixed
	e.setACLs(ctx, []acl.Binding{
		allowACL(kmsg.ACLResourceTypeTopic, "app-", pre, aclAlice, kmsg.ACLOperationRead),
		allowACL(kmsg.ACLResourceTypeTopic, "app-", pre, aclAlice, kmsg.ACLOperationWrite),
		allowACL(kmsg.ACLResourceTypeGroup, "app-", pre, aclAlice, kmsg.ACLOperationRead),
		allowACL(kmsg.ACLResourceTypeTransactionalId, "app-", pre, aclAlice, kmsg.ACLOperationWrite),
	})
	tlsOpt := func(cn string) kgo.Opt { return kgo.DialTLSConfig(ca.ClientConfig(t, cn)) }

	producer, err := kgo.NewClient(kgo.SeedBrokers(e.addr), tlsOpt("alice"),
		kgo.TransactionalID("app-producer"), kgo.DefaultProduceTopic("app-orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		if err := producer.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("transactional produce as alice: %v", err)
		}
	}
	if err := producer.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit as alice: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(e.addr), tlsOpt("alice"), kgo.ConsumerGroup("app-group"),
		kgo.ConsumeTopics("app-orders"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := 0
	for got < n {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume as alice after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit offsets as alice: %v", err)
	}

	// bob has no grant: refused at the topic, idempotent or not.
	for _, opts := range [][]kgo.Opt{{kgo.DisableIdempotentWrite()}, {}} {
		bob, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr), tlsOpt("bob"), kgo.DefaultProduceTopic("app-orders"),
			kgo.RecordRetries(1)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		err = bob.ProduceSync(ctx, &kgo.Record{Value: []byte("no")}).FirstErr()
		bob.Close()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
			t.Errorf("produce as bob (%d options): %v, want an authorization error", len(opts), err)
		}
	}
}
