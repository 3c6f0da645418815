package gateway

// DescribeAcls: v0-v3, CreateAcls: v0-v3, DeleteAcls: v0-v3
//
// Behavior:
//   - CreateAcls and DeleteAcls need ALTER on the cluster, DescribeAcls
//     DESCRIBE; without it every result is CLUSTER_AUTHORIZATION_FAILED.
//     Without an Authorizer (or one that is not an ACLAdmin) every result
//     is SECURITY_DISABLED, as a Kafka broker without an authorizer.
//   - Bindings are checked as Kafka checks them (acl.Binding.Validate): a
//     concrete resource type, pattern (LITERAL or PREFIXED), operation and
//     permission, a resource name ("kafka-cluster" for the CLUSTER), a
//     principal "Type:name"; and a host that is "*" or an IP address. A bad
//     binding is INVALID_REQUEST with a message, the others are still
//     created. Creating an existing binding succeeds.
//   - Filters (DescribeAcls, DeleteAcls) take ANY, and MATCH for patterns,
//     as Kafka's AclBindingFilter; a filter with an UNKNOWN element is
//     INVALID_REQUEST.
//   - ACLs live in the coordinator (one record per binding) and every
//     gateway watches them (ACLAuthorizer), so a binding created through
//     one gateway is enforced by all within the watch's delay (milliseconds).
//     The gateway that serves a change waits until its own view has it
//     before answering, so a client's next request there sees it;
//     DescribeAcls and DeleteAcls first catch up with every change stored
//     before them.
//
// Deviation: Kafka closes the connection of a request whose filter or
// binding has an UNKNOWN element (it fails to parse); Strata answers that
// entry INVALID_REQUEST.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/security/acl"
)

var (
	_ Authorizer = (*acl.Set)(nil)
	_ Authorizer = (*ACLAuthorizer)(nil)
	_ ACLAdmin   = (*ACLAuthorizer)(nil)
)

func (s *Server) aclAdmin() (ACLAdmin, *string) {
	admin, ok := s.cfg.Authorizer.(ACLAdmin)
	if !ok {
		msg := "No Authorizer is configured."
		if s.cfg.Authorizer != nil {
			msg = "The Authorizer does not manage ACLs through Kafka requests."
		}
		return nil, &msg
	}
	return admin, nil
}

func (s *Server) handleDescribeACLs(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	admin, disabled := s.aclAdmin()
	f := acl.Filter{
		ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType,
	}
	switch {
	case !s.authorizeCluster(ctx, c, kmsg.ACLOperationDescribe):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return respond(resp), nil
	case admin == nil:
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, disabled
		return respond(resp), nil
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
		return respond(resp), nil
	}
	return func(ctx context.Context) kmsg.Response {
		bs, err := admin.DescribeACLs(ctx, f)
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = aclErrorCode(err), errorMessage(err)
			return resp
		}
		resp.Resources = describedResources(bs)
		return resp
	}, nil
}

// describedResources groups bindings, sorted by resource, by resource.
func describedResources(bs []acl.Binding) []kmsg.DescribeACLsResponseResource {
	var out []kmsg.DescribeACLsResponseResource
	for _, b := range bs {
		if n := len(out); n == 0 || out[n-1].ResourceType != b.ResourceType ||
			out[n-1].ResourceName != b.ResourceName || out[n-1].ResourcePatternType != b.PatternType {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
			out = append(out, r)
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		out[len(out)-1].ACLs = append(out[len(out)-1].ACLs, a)
	}
	return out
}

func (s *Server) handleCreateACLs(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
	}
	all := func(code int16, msg *string) (reply, error) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return respond(resp), nil
	}
	admin, disabled := s.aclAdmin()
	switch {
	case !s.authorizeCluster(ctx, c, kmsg.ACLOperationAlter):
		return all(kerr.ClusterAuthorizationFailed.Code, nil)
	case admin == nil:
		return all(kerr.SecurityDisabled.Code, disabled)
	}
	var valid []acl.Binding
	var at []int // valid[i] is creation at[i]
	for i, cr := range req.Creations {
		b := acl.Binding{
			ResourceType: cr.ResourceType, ResourceName: cr.ResourceName, PatternType: cr.ResourcePatternType,
			Principal: cr.Principal, Host: cr.Host, Operation: cr.Operation, Permission: cr.PermissionType,
		}
		if err := b.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
			continue
		}
		valid, at = append(valid, b), append(at, i)
	}
	if len(valid) == 0 {
		return respond(resp), nil
	}
	return func(ctx context.Context) kmsg.Response {
		for j, err := range admin.CreateACLs(ctx, valid) {
			if err != nil {
				s.cfg.Logger.Warn("create acl", "binding", valid[j].String(), "err", err)
				resp.Results[at[j]].ErrorCode, resp.Results[at[j]].ErrorMessage = aclErrorCode(err), errorMessage(err)
			}
		}
		return resp
	}, nil
}

