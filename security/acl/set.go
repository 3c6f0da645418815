package acl

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// anyResourceProbe is the name AuthorizeAny first authorizes, so that super
// users, wildcard bindings and AllowEveryoneIfNoACLFound apply as in Kafka's
// default Authorizer.authorizeByResourceType, which probes the name
// "hardcode".
const anyResourceProbe = "hardcode"

// Set is an indexed set of bindings, safe for concurrent use; its zero value
// is empty and ready. Decisions look bindings up by resource type, then by
// literal name, the wildcard, and each prefix length in use, so their cost
// does not grow with the number of bindings on other resources.
type Set struct {
	gen atomic.Uint64

	mu     sync.RWMutex
	all    map[Binding]struct{}
	byType map[kmsg.ACLResourceType]*typeIndex
}

// typeIndex holds the bindings of one resource type.
type typeIndex struct {
	literal  map[string][]entry // by name; WildcardResource is the wildcard
	prefixed map[string][]entry // by prefix
	// prefixLens counts the prefixed bindings of each prefix length, and
	// lens lists those lengths in ascending order: a lookup tries each
	// length rather than every prefix of the name.
	prefixLens map[int]int
	lens       []int
}

// Generation changes whenever the set does: a decision made under one
// generation holds until it changes.
func (s *Set) Generation() uint64 { return s.gen.Load() }

// Len returns the number of bindings.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.all)
}

// Add adds b and reports whether it was not there yet.
func (s *Set) Add(b Binding) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.addLocked(b) {
		return false
	}
	s.gen.Add(1)
	return true
}

// Remove removes b and reports whether it was there.
func (s *Set) Remove(b Binding) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.all[b]; !ok {
		return false
	}
	delete(s.all, b)
	ti := s.byType[b.ResourceType]
	if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
		ti.prefixed[b.ResourceName] = removeEntry(ti.prefixed[b.ResourceName], b)
		if len(ti.prefixed[b.ResourceName]) == 0 {
			delete(ti.prefixed, b.ResourceName)
		}
		ti.countPrefix(len(b.ResourceName), -1)
	} else {
		ti.literal[b.ResourceName] = removeEntry(ti.literal[b.ResourceName], b)
		if len(ti.literal[b.ResourceName]) == 0 {
			delete(ti.literal, b.ResourceName)
		}
	}
	s.gen.Add(1)
	return true
}

// Replace makes bs the set's bindings, as one change.
func (s *Set) Replace(bs []Binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all, s.byType = nil, nil
	for _, b := range bs {
		s.addLocked(b)
	}
	s.gen.Add(1)
}

func (s *Set) addLocked(b Binding) bool {
	if _, ok := s.all[b]; ok {
		return false
	}
	if s.all == nil {
		s.all = make(map[Binding]struct{})
		s.byType = make(map[kmsg.ACLResourceType]*typeIndex)
	}
	s.all[b] = struct{}{}
	ti := s.byType[b.ResourceType]
	if ti == nil {
		ti = &typeIndex{literal: map[string][]entry{}, prefixed: map[string][]entry{}, prefixLens: map[int]int{}}
		s.byType[b.ResourceType] = ti
	}
	host, ok := canonicalHost(b.Host)
	if !ok {
		host = b.Host // never matches a client address
	}
	e := entry{b: b, host: host}
	if b.PatternType == kmsg.ACLResourcePatternTypePrefixed {
		ti.prefixed[b.ResourceName] = append(ti.prefixed[b.ResourceName], e)
		ti.countPrefix(len(b.ResourceName), 1)
	} else {
		ti.literal[b.ResourceName] = append(ti.literal[b.ResourceName], e)
	}
	return true
}

func (ti *typeIndex) countPrefix(n, delta int) {
	before := ti.prefixLens[n]
	after := before + delta
	switch {
	case before == 0 && after > 0:
		i, _ := slices.BinarySearch(ti.lens, n)
		ti.lens = slices.Insert(ti.lens, i, n)
	case before > 0 && after == 0:
		if i, ok := slices.BinarySearch(ti.lens, n); ok {
			ti.lens = slices.Delete(ti.lens, i, i+1)
		}
	}
	if after > 0 {
		ti.prefixLens[n] = after
	} else {
		delete(ti.prefixLens, n)
	}
}

func removeEntry(es []entry, b Binding) []entry {
	return slices.DeleteFunc(es, func(e entry) bool { return e.b == b })
}

