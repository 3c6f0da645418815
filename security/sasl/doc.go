// Package sasl is the server side of the SASL mechanisms a Kafka listener
// offers: SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677, as Kafka's
// ScramSaslServer speaks them) and PLAIN (RFC 4616), all checked against
// salted SCRAM credentials, so that no password is ever stored.
//
// The two things to learn first are Credential, what is stored per user and
// mechanism, and Server.Start, which begins one login and returns its
// Exchange. The package knows nothing of the Kafka protocol: the gateway
// carries the tokens (SaslHandshake and SaslAuthenticate, or bare frames
// after a v0 handshake), keeps the connection's state and maps errors to
// Kafka codes. Credentials are read through the Credentials interface; the
// coordinator stores them.
//
// # Invariants
//
//   - A login succeeds only with a proof made from the user's password:
//     SCRAM compares the client's proof against the stored StoredKey, PLAIN
//     derives the salted password with the stored salt and iteration count
//     and compares the StoredKey it yields, both in constant time.
//   - An unknown user fails the same way a wrong password does, at the same
//     step and with comparable work: SCRAM answers its first message with a
//     salt made up from Config.Secret and the user name (stable, so that
//     asking twice tells nothing either), and PLAIN derives a key all the
//     same. Only ErrAuthenticationFailed reaches the client; the reason is
//     in the wrapped error, for the server's log.
//   - Every client token is capped at MaxTokenBytes before it is parsed.
//   - Kafka's rules for SCRAM hold: no channel binding (gs2 header "n,,"
//     or "n,a=<user>,"), no extensions but "tokenauth=false" (Strata has
//     no delegation tokens, so "tokenauth=true" fails), an authorization id
//     only when it equals the user name.
//
// # Usage
//
//	srv, err := sasl.New(sasl.Config{Credentials: store})
//	ex, err := srv.Start("SCRAM-SHA-512")
//	for {
//		reply, done, user, err := ex.Step(ctx, clientToken)
//		// send reply; on done, the connection is user's
//	}
package sasl