func (s *Server) handleDeleteACLs(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	all := func(code int16, msg *string) (reply, error) {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return respond(resp), nil
	}
	admin, disabled := s.aclAdmin()
	switch {
	case !s.authorizeCluster(ctx, c, kmsg.ACLOperationAlter):
		return all(kerr.ClusterAuthorizationFailed.Code, nil)
	case admin == nil:
		return all(kerr.SecurityDisabled.Code, disabled)
	}
	var valid []acl.Filter
	var at []int
	for i, rf := range req.Filters {
		f := acl.Filter{
			ResourceType: rf.ResourceType, ResourceName: rf.ResourceName, PatternType: rf.ResourcePatternType,
			Principal: rf.Principal, Host: rf.Host, Operation: rf.Operation, Permission: rf.PermissionType,
		}
		if err := f.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
			continue
		}
		valid, at = append(valid, f), append(at, i)
	}
	if len(valid) == 0 {
		return respond(resp), nil
	}
	return func(ctx context.Context) kmsg.Response {
		deleted, err := admin.DeleteACLs(ctx, valid)
		if err != nil {
			s.cfg.Logger.Warn("delete acls", "err", err)
			for _, i := range at {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = aclErrorCode(err), errorMessage(err)
			}
			return resp
		}
		for j, ds := range deleted {
			r := &resp.Results[at[j]]
			for _, d := range ds {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName, m.ResourcePatternType = d.Binding.ResourceType, d.Binding.ResourceName, d.Binding.PatternType
				m.Principal, m.Host, m.Operation, m.PermissionType = d.Binding.Principal, d.Binding.Host, d.Binding.Operation, d.Binding.Permission
				m.ErrorCode, m.ErrorMessage = aclErrorCode(d.Err), errorMessage(d.Err)
				r.MatchingACLs = append(r.MatchingACLs, m)
			}
		}
		return resp
	}, nil
}

// aclErrorCode maps an error changing or listing ACLs: a binding too large
// to store is the request's fault.
func aclErrorCode(err error) int16 {
	switch {
	case errors.Is(err, acl.ErrInvalid), errors.Is(err, coordinator.ErrTooLarge):
		return kerr.InvalidRequest.Code
	}
	return errorCode(err)
}

// ACLStore keeps the cluster's ACL bindings; coordinator.Store implements it
// (see coordinator/acls.go for the contract of each method).
type ACLStore interface {
	CreateACL(ctx context.Context, a coordinator.ACL) (bool, error)
	DeleteACL(ctx context.Context, key string, rev uint64) (bool, error)
	ACLRevision(ctx context.Context) (uint64, error)
	WatchACLs(ctx context.Context, fn func(key string, a *coordinator.ACL, rev uint64)) error
}

// aclSyncWait bounds how long a change or listing waits for this gateway's
// view to catch up with the store. The watch delivers in milliseconds; a
// view still behind after this answers as it is (and logs), rather than
// hold the client.
const aclSyncWait = 5 * time.Second

// errACLSync is waitApplied giving up after aclSyncWait.
var errACLSync = errors.New("gateway: acl view did not catch up with the store")

// ACLAuthorizer is the Authorizer over an ACLStore: an in-memory acl.Set
// kept current by watching the store, which Run does. Every gateway of a
// cluster runs one over the same store, so all enforce the same ACLs.
//
// NewACLAuthorizer loads the stored bindings before it returns, so a gateway
// never serves with an empty set it has not read yet (Kafka's brokers hold
// their listeners until the initial ACL load). Run then watches from the
// start again: it builds a fresh set from the stored records and swaps it in
// at the watch's marker, then applies each change, tracking the revision it
// has applied so that changes made here can wait to be visible here
// (CreateACLs, DeleteACLs) and listings can catch up first.
type ACLAuthorizer struct {
	store ACLStore
	log   *slog.Logger
	set   acl.Set

	// mu guards the fields below; it is taken before the set's own lock.
	mu        sync.Mutex
	byKey     map[string]storedBinding
	keyOf     map[acl.Binding]string
	applied   uint64        // highest revision applied
	appliedCh chan struct{} // closed (and replaced) when applied moves
}

