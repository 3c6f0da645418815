package sasl

import (
	"bytes"
	"context"
	"unicode/utf8"
)

// plainExchange is SASL/PLAIN (RFC 4616), as Kafka's PlainSaslServer reads
// it: one token, "authzid NUL authcid NUL passwd", answered with an empty
// token. Strata keeps no passwords, so the password is checked against the
// user's SCRAM credential: salted with its salt and iterations, it must
// yield its StoredKey.
//
// A user may have a credential for each SCRAM mechanism. PLAIN reads both
// (two reads for every user, known or not, so that timing does not tell
// them apart) and checks the SCRAM-SHA-512 one when there is one, else the
// SCRAM-SHA-256 one: one PBKDF2 per attempt. A user whose two credentials
// were set with different passwords logs in with PLAIN by the SCRAM-SHA-512
// one.
type plainExchange struct {
	srv  *Server
	done bool
}

func (e *plainExchange) Step(ctx context.Context, token []byte) ([]byte, bool, string, error) {
	if e.done {
		return nil, true, "", ErrExchangeDone
	}
	e.done = true
	user, password, err := parsePlain(token)
	if err != nil {
		return nil, true, "", err
	}
	// found is the first credential the user has, else the first made-up
	// one (a SCRAM-SHA-512 one, which costs what checking most real ones
	// does).
	var found Credential
	known := false
	for _, m := range []string{ScramSHA512, ScramSHA256} {
		c, ok, err := e.srv.lookup(ctx, user, m)
		if err != nil {
			return nil, true, "", err
		}
		if found.Mechanism == "" || ok && !known {
			found, known = c, ok
		}
	}
	ok, err := found.Verify(password)
	if err != nil {
		return nil, true, "", err
	}
	if !ok || !known {
		return nil, true, "", failf("PLAIN: wrong password or unknown user %q", user)
	}
	return []byte{}, true, user, nil
}

// parsePlain splits a PLAIN token into its user and password. As Kafka: three
// fields, a user and a password that are not empty, and an authorization id
// that is empty or the user.
func parsePlain(token []byte) (user, password string, err error) {
	if len(token) > MaxTokenBytes {
		return "", "", failf("PLAIN token of %d bytes, limit %d", len(token), MaxTokenBytes)
	}
	if !utf8.Valid(token) {
		return "", "", failf("PLAIN token is not UTF-8")
	}
	fields := bytes.Split(token, []byte{0})
	if len(fields) != 3 {
		return "", "", failf("PLAIN token of %d fields, want 3", len(fields))
	}
	authz, u, p := fields[0], fields[1], fields[2]
	switch {
	case len(u) == 0:
		return "", "", failf("PLAIN: no user name")
	case len(p) == 0:
		return "", "", failf("PLAIN: no password")
	case len(u) > MaxUserBytes || len(authz) > MaxUserBytes:
		return "", "", failf("PLAIN: user name of %d bytes, limit %d", max(len(u), len(authz)), MaxUserBytes)
	case len(p) > maxPasswordBytes:
		return "", "", failf("PLAIN: password of %d bytes, limit %d", len(p), maxPasswordBytes)
	case len(authz) > 0 && !bytes.Equal(authz, u):
		return "", "", failf("PLAIN: authorization id %q is not the user %q", authz, u)
	}
	return string(u), string(p), nil
}
