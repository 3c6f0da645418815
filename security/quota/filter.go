package quota

import (
	"errors"
	"fmt"
)

// ErrUnsupported is wrapped by the error for a describe filter naming an
// entity type Kafka does not know, which Kafka answers with
// UNSUPPORTED_VERSION.
var ErrUnsupported = errors.New("quota: unsupported")

// MatchType is how a filter component matches an entity's component, with
// Kafka's values (DescribeClientQuotasRequest.MATCH_TYPE_*).
type MatchType int8

const (
	// MatchExact matches the named component: Name must be set.
	MatchExact MatchType = 0
	// MatchDefault matches the <default> component.
	MatchDefault MatchType = 1
	// MatchAny matches any component of the type, named or default.
	MatchAny MatchType = 2
)

// FilterComponent is one component of a describe filter.
type FilterComponent struct {
	Type  string
	Match MatchType
	Name  *string
}

// Filter selects entities as Kafka's DescribeClientQuotas does
// (ClientQuotasImage.describe): an entity matches when it has every
// filtered type, with the exact name or the default where asked; with
// Strict, it must have no other components. Strict with no components
// matches nothing; no components and not strict, everything.
type Filter struct {
	parts  map[string]Part // exact and default matches; Part{} never stored
	any    map[string]bool // MatchAny types
	strict bool
}

// NewFilter checks components with Kafka's rules and messages: each type
// once, known (ErrUnsupported otherwise), a name exactly with MatchExact,
// and ip not with user or client-id (ErrInvalid otherwise).
func NewFilter(components []FilterComponent, strict bool) (Filter, error) {
	f := Filter{parts: map[string]Part{}, any: map[string]bool{}, strict: strict}
	for _, c := range components {
		_, seen := f.parts[c.Type]
		switch {
		case c.Type == "":
			return Filter{}, fmt.Errorf("%w: Invalid empty entity type.", ErrInvalid)
		case seen || f.any[c.Type]:
			return Filter{}, fmt.Errorf("%w: Entity type %s cannot appear more than once in the filter.", ErrInvalid, c.Type)
		case c.Type != TypeUser && c.Type != TypeClientID && c.Type != TypeIP:
			return Filter{}, fmt.Errorf("%w: Unsupported entity type %s", ErrUnsupported, c.Type)
		}
		switch c.Match {
		case MatchExact:
			if c.Name == nil {
				return Filter{}, fmt.Errorf("%w: Request specified MATCH_TYPE_EXACT, but set match string to null.", ErrInvalid)
			}
			f.parts[c.Type] = Named(*c.Name)
		case MatchDefault:
			if c.Name != nil {
				return Filter{}, fmt.Errorf("%w: Request specified MATCH_TYPE_DEFAULT, but also specified a match string.", ErrInvalid)
			}
			f.parts[c.Type] = Default()
		case MatchAny:
			if c.Name != nil {
				return Filter{}, fmt.Errorf("%w: Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.", ErrInvalid)
			}
			f.any[c.Type] = true
		default:
			return Filter{}, fmt.Errorf("%w: Unknown match type %d", ErrInvalid, c.Match)
		}
	}
	_, ip := f.parts[TypeIP]
	_, user := f.parts[TypeUser]
	_, client := f.parts[TypeClientID]
	if (ip || f.any[TypeIP]) && (user || client || f.any[TypeUser] || f.any[TypeClientID]) {
		return Filter{}, fmt.Errorf("%w: Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.", ErrInvalid)
	}
	return f, nil
}

// Matches reports whether the filter selects e.
func (f Filter) Matches(e Entity) bool {
	n := len(f.parts) + len(f.any)
	if n == 0 {
		return !f.strict
	}
	have := map[string]Part{TypeUser: e.User, TypeClientID: e.ClientID, TypeIP: e.IP}
	for typ, want := range f.parts {
		if have[typ] != want {
			return false
		}
	}
	for typ := range f.any {
		if !have[typ].Set {
			return false
		}
	}
	return !f.strict || len(e.Components()) == n
}