// storedBinding is a binding with its store key's revision.
type storedBinding struct {
	b   acl.Binding
	rev uint64
}

// NewACLAuthorizer returns an ACLAuthorizer holding the bindings stored in
// store now; log may be nil. Run keeps it current.
func NewACLAuthorizer(ctx context.Context, store ACLStore, log *slog.Logger) (*ACLAuthorizer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &ACLAuthorizer{store: store, log: log, appliedCh: make(chan struct{})}
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	synced := false
	err := a.watch(lctx, func() { synced = true; stop() })
	switch {
	case err != nil:
		return nil, fmt.Errorf("gateway: load acls: %w", err)
	case !synced:
		return nil, fmt.Errorf("gateway: load acls: %w", context.Cause(ctx))
	}
	return a, nil
}

// Run keeps the authorizer current until ctx ends (nil) or the watch fails.
// Call it once.
func (a *ACLAuthorizer) Run(ctx context.Context) error {
	if err := a.watch(ctx, func() {}); err != nil {
		return fmt.Errorf("gateway: watch acls: %w", err)
	}
	return nil
}

// watch follows the store from its stored records on: it installs them at
// the marker (calling synced), then applies changes, until ctx ends.
func (a *ACLAuthorizer) watch(ctx context.Context, synced func()) error {
	initial := map[string]storedBinding{}
	var initialRev uint64
	live := false
	return a.store.WatchACLs(ctx, func(key string, sa *coordinator.ACL, rev uint64) {
		switch {
		case live:
			a.apply(key, sa, rev)
		case key == "":
			a.install(initial, initialRev)
			live = true
			synced()
		default:
			initialRev = max(initialRev, rev)
			if b, ok := a.binding(key, sa); ok {
				initial[key] = storedBinding{b: b, rev: rev}
			} else {
				delete(initial, key)
			}
		}
	})
}

// binding converts a watched record; ok is false for a deletion or a
// record that is not a valid binding (logged: it is ignored).
func (a *ACLAuthorizer) binding(key string, sa *coordinator.ACL) (acl.Binding, bool) {
	if sa == nil {
		return acl.Binding{}, false
	}
	b, err := bindingFromStored(*sa)
	if err != nil {
		a.log.Error("ignoring stored acl", "key", key, "err", err)
		return acl.Binding{}, false
	}
	return b, true
}

func (a *ACLAuthorizer) install(bs map[string]storedBinding, rev uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byKey = bs
	a.keyOf = make(map[acl.Binding]string, len(bs))
	list := make([]acl.Binding, 0, len(bs))
	for key, sb := range bs {
		a.keyOf[sb.b] = key
		list = append(list, sb.b)
	}
	a.set.Replace(list)
	a.advanceLocked(rev)
}

func (a *ACLAuthorizer) apply(key string, sa *coordinator.ACL, rev uint64) {
	b, ok := a.binding(key, sa)
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, had := a.byKey[key]; had {
		a.set.Remove(old.b)
		delete(a.keyOf, old.b)
		delete(a.byKey, key)
	}
	if ok {
		a.byKey[key] = storedBinding{b: b, rev: rev}
		a.keyOf[b] = key
		a.set.Add(b)
	}
	a.advanceLocked(rev)
}

func (a *ACLAuthorizer) advanceLocked(rev uint64) {
	if rev > a.applied {
		a.applied = rev
		close(a.appliedCh)
		a.appliedCh = make(chan struct{})
	}
}

