package acl

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func validBinding() Binding {
	return Binding{
		ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "orders", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow,
	}
}

func TestACLBindingValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Binding)
		ok     bool
	}{
		{"valid", func(*Binding) {}, true},
		{"prefixed", func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypePrefixed }, true},
		{"wildcard resource", func(b *Binding) { b.ResourceName = "*" }, true},
		{"wildcard principal", func(b *Binding) { b.Principal = "User:*" }, true},
		{"ipv4 host", func(b *Binding) { b.Host = "10.1.2.3" }, true},
		{"ipv6 host", func(b *Binding) { b.Host = "::1" }, true},
		{"java ipv6 host", func(b *Binding) { b.Host = "0:0:0:0:0:0:0:1" }, true},
		{"cluster", func(b *Binding) { b.ResourceType, b.ResourceName = kmsg.ACLResourceTypeCluster, "kafka-cluster" }, true},
		{"group principal type", func(b *Binding) { b.Principal = "Group:ops" }, true},
		{"all operation", func(b *Binding) { b.Operation = kmsg.ACLOperationAll }, true},
		{"deny", func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeDeny }, true},
		{"user resource", func(b *Binding) {
			b.ResourceType, b.Operation = kmsg.ACLResourceTypeUser, kmsg.ACLOperationCreateTokens
		}, true},

		{"unknown resource type", func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeUnknown }, false},
		{"any resource type", func(b *Binding) { b.ResourceType = kmsg.ACLResourceTypeAny }, false},
		{"out of range resource type", func(b *Binding) { b.ResourceType = 42 }, false},
		{"match pattern", func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeMatch }, false},
		{"any pattern", func(b *Binding) { b.PatternType = kmsg.ACLResourcePatternTypeAny }, false},
		{"unknown pattern", func(b *Binding) { b.PatternType = 9 }, false},
		{"any operation", func(b *Binding) { b.Operation = kmsg.ACLOperationAny }, false},
		{"unknown operation", func(b *Binding) { b.Operation = kmsg.ACLOperationUnknown }, false},
		{"out of range operation", func(b *Binding) { b.Operation = 15 }, false},
		{"any permission", func(b *Binding) { b.Permission = kmsg.ACLPermissionTypeAny }, false},
		{"unknown permission", func(b *Binding) { b.Permission = 7 }, false},
		{"empty name", func(b *Binding) { b.ResourceName = "" }, false},
		{"cluster named otherwise", func(b *Binding) { b.ResourceType, b.ResourceName = kmsg.ACLResourceTypeCluster, "mine" }, false},
		{"principal without type", func(b *Binding) { b.Principal = "alice" }, false},
		{"principal empty name", func(b *Binding) { b.Principal = "User:" }, false},
		{"principal empty type", func(b *Binding) { b.Principal = ":alice" }, false},
		{"empty host", func(b *Binding) { b.Host = "" }, false},
		{"host name", func(b *Binding) { b.Host = "localhost" }, false},
		{"host cidr", func(b *Binding) { b.Host = "10.0.0.0/8" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := validBinding()
			tc.change(&b)
			err := b.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate(%v) = %v, want nil", b, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate(%v) = %v, want ErrInvalid", b, err)
			}
		})
	}
}

