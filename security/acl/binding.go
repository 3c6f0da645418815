package acl

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Names with a meaning of their own (org.apache.kafka.common.resource and
// acl in Kafka).
const (
	// ClusterName is the name of the one CLUSTER resource.
	ClusterName = "kafka-cluster"
	// WildcardResource, in a LITERAL binding, names every resource of its
	// type.
	WildcardResource = "*"
	// WildcardPrincipal, in a binding, stands for every principal.
	WildcardPrincipal = "User:*"
	// WildcardHost, in a binding, stands for every client address.
	WildcardHost = "*"
)

// ErrInvalid is wrapped by the errors of Binding.Validate and Filter.Validate;
// their messages say what is wrong, for the client.
var ErrInvalid = errors.New("acl: invalid")

// Binding is one ACL: a principal, from a host, is allowed or denied an
// operation on the resources a pattern names (Kafka's AclBinding). It is
// comparable, so a binding is its own identity.
type Binding struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	PatternType  kmsg.ACLResourcePatternType
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// String shows b as Kafka's tools do.
func (b Binding) String() string {
	return fmt.Sprintf("(pattern=%v:%v:%s, principal=%s, host=%s, operation=%v, permission=%v)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate checks b as Kafka checks an ACL to create (AclControlManager and
// the broker's CreateAcls handler): concrete resource type, pattern type,
// operation and permission (none UNKNOWN or ANY, or MATCH); a resource name,
// "kafka-cluster" for the CLUSTER; a principal "Type:name". It also requires
// the host to be "*" or an IP address, since a binding for any other host
// could never apply (connections are matched by address). Errors wrap
// ErrInvalid.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType < kmsg.ACLResourceTypeTopic || b.ResourceType > kmsg.ACLResourceTypeUser:
		return fmt.Errorf("%w: resource type %v (%d)", ErrInvalid, b.ResourceType, int8(b.ResourceType))
	case b.PatternType != kmsg.ACLResourcePatternTypeLiteral && b.PatternType != kmsg.ACLResourcePatternTypePrefixed:
		return fmt.Errorf("%w: pattern type %v (%d): want LITERAL or PREFIXED", ErrInvalid, b.PatternType, int8(b.PatternType))
	case b.Operation < kmsg.ACLOperationAll || b.Operation > kmsg.ACLOperationDescribeTokens:
		return fmt.Errorf("%w: operation %v (%d)", ErrInvalid, b.Operation, int8(b.Operation))
	case b.Permission != kmsg.ACLPermissionTypeAllow && b.Permission != kmsg.ACLPermissionTypeDeny:
		return fmt.Errorf("%w: permission type %v (%d): want ALLOW or DENY", ErrInvalid, b.Permission, int8(b.Permission))
	case b.ResourceName == "":
		return fmt.Errorf("%w: empty resource name", ErrInvalid)
	case b.ResourceType == kmsg.ACLResourceTypeCluster && b.ResourceName != ClusterName:
		return fmt.Errorf("%w: the only valid name for the CLUSTER resource is %s", ErrInvalid, ClusterName)
	}
	if err := validatePrincipal(b.Principal); err != nil {
		return err
	}
	if _, ok := canonicalHost(b.Host); !ok {
		return fmt.Errorf("%w: host %q is neither %q nor an IP address", ErrInvalid, b.Host, WildcardHost)
	}
	return nil
}

// validatePrincipal checks Kafka's principal form, "Type:name"
// (SecurityUtils.parseKafkaPrincipal), with both parts non-empty.
func validatePrincipal(p string) error {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" || name == "" {
		return fmt.Errorf("%w: principal %q: want principalType:name, such as User:alice", ErrInvalid, p)
	}
	return nil
}

// canonicalHost is the form hosts are compared in: "*" as is, an IP address
// as netip prints it (IPv4-mapped IPv6 addresses as IPv4), so "::1" and
// "0:0:0:0:0:0:0:1" (Java's spelling) match. ok is false for anything else.
func canonicalHost(h string) (string, bool) {
	if h == WildcardHost {
		return h, true
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return "", false
	}
	return a.Unmap().String(), true
}

// compareBindings orders bindings by resource type, name and pattern, then
// principal, host, operation and permission: DescribeAcls answers grouped by
// resource in this order.
func compareBindings(a, b Binding) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		cmp.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType),
		cmp.Compare(a.Principal, b.Principal),
		cmp.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

// Filter selects bindings, as Kafka's AclBindingFilter: a nil name,
// principal or host matches any, ANY matches any resource type, operation
// or permission, and the pattern type is one of ANY (any pattern, the name
// compared exactly), MATCH (the bindings that apply to the named resource:
// its literal bindings, the wildcard "*" and the prefixes of its name), or
// LITERAL or PREFIXED (that pattern, the name compared exactly).
type Filter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// Validate refuses a filter with an UNKNOWN (or out of range) element, as
// Kafka refuses DescribeAcls and DeleteAcls requests with one. Errors wrap
// ErrInvalid.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType < kmsg.ACLResourceTypeAny || f.ResourceType > kmsg.ACLResourceTypeUser:
		return fmt.Errorf("%w: filter resource type %v (%d)", ErrInvalid, f.ResourceType, int8(f.ResourceType))
	case f.PatternType < kmsg.ACLResourcePatternTypeAny || f.PatternType > kmsg.ACLResourcePatternTypePrefixed:
		return fmt.Errorf("%w: filter pattern type %v (%d)", ErrInvalid, f.PatternType, int8(f.PatternType))
	case f.Operation < kmsg.ACLOperationAny || f.Operation > kmsg.ACLOperationDescribeTokens:
		return fmt.Errorf("%w: filter operation %v (%d)", ErrInvalid, f.Operation, int8(f.Operation))
	case f.Permission < kmsg.ACLPermissionTypeAny || f.Permission > kmsg.ACLPermissionTypeAllow:
		return fmt.Errorf("%w: filter permission type %v (%d)", ErrInvalid, f.Permission, int8(f.Permission))
	}
	return nil
}

// Matches reports whether b is one of the bindings f selects
// (ResourcePatternFilter.matches and AccessControlEntryFilter.matches).
func (f Filter) Matches(b Binding) bool {
	return f.matchesPattern(b) &&
		(f.Principal == nil || *f.Principal == b.Principal) &&
		(f.Host == nil || *f.Host == b.Host) &&
		(f.Operation == kmsg.ACLOperationAny || f.Operation == b.Operation) &&
		(f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == b.Permission)
}

func (f Filter) matchesPattern(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	match := f.PatternType == kmsg.ACLResourcePatternTypeMatch
	if f.PatternType != kmsg.ACLResourcePatternTypeAny && !match && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName == nil {
		return true
	}
	name := *f.ResourceName
	if !match {
		return name == b.ResourceName
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return name == b.ResourceName || b.ResourceName == WildcardResource
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	}
	return false
}
