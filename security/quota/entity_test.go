package quota

import (
	"errors"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

// TestPrecedence configures every one of Kafka's eight entities with a
// distinct producer_byte_rate, then removes them from the most specific on,
// checking each time that the next one in Kafka's order applies.
func TestQuotaPrecedence(t *testing.T) {
	u, c, d := Named("alice"), Named("app"), Default()
	order := []Entity{
		{User: u, ClientID: c},
		{User: u, ClientID: d},
		{User: u},
		{User: d, ClientID: c},
		{User: d, ClientID: d},
		{User: d},
		{ClientID: c},
		{ClientID: d},
	}
	l := New(Config{})
	for i, e := range order {
		l.Set(e, Values{ProducerByteRate: float64(100 + i)})
	}
	// Entities for other names never apply.
	l.Set(Entity{User: Named("bob")}, Values{ProducerByteRate: 1})
	l.Set(Entity{ClientID: Named("other")}, Values{ProducerByteRate: 2})
	for i, want := range order {
		t.Run(want.String(), func(t *testing.T) {
			bound, from, ok := l.Resolve(Produce, "alice", "app")
			if !ok || from != want || bound != float64(100+i) {
				t.Fatalf("Resolve = %v from {%v}, %v; want %v from {%v}", bound, from, ok, 100+i, want)
			}
		})
		l.Set(want, nil)
	}
	if _, _, ok := l.Resolve(Produce, "alice", "app"); ok {
		t.Fatal("a quota applies after every entity was removed")
	}
}

// TestPrecedencePerKey checks that each key is resolved on its own: a user's
// produce quota does not hide the client id's consumer quota.
func TestQuotaPrecedencePerKey(t *testing.T) {
	l := New(Config{})
	l.Set(Entity{User: Named("alice")}, Values{ProducerByteRate: 10})
	l.Set(Entity{ClientID: Default()}, Values{ConsumerByteRate: 20, ProducerByteRate: 30})
	for _, tc := range []struct {
		t     Type
		bound float64
		from  Entity
	}{
		{Produce, 10, Entity{User: Named("alice")}},
		{Fetch, 20, Entity{ClientID: Default()}},
	} {
		bound, from, ok := l.Resolve(tc.t, "alice", "app")
		if !ok || bound != tc.bound || from != tc.from {
			t.Errorf("Resolve(%s) = %v from {%v}; want %v from {%v}", tc.t.Key(), bound, from, tc.bound, tc.from)
		}
	}
	if _, _, ok := l.Resolve(Request, "alice", "app"); ok {
		t.Error("request_percentage applies, none is configured")
	}
}

func TestQuotaSensorEntity(t *testing.T) {
	for _, tc := range []struct {
		resolved, want Entity
	}{
		{Entity{User: Default()}, Entity{User: Named("alice")}},
		{Entity{User: Default(), ClientID: Default()}, Entity{User: Named("alice"), ClientID: Named("app")}},
		{Entity{User: Named("alice"), ClientID: Default()}, Entity{User: Named("alice"), ClientID: Named("app")}},
		{Entity{ClientID: Default()}, Entity{ClientID: Named("app")}},
		{Entity{ClientID: Named("app")}, Entity{ClientID: Named("app")}},
	} {
		if got := sensorEntity(tc.resolved, "alice", "app"); got != tc.want {
			t.Errorf("sensorEntity({%v}) = {%v}, want {%v}", tc.resolved, got, tc.want)
		}
	}
}

func TestQuotaEntityAddValidate(t *testing.T) {
	type comp struct {
		typ  string
		name *string
	}
	for _, tc := range []struct {
		name  string
		comps []comp
		want  string // "" when valid; else part of the message
	}{
		{"user", []comp{{TypeUser, ptr("alice")}}, ""},
		{"default user and client", []comp{{TypeUser, nil}, {TypeClientID, nil}}, ""},
		{"client", []comp{{TypeClientID, ptr("app")}}, ""},
		{"ip", []comp{{TypeIP, ptr("10.0.0.1")}}, ""},
		{"ipv6", []comp{{TypeIP, ptr("::1")}}, ""},
		{"default ip", []comp{{TypeIP, nil}}, ""},
		{"empty", nil, "Invalid empty client quota entity"},
		{"unknown type", []comp{{"group", ptr("g")}}, "Unhandled client quota entity type: group"},
		{"duplicate", []comp{{TypeUser, ptr("a")}, {TypeUser, ptr("b")}}, "duplicate entity entry user"},
		{"empty name", []comp{{TypeClientID, ptr("")}}, "Empty client-id not supported"},
		{"ip with user", []comp{{TypeIP, nil}, {TypeUser, ptr("a")}}, "IP entity should not be combined"},
		{"bad ip", []comp{{TypeIP, ptr("not-an-ip")}}, "not-an-ip is not a valid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e Entity
			var err error
			for _, c := range tc.comps {
				if err = e.Add(c.typ, c.name); err != nil {
					break
				}
			}
			if err == nil {
				err = e.Validate()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestQuotaEntityComponentsRoundTrip(t *testing.T) {
	e := Entity{User: Named("alice"), ClientID: Default()}
	var back Entity
	for _, c := range e.Components() {
		if err := back.Add(c.Type, c.Name); err != nil {
			t.Fatal(err)
		}
	}
	if back != e {
		t.Fatalf("round trip = {%v}, want {%v}", back, e)
	}
	if got, want := e.String(), "user=alice, client-id=<default>"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}

func TestQuotaValidateValue(t *testing.T) {
	user := Entity{User: Named("alice")}
	ip := Entity{IP: Default()}
	for _, tc := range []struct {
		e     Entity
		key   string
		value float64
		want  string
	}{
		{user, ProducerByteRate, 1048576, ""},
		{user, ConsumerByteRate, 1, ""},
		{user, RequestPercentage, 12.5, ""},
		{user, ControllerMutationRate, 0.5, ""},
		{ip, ConnectionCreationRate, 10, ""},
		{user, ProducerByteRate, 1024.0000000001, ""}, // within Kafka's epsilon
		{user, "producer_byte_rat", 1, "Invalid configuration key producer_byte_rat"},
		{user, ConnectionCreationRate, 1, "Invalid configuration key connection_creation_rate"},
		{ip, ProducerByteRate, 1, "Invalid configuration key producer_byte_rate"},
		{user, ProducerByteRate, 0, "must be greater than 0"},
		{user, RequestPercentage, -1, "must be greater than 0"},
		{user, ProducerByteRate, 10.5, "must be a Long value"},
		{ip, ConnectionCreationRate, 1e10, "must be an Int value"},
	} {
		err := ValidateValue(tc.e, tc.key, tc.value)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s=%v on {%v}: refused: %v", tc.key, tc.value, tc.e, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s=%v on {%v}: err = %v, want %q", tc.key, tc.value, tc.e, err, tc.want)
		}
	}
}
