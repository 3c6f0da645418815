// Package quota is Kafka's client quota model and its rate accounting, with
// no knowledge of the wire protocol or of where quotas are stored: the
// gateway decodes DescribeClientQuotas and AlterClientQuotas, the coordinator
// stores one record per entity, and this package says what a quota means and
// how long a client must wait.
//
// The two things to learn first are Entity, what a quota is configured for
// (a user, a client id, both, or an IP address, each a name or Kafka's
// <default>), and Limiter, which holds the configured quotas and the rate
// sensors and answers Record with a throttle time.
//
// # Entities and precedence
//
// Kafka (KIP-55, the ClientQuotaManager's DefaultQuotaCallback) picks the
// quota of a connection's (user, client id) from the first of these entities
// configured with that quota's key, independently for each key:
//
//	/users/<user>/clients/<client-id>
//	/users/<user>/clients/<default>
//	/users/<user>
//	/users/<default>/clients/<client-id>
//	/users/<default>/clients/<default>
//	/users/<default>
//	/clients/<client-id>
//	/clients/<default>
//
// The rate is measured per resolved entity with the client's own names in
// place of <default> (Kafka's quota metric tags), so two users under the
// same /users/<default> quota each get the full quota.
//
// # Keys
//
// Kafka's names and types (QuotaConfigs): producer_byte_rate and
// consumer_byte_rate (long, bytes per second), request_percentage (double,
// percent of one request-handling thread), controller_mutation_rate
// (double, partitions per second, KIP-599) for user and client-id entities;
// connection_creation_rate (int, connections per second, KIP-612) for ip
// entities. Every value must be above zero. The first three are enforced
// (Limiter.Record); connection_creation_rate is the gateway's to enforce on
// accept (Limiter.ConnectionRate); controller_mutation_rate is stored and
// described but not enforced.
//
// # Rates and throttles
//
// A rate is Kafka's SampledStat Rate: Config.Samples windows of
// Config.Window (quota.window.num=11, quota.window.size.seconds=1), the sum
// of the values recorded in them divided by the time they span, where a
// young sensor counts as Samples-1 full windows so that a first burst does
// not read as an enormous rate. When the observed rate O exceeds the quota
// Q after a Record, the throttle is (O-Q)/Q times that span (KIP-219,
// QuotaUtils.throttleTime): the pause after which the rate is back at the
// quota. Byte rates are capped at the span of all windows (Samples×Window)
// and request time at one window, as Kafka's ClientRequestQuotaManager caps
// it. Everything takes the time as an argument, so tests are exact.
//
// # Memory
//
// A sensor exists only for an entity with a quota that applies, expires
// after Config.IdleExpiry without a Record (one hour, Kafka's
// InactiveSensorExpirationTimeSeconds), and there are at most
// Config.MaxSensors of them: client ids are chosen by clients, and a client
// making up new ones must not grow the gateway's memory. Past the cap an
// arbitrary sensor is dropped, which only forgets that client's recent
// rate.
//
// # Locks
//
// Limiter.mu guards the quota table and the sensors; it is a leaf lock, held
// for map lookups and a few arithmetic operations, never across I/O.
//
// # Usage
//
//	l := quota.New(quota.Config{})
//	l.Set(quota.Entity{User: quota.Named("alice")}, quota.Values{quota.ProducerByteRate: 1 << 20})
//	if d := l.Record(quota.Produce, "alice", "app", float64(len(frame)), time.Now()); d > 0 {
//		// answer with throttle_time_ms = d, then read nothing from the
//		// connection for d
//	}
package quota
