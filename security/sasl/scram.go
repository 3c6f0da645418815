package sasl

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/xdg-go/scram"
)

// scramExchange is SCRAM-SHA-256 or SCRAM-SHA-512 (RFC 5802, RFC 7677) as
// Kafka's ScramSaslServer speaks it: client-first → server-first (nonce,
// salt, iterations) → client-final with the proof → server-final with the
// server's signature. xdg-go/scram runs the conversation; checkClientFirst
// adds Kafka's rules, which it does not apply.
type scramExchange struct {
	srv       *Server
	mechanism string
	conv      *scram.ServerConversation
	// known is false when the user has no credential and conv runs on a
	// made-up one, which must never authenticate.
	known bool
	step  int // 0: client-first expected, 1: client-final, 2: done
	// cred, clientFirstBare and serverFirst are kept for
	// doubledNonceFinal, the one client-final message xdg-go cannot check.
	cred            Credential
	clientFirstBare string
	serverFirst     string
}

func (e *scramExchange) Step(ctx context.Context, token []byte) ([]byte, bool, string, error) {
	switch e.step {
	case 0:
		e.step = 1
		reply, err := e.first(ctx, token)
		if err != nil {
			e.step = 2
			return nil, true, "", err
		}
		return reply, false, "", nil
	case 1:
		e.step = 2
		reply, user, err := e.final(token)
		if err != nil {
			return nil, true, "", err
		}
		return reply, true, user, nil
	default:
		return nil, true, "", ErrExchangeDone
	}
}

// first answers the client-first message with the server-first message.
func (e *scramExchange) first(ctx context.Context, token []byte) ([]byte, error) {
	if len(token) > MaxTokenBytes {
		return nil, failf("%s client-first message of %d bytes, limit %d", e.mechanism, len(token), MaxTokenBytes)
	}
	msg := string(token)
	if err := checkClientFirst(msg); err != nil {
		return nil, failf("%s client-first message: %v", e.mechanism, err)
	}
	// xdg-go's lookup callback takes no context; this one is used only
	// within the Step below, which is within this call.
	var lookupErr error
	lookup := func(user string) (scram.StoredCredentials, error) {
		c, known, err := e.srv.lookup(ctx, user, e.mechanism)
		if err != nil {
			lookupErr = err
			return scram.StoredCredentials{}, err
		}
		e.known, e.cred = known, c
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey:  c.StoredKey,
			ServerKey:  c.ServerKey,
		}, nil
	}
	h := scram.SHA256
	if e.mechanism == ScramSHA512 {
		h = scram.SHA512
	}
	srv, err := h.NewServer(lookup)
	if err != nil {
		return nil, fmt.Errorf("sasl: start a %s conversation: %w", e.mechanism, err)
	}
	e.conv = srv.NewConversation()
	reply, err := e.conv.Step(msg)
	if lookupErr != nil {
		return nil, lookupErr
	}
	if err != nil {
		return nil, failf("%s client-first message: %v", e.mechanism, err)
	}
	_, e.clientFirstBare, _ = strings.Cut(msg[len("n,"):], ",")
	e.serverFirst = reply
	if authz := e.conv.AuthzID(); authz != "" && authz != e.conv.Username() {
		// ScramSaslServer: "Client requested an authorization id that
		// is different from username".
		return nil, failf("%s: authorization id %q is not the user %q", e.mechanism, authz, e.conv.Username())
	}
	return []byte(reply), nil
}

// final checks the client-final message's proof and answers with the
// server-final message.
func (e *scramExchange) final(token []byte) ([]byte, string, error) {
	if len(token) > MaxTokenBytes {
		return nil, "", failf("%s client-final message of %d bytes, limit %d", e.mechanism, len(token), MaxTokenBytes)
	}
	if reply, ok, err := e.doubledNonceFinal(string(token)); ok || err != nil {
		if err != nil {
			return nil, "", err
		}
		return reply, e.conv.Username(), nil
	}
	reply, err := e.conv.Step(string(token))
	switch {
	case err != nil:
		return nil, "", failf("%s client-final message of user %q: %v", e.mechanism, e.conv.Username(), err)
	case !e.conv.Valid() || !e.known:
		return nil, "", failf("%s: wrong proof or unknown user %q", e.mechanism, e.conv.Username())
	}
	return []byte(reply), e.conv.Username(), nil
}

