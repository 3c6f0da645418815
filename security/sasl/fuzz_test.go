package sasl

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	xscram "github.com/xdg-go/scram"
)

// FuzzScram feeds arbitrary client messages to a SCRAM exchange.
// Invariants: no panic; a step that fails reports done with
// ErrAuthenticationFailed; and no exchange authenticates without a proof
// made from the user's password, whether the messages are made up (first,
// final) or come from a real client given a wrong password and then altered
// (password, flip).
func FuzzScram(f *testing.F) {
	f.Add(false, []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"), "wrong", []byte{})
	f.Add(true, []byte("n,a=alice,n=alice,r=x,tokenauth=false"), []byte("c=biws,r=x,p="), "alice-secreT", []byte{0, 1})
	f.Add(false, []byte("y,,n=mallory,r=abc"), []byte(""), "", []byte{7, 0x20})
	f.Add(true, []byte("n,,n=al=2Cice,r=\x7e"), []byte("c=,r=,p=,p="), "alice-secret\x00", []byte{40, 1})
	srv, _ := newTestServer(f)
	f.Fuzz(func(t *testing.T, sha512 bool, first, final []byte, password string, flip []byte) {
		mech, h := ScramSHA256, xscram.SHA256
		if sha512 {
			mech, h = ScramSHA512, xscram.SHA512
		}
		// Made-up messages.
		ex, err := srv.Start(mech)
		if err != nil {
			t.Fatal(err)
		}
		if user := runScram(t, ex, first, func([]byte) []byte { return final }); user != "" {
			t.Fatalf("made-up messages %q, %q authenticated %q", first, final, user)
		}

		// A real client with a wrong password, its final message altered.
		// HMAC pads a short key with zero bytes, so to PBKDF2 (and to every
		// SCRAM server, Kafka's included) a password with NULs appended is
		// the same password.
		if strings.TrimRight(password, "\x00") == "alice-secret" {
			return
		}
		client, err := h.NewClientUnprepped("alice", password, "")
		if err != nil {
			return
		}
		conv := client.NewConversation()
		c1, err := conv.Step("")
		if err != nil {
			return
		}
		ex, _ = srv.Start(mech)
		user := runScram(t, ex, []byte(c1), func(serverFirst []byte) []byte {
			c2, err := conv.Step(string(serverFirst))
			if err != nil {
				return nil
			}
			out := []byte(c2)
			for i := 0; i+1 < len(flip); i += 2 {
				if len(out) > 0 {
					out[int(flip[i])%len(out)] ^= flip[i+1]
				}
			}
			return out
		})
		if user != "" {
			t.Fatalf("a client with password %q authenticated %q", password, user)
		}
	})
}

// runScram runs both steps, making the final message from the server-first
// one, checks the failure invariants and returns the authenticated user.
func runScram(t *testing.T, ex Exchange, first []byte, final func(serverFirst []byte) []byte) string {
	t.Helper()
	reply, done, user, err := ex.Step(context.Background(), first)
	if err != nil {
		if !done || user != "" || !errors.Is(err, ErrAuthenticationFailed) {
			t.Fatalf("first step failed with done %v, user %q, %v", done, user, err)
		}
		return ""
	}
	if done || user != "" {
		t.Fatalf("first step finished the exchange: user %q", user)
	}
	_, done, user, err = ex.Step(context.Background(), final(reply))
	if !done {
		t.Fatal("final step did not finish the exchange")
	}
	if err != nil {
		if user != "" || !errors.Is(err, ErrAuthenticationFailed) {
			t.Fatalf("final step failed with user %q, %v", user, err)
		}
		return ""
	}
	return user
}

// FuzzPlain feeds arbitrary tokens to a PLAIN exchange. Invariants: no
// panic; only a token of the form [alice] NUL alice NUL alice-secret
// authenticates, and then as alice.
func FuzzPlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00alice-secret"))
	f.Add([]byte("alice\x00alice\x00alice-secret"))
	f.Add([]byte("bob\x00alice\x00alice-secret"))
	f.Add([]byte("\x00alice\x00alice-secre"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("\x00mallory\x00x\x00"))
	srv, _ := newTestServer(f)
	f.Fuzz(func(t *testing.T, token []byte) {
		ex, err := srv.Start(Plain)
		if err != nil {
			t.Fatal(err)
		}
		_, done, user, err := ex.Step(context.Background(), token)
		if !done {
			t.Fatal("PLAIN did not finish in one step")
		}
		if err != nil {
			if user != "" || !errors.Is(err, ErrAuthenticationFailed) {
				t.Fatalf("failed with user %q, %v", user, err)
			}
			return
		}
		fields := bytes.Split(token, []byte{0})
		valid := len(fields) == 3 && string(fields[1]) == "alice" && string(fields[2]) == "alice-secret" &&
			(len(fields[0]) == 0 || string(fields[0]) == "alice")
		if !valid || user != "alice" {
			t.Fatalf("token %q authenticated %q", token, user)
		}
	})
}
