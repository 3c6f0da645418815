package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// librdkafkaFinal is the client-final message librdkafka before 2.6.1 sends:
// its nonce is its own nonce followed by the server-first nonce, and the
// proof is computed over that message, for password.
func librdkafkaFinal(t *testing.T, mechanism, clientFirstBare, serverFirst, clientNonce, password string, nonceOf func(serverNonce string) string) (final, serverSignature string) {
	t.Helper()
	attrs := map[string]string{}
	for _, f := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(f, "=")
		attrs[k] = v
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		t.Fatal(err)
	}
	iters, _ := strconv.Atoi(attrs["i"])
	h := hashFor(mechanism)
	salted, err := pbkdf2.Key(h, password, salt, iters, h().Size())
	if err != nil {
		t.Fatal(err)
	}
	clientKey := mac(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	storedKey := sum.Sum(nil)
	without := "c=biws,r=" + nonceOf(attrs["r"])
	authMessage := clientFirstBare + "," + serverFirst + "," + without
	sig := hmac.New(h, storedKey)
	sig.Write([]byte(authMessage))
	proof := sig.Sum(nil)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(proof),
		"v=" + base64.StdEncoding.EncodeToString(mac(h, mac(h, salted, "Server Key"), authMessage))
}

// kcat and every client on librdkafka before 2.6.1 log in, as with Kafka up
// to 3.9; the relaxed nonce does not relax the proof.
func TestScramDoubledNonce(t *testing.T) {
	srv, _ := newTestServer(t)
	const clientNonce = "rOprNGfwEbeRWgbNEkqO"
	doubled := func(serverNonce string) string { return clientNonce + serverNonce }
	for _, tc := range []struct {
		name, mechanism, user, password string
		nonce                           func(string) string
		ok                              bool
	}{
		{"librdkafka, SCRAM-SHA-512", ScramSHA512, "alice", "alice-secret", doubled, true},
		{"librdkafka, SCRAM-SHA-256", ScramSHA256, "bob", "bob-secret", doubled, true},
		{"librdkafka, wrong password", ScramSHA512, "alice", "wrong", doubled, false},
		{"librdkafka, unknown user", ScramSHA512, "mallory", "alice-secret", doubled, false},
		{"other nonce before the server's", ScramSHA512, "alice", "alice-secret", func(s string) string { return "x" + s }, false},
		{"the server's nonce twice", ScramSHA512, "alice", "alice-secret", func(s string) string { return s + s }, false},
		{"as RFC 5802", ScramSHA512, "alice", "alice-secret", func(s string) string { return s }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := srv.Start(tc.mechanism)
			if err != nil {
				t.Fatal(err)
			}
			bare := "n=" + tc.user + ",r=" + clientNonce
			serverFirst, _, _, err := ex.Step(context.Background(), []byte("n,,"+bare))
			if err != nil {
				t.Fatal(err)
			}
			final, wantSig := librdkafkaFinal(t, tc.mechanism, bare, string(serverFirst), clientNonce, tc.password, tc.nonce)
			reply, done, user, err := ex.Step(context.Background(), []byte(final))
			if ok := err == nil; ok != tc.ok || !done {
				t.Fatalf("login: user %q, err %v, done %v; want ok=%v", user, err, done, tc.ok)
			}
			if tc.ok && (user != tc.user || string(reply) != wantSig) {
				t.Fatalf("user %q, server-final %q; want %q, %q", user, reply, tc.user, wantSig)
			}
		})
	}
}
