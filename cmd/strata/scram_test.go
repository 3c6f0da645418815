package main

import (
	"slices"
	"strings"
	"testing"
)

func TestAddScramFlag(t *testing.T) {
	var got scramUsers
	for _, v := range []string{
		"SCRAM-SHA-512=[name=admin,password=admin-secret]",
		`SCRAM-SHA-256=[name=alice, password="a,b]c;\"d\\",iterations=8192]; SCRAM-SHA-512=[password=bob-pw,name=bob]`,
	} {
		if err := got.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := scramUsers{
		{mechanism: "SCRAM-SHA-512", name: "admin", password: "admin-secret"},
		{mechanism: "SCRAM-SHA-256", name: "alice", password: `a,b]c;"d\`, iterations: 8192},
		{mechanism: "SCRAM-SHA-512", name: "bob", password: "bob-pw"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if s := got.String(); s == "" || slices.ContainsFunc(got, func(u scramUser) bool { return len(u.password) > 0 && strings.Contains(s, u.password) }) {
		t.Errorf("String() %q shows a password", s)
	}
	for _, bad := range []string{
		"SCRAM-SHA-1=[name=a,password=b]",
		"PLAIN=[name=a,password=b]",
		"SCRAM-SHA-512=[name=a]",
		"SCRAM-SHA-512=[name=a,password=b",
		"SCRAM-SHA-512=[name=a,password=b,salt=c]",
		"SCRAM-SHA-512=[name=a,name=b,password=c]",
		`SCRAM-SHA-512=[name=a,password="b]`,
		"SCRAM-SHA-512=[name=a,password=b,iterations=x]",
		"SCRAM-SHA-512=[name=a,password=b] SCRAM-SHA-512=[name=c,password=d]",
		"name=a,password=b",
	} {
		var u scramUsers
		if err := u.Set(bad); err == nil {
			t.Errorf("Set(%q) = %+v, want an error", bad, u)
		}
	}
}

func TestParseIPOverrides(t *testing.T) {
	got, err := parseIPOverrides("10.0.0.1:5, ::1:0,[fe80::1]:7")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"10.0.0.1": 5, "::1": 0, "fe80::1": 7}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for a, n := range got {
		if want[a.String()] != n {
			t.Errorf("%s: %d, want %d", a, n, want[a.String()])
		}
	}
	for _, bad := range []string{"10.0.0.1", "host:3", "10.0.0.1:-1", "10.0.0.1:x"} {
		if _, err := parseIPOverrides(bad); err == nil {
			t.Errorf("parseIPOverrides(%q) succeeded", bad)
		}
	}
}