// catchUp waits until this view has applied every change stored before the
// call, at most aclSyncWait.
func (a *ACLAuthorizer) catchUp(ctx context.Context) error {
	rev, err := a.store.ACLRevision(ctx)
	if err != nil {
		return err
	}
	t := time.NewTimer(aclSyncWait)
	defer t.Stop()
	for {
		a.mu.Lock()
		done, ch := a.applied >= rev, a.appliedCh
		a.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("%w: applied below revision %d after %v", errACLSync, rev, aclSyncWait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Authorize implements Authorizer.
func (a *ACLAuthorizer) Authorize(p acl.Policy, r acl.Request) bool { return a.set.Authorize(p, r) }

// AuthorizeAny implements Authorizer.
func (a *ACLAuthorizer) AuthorizeAny(p acl.Policy, r acl.Request) bool {
	return a.set.AuthorizeAny(p, r)
}

// Generation implements Authorizer.
func (a *ACLAuthorizer) Generation() uint64 { return a.set.Generation() }

// CreateACLs implements ACLAdmin: each binding is one record, created
// unless it exists; then it waits for this view to have them.
func (a *ACLAuthorizer) CreateACLs(ctx context.Context, bs []acl.Binding) []error {
	errs := make([]error, len(bs))
	for i, b := range bs {
		if errs[i] = b.Validate(); errs[i] != nil {
			continue
		}
		if _, err := a.store.CreateACL(ctx, storedFromBinding(b)); err != nil {
			errs[i] = fmt.Errorf("store acl %v: %w", b, err)
		}
	}
	if err := a.catchUp(ctx); err != nil {
		a.log.Warn("created acls not yet visible here", "err", err)
	}
	return errs
}

// DescribeACLs implements ACLAdmin. A view that cannot catch up answers
// with what it has, as Kafka's brokers answer from their cache.
func (a *ACLAuthorizer) DescribeACLs(ctx context.Context, f acl.Filter) ([]acl.Binding, error) {
	if err := a.catchUp(ctx); err != nil {
		a.log.Warn("describing acls from a view behind the store", "err", err)
	}
	return a.set.Bindings(f), nil
}

// DeleteACLs implements ACLAdmin: it catches up, matches the filters against
// the view, deletes each match by its record's revision (a record gone
// since counts as deleted: someone else deleted it), and waits for the view
// to drop them.
func (a *ACLAuthorizer) DeleteACLs(ctx context.Context, fs []acl.Filter) ([][]ACLDeletion, error) {
	if err := a.catchUp(ctx); err != nil {
		return nil, err
	}
	out := make([][]ACLDeletion, len(fs))
	done := map[acl.Binding]error{} // a binding several filters match is deleted once
	for i, f := range fs {
		for _, b := range a.set.Bindings(f) {
			err, seen := done[b]
			if !seen {
				err = a.delete(ctx, b)
				done[b] = err
			}
			out[i] = append(out[i], ACLDeletion{Binding: b, Err: err})
		}
	}
	if err := a.catchUp(ctx); err != nil {
		a.log.Warn("deleted acls still visible here", "err", err)
	}
	return out, nil
}

func (a *ACLAuthorizer) delete(ctx context.Context, b acl.Binding) error {
	a.mu.Lock()
	key, ok := a.keyOf[b]
	rev := a.byKey[key].rev
	a.mu.Unlock()
	if !ok {
		return nil // deleted since it was matched
	}
	if _, err := a.store.DeleteACL(ctx, key, rev); err != nil {
		return fmt.Errorf("delete acl %v: %w", b, err)
	}
	return nil
}

// storedFromBinding is b as the coordinator stores it, enumerations by
// Kafka's names.
func storedFromBinding(b acl.Binding) coordinator.ACL {
	return coordinator.ACL{
		ResourceType: b.ResourceType.String(), ResourceName: b.ResourceName, PatternType: b.PatternType.String(),
		Principal: b.Principal, Host: b.Host, Operation: b.Operation.String(), Permission: b.Permission.String(),
	}
}

// bindingFromStored parses a stored binding and validates it.
func bindingFromStored(sa coordinator.ACL) (acl.Binding, error) {
	rt, err1 := kmsg.ParseACLResourceType(sa.ResourceType)
	pt, err2 := kmsg.ParseACLResourcePatternType(sa.PatternType)
	op, err3 := kmsg.ParseACLOperation(sa.Operation)
	perm, err4 := kmsg.ParseACLPermissionType(sa.Permission)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return acl.Binding{}, err
	}
	b := acl.Binding{ResourceType: rt, ResourceName: sa.ResourceName, PatternType: pt,
		Principal: sa.Principal, Host: sa.Host, Operation: op, Permission: perm}
	return b, b.Validate()
}
