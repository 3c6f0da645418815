package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stratalog/strata/gateway"
)

func TestParseListeners(t *testing.T) {
	specs, err := parseListeners("PLAINTEXT://127.0.0.1:9092,INTERNAL://:9093,SASL_SSL://0.0.0.0:9094",
		"INTERNAL://gw1.internal:9093,SASL_SSL://kafka.example.com:443",
		"PLAINTEXT:PLAINTEXT,INTERNAL:SSL,SASL_SSL:SASL_SSL", "INTERNAL")
	if err != nil {
		t.Fatal(err)
	}
	want := []listenerSpec{
		{name: "INTERNAL", protocol: gateway.SSL, addr: ":9093", advertise: "gw1.internal:9093"},
		{name: "PLAINTEXT", protocol: gateway.Plaintext, addr: "127.0.0.1:9092"},
		{name: "SASL_SSL", protocol: gateway.SASLSSL, addr: "0.0.0.0:9094", advertise: "kafka.example.com:443"},
	}
	if len(specs) != len(want) {
		t.Fatalf("got %+v", specs)
	}
	for i := range want {
		if specs[i] != want[i] {
			t.Errorf("listener %d: got %+v, want %+v", i, specs[i], want[i])
		}
	}

	for _, bad := range []struct{ listeners, advertised, protocols, interBroker string }{
		{"PLAINTEXT://127.0.0.1", "", defaultProtocolMap, ""},                                 // no port
		{"127.0.0.1:9092", "", defaultProtocolMap, ""},                                        // no name
		{"EXTERNAL://127.0.0.1:9092", "", defaultProtocolMap, ""},                             // no protocol for the name
		{"PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", "", defaultProtocolMap, ""}, // twice
		{"PLAINTEXT://127.0.0.1:9092", "SSL://h:1", defaultProtocolMap, ""},                   // advertises an unknown listener
		{"PLAINTEXT://:9092", "PLAINTEXT://0.0.0.0:9092", defaultProtocolMap, ""},             // advertises a wildcard
		{"PLAINTEXT://127.0.0.1:9092", "", "PLAINTEXT:TLS", ""},                               // unknown protocol
		{"PLAINTEXT://127.0.0.1:9092", "", defaultProtocolMap, "SSL"},                         // inter-broker listener missing
		{"", "", defaultProtocolMap, ""},
	} {
		if _, err := parseListeners(bad.listeners, bad.advertised, bad.protocols, bad.interBroker); err == nil {
			t.Errorf("parseListeners(%q, %q, %q, %q) succeeded", bad.listeners, bad.advertised, bad.protocols, bad.interBroker)
		}
	}
}

// A listener other hosts can reach must authenticate its clients unless that
// is waived explicitly; loopback listeners (make run's default) need not.
func TestUnauthenticatedListenersRefused(t *testing.T) {
	env := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true}, // the default: PLAINTEXT on loopback
		{[]string{"--listeners", "PLAINTEXT://localhost:9092"}, true},
		{[]string{"--listeners", "PLAINTEXT://0.0.0.0:9092"}, false},
		{[]string{"--listeners", "PLAINTEXT://:9092"}, false},
		{[]string{"--listeners", "PLAINTEXT://0.0.0.0:9092", "--allow-unauthenticated-listeners"}, true},
		{[]string{"--listeners", "SASL_PLAINTEXT://0.0.0.0:9092"}, true},
		{[]string{"--listeners", "SSL://0.0.0.0:9093", "--ssl-cert-file", "c", "--ssl-key-file", "k"}, false},
		{[]string{"--listeners", "SSL://0.0.0.0:9093", "--ssl-cert-file", "c", "--ssl-key-file", "k", "--ssl-client-ca-file", "ca", "--ssl-client-auth", "requested"}, false},
		{[]string{"--listeners", "SSL://0.0.0.0:9093", "--ssl-cert-file", "c", "--ssl-key-file", "k", "--ssl-client-ca-file", "ca", "--ssl-client-auth", "required"}, true},
		{[]string{"--listeners", "SSL://127.0.0.1:9093"}, false},                // SSL without a certificate
		{[]string{"--ssl-cert-file", "c", "--ssl-key-file", "k"}, false},        // a certificate no listener uses
		{[]string{"--ssl-client-auth", "required"}, false},                      // no client CAs
		{[]string{"--ssl-principal-mapping-rules", "RULE:^CN=(.*$/$1/"}, false}, // a bad rule
		{[]string{"--ssl-principal-mapping-rules", "RULE:^CN=([^,]*),.*$/$1/L,DEFAULT"}, true},
		{[]string{"--schema-registry-listen", "0.0.0.0:8081"}, false},
		{[]string{"--schema-registry-listen", "0.0.0.0:8081", "--http-auth", "basic"}, true},
		{[]string{"--schema-registry-listen", "0.0.0.0:8081", "--allow-unauthenticated-listeners"}, true},
		{[]string{"--authorizer", "simple"}, false},
		{[]string{"--http-auth", "digest"}, false},
	} {
		_, err := parseServeFlags(tc.args, env, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("strata serve %s: err %v, want ok=%v", strings.Join(tc.args, " "), err, tc.ok)
		}
	}
}