func TestACLFilterValidate(t *testing.T) {
	all := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	if err := all.Validate(); err != nil {
		t.Fatalf("ANY filter: %v", err)
	}
	for name, change := range map[string]func(*Filter){
		"resource type":  func(f *Filter) { f.ResourceType = kmsg.ACLResourceTypeUnknown },
		"pattern type":   func(f *Filter) { f.PatternType = kmsg.ACLResourcePatternTypeUnknown },
		"operation":      func(f *Filter) { f.Operation = kmsg.ACLOperationUnknown },
		"permission":     func(f *Filter) { f.Permission = kmsg.ACLPermissionTypeUnknown },
		"resource range": func(f *Filter) { f.ResourceType = 8 },
		"pattern range":  func(f *Filter) { f.PatternType = 5 },
		"op range":       func(f *Filter) { f.Operation = 15 },
		"perm range":     func(f *Filter) { f.Permission = 4 },
	} {
		f := all
		change(&f)
		if err := f.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestACLFilterMatches(t *testing.T) {
	str := func(s string) *string { return &s }
	lit := func(name string) Binding {
		b := validBinding()
		b.ResourceName = name
		return b
	}
	pre := func(name string) Binding {
		b := lit(name)
		b.PatternType = kmsg.ACLResourcePatternTypePrefixed
		return b
	}
	anyF := Filter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	with := func(change func(*Filter)) Filter {
		f := anyF
		change(&f)
		return f
	}
	for _, tc := range []struct {
		name string
		f    Filter
		b    Binding
		want bool
	}{
		{"any matches all", anyF, pre("x"), true},
		{"type mismatch", with(func(f *Filter) { f.ResourceType = kmsg.ACLResourceTypeGroup }), lit("orders"), false},
		{"type match", with(func(f *Filter) { f.ResourceType = kmsg.ACLResourceTypeTopic }), lit("orders"), true},
		{"any pattern, name exact", with(func(f *Filter) { f.ResourceName = str("orders") }), lit("orders"), true},
		{"any pattern, name exact prefixed", with(func(f *Filter) { f.ResourceName = str("ord") }), pre("ord"), true},
		{"any pattern, name not a prefix match", with(func(f *Filter) { f.ResourceName = str("orders") }), pre("ord"), false},
		{"any pattern, wildcard literal is not the name", with(func(f *Filter) { f.ResourceName = str("orders") }), lit("*"), false},
		{"literal pattern, literal binding", with(func(f *Filter) { f.PatternType = kmsg.ACLResourcePatternTypeLiteral }), lit("orders"), true},
		{"literal pattern, prefixed binding", with(func(f *Filter) { f.PatternType = kmsg.ACLResourcePatternTypeLiteral }), pre("orders"), false},
		{"prefixed pattern, prefixed binding", with(func(f *Filter) { f.PatternType = kmsg.ACLResourcePatternTypePrefixed }), pre("orders"), true},
		{"prefixed pattern name exact", with(func(f *Filter) {
			f.PatternType, f.ResourceName = kmsg.ACLResourcePatternTypePrefixed, str("orders-eu")
		}), pre("orders"), false},
		{"match, literal equal", with(func(f *Filter) { f.PatternType, f.ResourceName = kmsg.ACLResourcePatternTypeMatch, str("orders") }), lit("orders"), true},
		{"match, literal other", with(func(f *Filter) { f.PatternType, f.ResourceName = kmsg.ACLResourcePatternTypeMatch, str("orders") }), lit("payments"), false},
		{"match, wildcard", with(func(f *Filter) { f.PatternType, f.ResourceName = kmsg.ACLResourcePatternTypeMatch, str("orders") }), lit("*"), true},
		{"match, prefix", with(func(f *Filter) { f.PatternType, f.ResourceName = kmsg.ACLResourcePatternTypeMatch, str("orders-eu") }), pre("orders-"), true},
		{"match, longer prefix", with(func(f *Filter) { f.PatternType, f.ResourceName = kmsg.ACLResourcePatternTypeMatch, str("ord") }), pre("orders"), false},
		{"match, no name", with(func(f *Filter) { f.PatternType = kmsg.ACLResourcePatternTypeMatch }), pre("x"), true},
		{"principal", with(func(f *Filter) { f.Principal = str("User:alice") }), lit("x"), true},
		{"other principal", with(func(f *Filter) { f.Principal = str("User:bob") }), lit("x"), false},
		{"wildcard principal filter is exact", with(func(f *Filter) { f.Principal = str("User:*") }), lit("x"), false},
		{"host", with(func(f *Filter) { f.Host = str("*") }), lit("x"), true},
		{"other host", with(func(f *Filter) { f.Host = str("10.0.0.1") }), lit("x"), false},
		{"operation", with(func(f *Filter) { f.Operation = kmsg.ACLOperationRead }), lit("x"), true},
		{"other operation", with(func(f *Filter) { f.Operation = kmsg.ACLOperationDescribe }), lit("x"), false},
		{"permission", with(func(f *Filter) { f.Permission = kmsg.ACLPermissionTypeAllow }), lit("x"), true},
		{"other permission", with(func(f *Filter) { f.Permission = kmsg.ACLPermissionTypeDeny }), lit("x"), false},
	} {
		if got := tc.f.Matches(tc.b); got != tc.want {
			t.Errorf("%s: Matches(%v) = %v, want %v", tc.name, tc.b, got, tc.want)
		}
	}
}
