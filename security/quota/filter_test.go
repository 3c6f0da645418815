package quota

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestFilter runs Kafka's describe matching over a fixed set of entities.
func TestQuotaFilter(t *testing.T) {
	entities := []Entity{
		{User: Named("alice")},
		{User: Default()},
		{User: Named("alice"), ClientID: Named("app")},
		{User: Named("alice"), ClientID: Default()},
		{ClientID: Named("app")},
		{ClientID: Default()},
		{IP: Named("10.0.0.1")},
		{IP: Default()},
	}
	exact := func(typ, name string) FilterComponent {
		return FilterComponent{Type: typ, Match: MatchExact, Name: &name}
	}
	deflt := func(typ string) FilterComponent { return FilterComponent{Type: typ, Match: MatchDefault} }
	anyOf := func(typ string) FilterComponent { return FilterComponent{Type: typ, Match: MatchAny} }
	for _, tc := range []struct {
		name   string
		comps  []FilterComponent
		strict bool
		want   []int // indexes into entities
	}{
		{"everything", nil, false, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"strict nothing", nil, true, nil},
		{"exact user", []FilterComponent{exact(TypeUser, "alice")}, false, []int{0, 2, 3}},
		{"exact user strict", []FilterComponent{exact(TypeUser, "alice")}, true, []int{0}},
		{"default user", []FilterComponent{deflt(TypeUser)}, false, []int{1}},
		{"any user", []FilterComponent{anyOf(TypeUser)}, false, []int{0, 1, 2, 3}},
		{"any user strict", []FilterComponent{anyOf(TypeUser)}, true, []int{0, 1}},
		{"user and any client", []FilterComponent{exact(TypeUser, "alice"), anyOf(TypeClientID)}, false, []int{2, 3}},
		{"user and default client", []FilterComponent{exact(TypeUser, "alice"), deflt(TypeClientID)}, true, []int{3}},
		{"exact client", []FilterComponent{exact(TypeClientID, "app")}, false, []int{2, 4}},
		{"exact client strict", []FilterComponent{exact(TypeClientID, "app")}, true, []int{4}},
		{"any ip", []FilterComponent{anyOf(TypeIP)}, false, []int{6, 7}},
		{"unknown name", []FilterComponent{exact(TypeUser, "carol")}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFilter(tc.comps, tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i, e := range entities {
				if f.Matches(e) {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("matched %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQuotaFilterErrors(t *testing.T) {
	name := "x"
	for _, tc := range []struct {
		comps []FilterComponent
		is    error
		msg   string
	}{
		{[]FilterComponent{{Type: ""}}, ErrInvalid, "Invalid empty entity type"},
		{[]FilterComponent{{Type: TypeUser, Match: MatchAny}, {Type: TypeUser, Match: MatchDefault}}, ErrInvalid, "cannot appear more than once"},
		{[]FilterComponent{{Type: "group", Match: MatchAny}}, ErrUnsupported, "Unsupported entity type group"},
		{[]FilterComponent{{Type: TypeUser, Match: MatchExact}}, ErrInvalid, "MATCH_TYPE_EXACT"},
		{[]FilterComponent{{Type: TypeUser, Match: MatchDefault, Name: &name}}, ErrInvalid, "MATCH_TYPE_DEFAULT"},
		{[]FilterComponent{{Type: TypeUser, Match: MatchAny, Name: &name}}, ErrInvalid, "MATCH_TYPE_SPECIFIED"},
		{[]FilterComponent{{Type: TypeUser, Match: 7}}, ErrInvalid, "Unknown match type 7"},
		{[]FilterComponent{{Type: TypeIP, Match: MatchAny}, {Type: TypeClientID, Match: MatchAny}}, ErrInvalid, "IP filter component"},
	} {
		_, err := NewFilter(tc.comps, false)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("NewFilter(%+v) = %v, want %v with %q", tc.comps, err, tc.is, tc.msg)
		}
	}
}
