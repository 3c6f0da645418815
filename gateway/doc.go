// Package gateway serves the Kafka wire protocol: it accepts client connections,
// frames and decodes requests with franz-go's kmsg, dispatches them to one
// handler per API family, and encodes the responses. Topic metadata and
// committed offsets come from the coordinator (Topics, TopicAdmin, ProducerIDs,
// Offsets) and data from the partition logs (Logs), all through interfaces
// declared here. It coordinates consumer groups (coordinator/group) and
// transactional ids (coordinator/txn, txn_coordinator.go), both stored in the
// coordinator by compare-and-swap, so any gateway can take either over; and
// it asks other gateways to write transaction markers (peers.go), the one
// request gateways send one another.
//
// Each handler file starts with a header giving the versions served, the
// behaviour, the KIPs followed and any deviation from Kafka. The version table
// in versions.go is the single source of what is served, and ApiVersions is
// built from it. errors.go is the single mapping from domain errors to Kafka
// error codes.
//
// # Connections
//
// One goroutine per connection reads frames and runs each request's in-order
// part (validation, and for Produce the append that assigns offsets), so a
// client's requests take effect in the order sent. What may wait — a produce
// waiting for durability, a fetch long poll — runs in a goroutine per request,
// and one writer goroutine sends responses in request order. At most
// maxInFlight requests of a connection are in progress; the rest wait in the
// socket, which is the backpressure.
//
// Hostile input: a frame's size is checked against a per-API cap before
// anything is allocated (Produce may be up to MaxRequestBytes; every other
// request maxControlRequestBytes), and an undecodable request, unknown API key
// or unsupported version closes the connection, as Kafka does, except
// ApiVersions, which is answered with UNSUPPORTED_VERSION and our versions
// (KIP-511). A panic while serving a request is recovered, logged with the
// remote address, and closes only that connection.
//
// # Security
//
// A gateway serves several named listeners (listeners.go), each PLAINTEXT,
// SSL, SASL_PLAINTEXT or SASL_SSL, as Kafka's listeners and
// listener.security.protocol.map. Every connection has a principal:
// "User:ANONYMOUS" until it authenticates, then its TLS client certificate's
// subject (Config.SSLPrincipal) or its SASL user (sasl.go: PLAIN and
// SCRAM-SHA-256/512 against the coordinator's salted credentials, KIP-368
// re-authentication; before a SASL login only ApiVersions and the SASL APIs
// are served, in frames of at most 64 KiB). With Config.Authorizer, every
// API checks Kafka's ACLs for that principal (authorize.go, acls.go), and
// client quotas (quotas.go) throttle it with throttle_time_ms and a muted
// connection (KIP-219). KIP-554 credentials (scram_credentials.go), ACLs and
// quotas are stored in the coordinator, so every gateway applies the same.
//
// Usage:
//
//	srv, err := gateway.New(gateway.Config{ClusterID: id,
//		Listeners: []gateway.Listener{{Name: "PLAINTEXT", Protocol: gateway.Plaintext, Listener: ln}},
//		Topics: store, TopicAdmin: store, ProducerIDs: store, Offsets: store, Logs: log})
//	err = srv.Run(ctx)
package gateway