// doubledNonceFinal checks the client-final message librdkafka before 2.6.1
// sends (confluentinc/librdkafka#4895): its nonce is the client's nonce
// followed by the whole server-first nonce, which begins with the client's
// nonce again. Kafka up to 3.9 took it, its check being that the nonce ends
// with the server's; xdg-go, like Kafka 4, wants the nonces equal. kcat and
// every librdkafka client of Debian 12 and Ubuntu 22.04 send it, so it is
// taken here as Kafka 3.9 takes it: the proof is checked over the message as
// sent, so nothing but the nonce's spelling is relaxed. ok is false for any
// other message, which xdg-go then checks.
func (e *scramExchange) doubledNonceFinal(msg string) (reply []byte, ok bool, err error) {
	serverNonce := attribute(e.serverFirst, "r")
	without, proofB64, found := strings.Cut(msg, ",p=")
	if !found || serverNonce == "" {
		return nil, false, nil
	}
	fields := strings.Split(without, ",")
	if len(fields) != 2 || fields[0] != "c=biws" || !strings.HasPrefix(fields[1], "r=") {
		return nil, false, nil
	}
	nonce := fields[1][len("r="):]
	clientNonce := attribute(e.clientFirstBare, "r")
	if nonce == serverNonce || nonce != clientNonce+serverNonce {
		return nil, false, nil
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	h := hashFor(e.mechanism)
	if err != nil || len(proof) != h().Size() {
		return nil, true, failf("%s client-final message of user %q: malformed proof", e.mechanism, e.conv.Username())
	}
	authMessage := e.clientFirstBare + "," + e.serverFirst + "," + without
	signature := mac(h, e.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ signature[i]
	}
	sum := h()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), e.cred.StoredKey) != 1 || !e.known {
		return nil, true, failf("%s: wrong proof or unknown user %q", e.mechanism, e.conv.Username())
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(h, e.cred.ServerKey, authMessage))), true, nil
}

// attribute returns the value of a SCRAM message's attribute, "" if absent.
func attribute(msg, name string) string {
	for f := range strings.SplitSeq(msg, ",") {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

// checkClientFirst applies the rules of Kafka's ScramMessages.ClientFirstMessage
// that xdg-go leaves out:
//
//	client-first = "n," ["a=" saslname] "," "n=" saslname ",r=" nonce *("," ext "=" value)
//
// The gs2 flag must be "n": Kafka offers no channel binding, so "y" and "p="
// are refused. The nonce is printable ASCII without ','. The only extension
// taken is tokenauth=false: Kafka's only extension, tokenauth=true, logs in
// with a delegation token, which Strata does not have. xdg-go checks the
// names' escapes and refuses the reserved "m=" attribute.
func checkClientFirst(msg string) error {
	gs2, rest, ok := strings.Cut(msg, ",")
	if !ok || gs2 != "n" {
		return fmt.Errorf("gs2 header %q: channel binding is not supported", gs2)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok || authz != "" && !strings.HasPrefix(authz, "a=") {
		return fmt.Errorf("malformed authorization id %q", authz)
	}
	fields := strings.Split(bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || len(fields[0]) == len("n=") {
		return fmt.Errorf("no user name")
	}
	nonce, ok := strings.CutPrefix(fields[1], "r=")
	if !ok || nonce == "" {
		return fmt.Errorf("no nonce")
	}
	for i := 0; i < len(nonce); i++ {
		if c := nonce[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("nonce byte %#x is not printable", c)
		}
	}
	for _, ext := range fields[2:] {
		k, v, _ := strings.Cut(ext, "=")
		if k != "tokenauth" || !strings.EqualFold(v, "false") {
			return fmt.Errorf("extension %q is not supported", k)
		}
	}
	return nil
}