// Bindings returns the bindings f matches, ordered by resource, then
// principal, host, operation and permission.
func (s *Set) Bindings(f Filter) []Binding {
	s.mu.RLock()
	var out []Binding
	for b := range s.all {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, compareBindings)
	return out
}

// Authorize decides r under p with Kafka's semantics (see the package
// documentation).
func (s *Set) Authorize(p Policy, r Request) bool {
	if p.IsSuperUser(r.Principal) {
		return true
	}
	host, _ := canonicalHost(r.Host)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var d decision
	ti := s.byType[r.Resource.Type]
	if ti == nil {
		return d.result(p)
	}
	name := r.Resource.Name
	d.add(ti.literal[name], r.Principal, host, r.Operation)
	if name != WildcardResource && !d.denied {
		d.add(ti.literal[WildcardResource], r.Principal, host, r.Operation)
	}
	for _, n := range ti.lens {
		if n > len(name) || d.denied {
			break
		}
		d.add(ti.prefixed[name[:n]], r.Principal, host, r.Operation)
	}
	return d.result(p)
}

// AuthorizeAny reports whether r's principal may perform r's operation on at
// least one resource of r's resource type, whose name is ignored: Kafka's
// default Authorizer.authorizeByResourceType. It is allowed when the probe
// name "hardcode" is (a super user, a wildcard ALLOW, or no binding at all
// under AllowEveryoneIfNoACLFound), else when some ALLOW of the operation (or
// ALL) for the principal and host names a literal resource or prefix that no
// such DENY covers: a literal DENY of the same name, or a prefixed DENY of a
// prefix of it. A wildcard DENY refuses outright. Operations imply nothing
// here, as in Kafka.
func (s *Set) AuthorizeAny(p Policy, r Request) bool {
	probe := r
	probe.Resource.Name = anyResourceProbe
	if s.Authorize(p, probe) {
		return true
	}
	host, _ := canonicalHost(r.Host)
	s.mu.RLock()
	defer s.mu.RUnlock()
	ti := s.byType[r.Resource.Type]
	if ti == nil {
		return false
	}
	applies := func(e *entry) bool {
		return (e.b.Principal == r.Principal || e.b.Principal == WildcardPrincipal) &&
			(e.host == WildcardHost || e.host == host) &&
			(e.b.Operation == r.Operation || e.b.Operation == kmsg.ACLOperationAll)
	}
	denyLiteral, denyPrefixed := map[string]bool{}, map[string]bool{}
	var allowLiteral, allowPrefixed []string
	wildcardAllow := false
	for name, es := range ti.literal {
		for i := range es {
			if !applies(&es[i]) {
				continue
			}
			if es[i].b.Permission == kmsg.ACLPermissionTypeDeny {
				if name == WildcardResource {
					return false
				}
				denyLiteral[name] = true
			} else if name == WildcardResource {
				wildcardAllow = true
			} else {
				allowLiteral = append(allowLiteral, name)
			}
		}
	}
	for prefix, es := range ti.prefixed {
		for i := range es {
			if !applies(&es[i]) {
				continue
			}
			if es[i].b.Permission == kmsg.ACLPermissionTypeDeny {
				denyPrefixed[prefix] = true
			} else {
				allowPrefixed = append(allowPrefixed, prefix)
			}
		}
	}
	if wildcardAllow {
		return true
	}
	dominated := func(name string) bool {
		for n := 1; n <= len(name); n++ {
			if denyPrefixed[name[:n]] {
				return true
			}
		}
		return false
	}
	for _, name := range allowLiteral {
		if !denyLiteral[name] && !dominated(name) {
			return true
		}
	}
	for _, prefix := range allowPrefixed {
		if !dominated(prefix) {
			return true
		}
	}
	return false
}

// AuthorizedOperations returns the bitfield of the operations supported on
// r's resource (SupportedOperations) that r's principal is allowed, bit n
// for operation n, as the include_*_authorized_operations fields of
// Metadata, DescribeGroups and DescribeCluster carry it. r's operation is
// ignored.
func (s *Set) AuthorizedOperations(p Policy, r Request) int32 {
	var bits int32
	for _, op := range SupportedOperations(r.Resource.Type) {
		r.Operation = op
		if s.Authorize(p, r) {
			bits |= 1 << op
		}
	}
	return bits
}
