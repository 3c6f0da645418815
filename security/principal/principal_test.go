package principal

import (
	"errors"
	"testing"
)

// The cases follow Kafka's SslPrincipalMapperTest.
func TestMap(t *testing.T) {
	for _, tc := range []struct {
		rules, dn, want string
	}{
		{"", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "CN=Duke,OU=ServiceUsers,O=Org,C=US"},
		{"DEFAULT", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "CN=Duke,OU=ServiceUsers,O=Org,C=US"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "Duke"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=Duke,OU=Other,O=Org,C=US", "CN=Duke,OU=Other,O=Org,C=US"},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L", "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US", "duke@javasoft"},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/U", "CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US", "DUKE@JAVASOFT"},
		{`RULE:^CN=([^,]*),.*$/$1/, DEFAULT`, "CN=alice,O=Example", "alice"},
		{`RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT`, "OU=x,CN=Bob.Smith,O=y", "bob.smith"},
		{`RULE:^CN=(.*)$/users\/$1/`, "CN=carol", "users/carol"},
	} {
		r, err := Parse(tc.rules)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.rules, err)
		}
		got, err := r.Map(tc.dn)
		if err != nil || got != tc.want {
			t.Errorf("rules %q, Map(%q) = %q, %v; want %q", tc.rules, tc.dn, got, err, tc.want)
		}
	}
}

func TestNoRuleMatches(t *testing.T) {
	r, err := Parse("RULE:^CN=(.*),OU=ServiceUsers$/$1/")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Map("CN=mallory,OU=Other"); !errors.Is(err, ErrNoRule) {
		t.Fatalf("Map = %q, %v; want ErrNoRule", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		"RULE:abc",             // no replacement
		"RULE:^(.*$/$1/",       // bad pattern
		"RULE:^(.*)$/$1/X",     // bad case flag
		"KERBEROS:foo",         // not a rule
		"DEFAULT,RULE:a/b/c/d", // too many fields
	} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}
