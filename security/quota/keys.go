package quota

import (
	"fmt"
	"math"
)

// Quota keys, with Kafka's names (QuotaConfigs).
const (
	// ProducerByteRate bounds the bytes per second of a client's produce
	// requests. Enforced.
	ProducerByteRate = "producer_byte_rate"
	// ConsumerByteRate bounds the bytes per second of a client's fetch
	// responses. Enforced.
	ConsumerByteRate = "consumer_byte_rate"
	// RequestPercentage bounds the time spent serving a client's requests,
	// as a percentage of one request-handling thread. Enforced.
	RequestPercentage = "request_percentage"
	// ControllerMutationRate bounds topic and partition creations and
	// deletions per second (KIP-599). Stored, not enforced.
	ControllerMutationRate = "controller_mutation_rate"
	// ConnectionCreationRate bounds new connections per second from one IP
	// address (KIP-612); the gateway closes those beyond it.
	ConnectionCreationRate = "connection_creation_rate"
)

// Values are an entity's quotas by key.
type Values map[string]float64

// kind is a key's Kafka config type, which decides what values it takes.
type kind uint8

const (
	kindLong kind = iota
	kindInt
	kindDouble
)

// clientKeys are the keys of user and client-id entities
// (QuotaConfigs.userAndClientQuotaConfigs), ipKeys those of ip entities.
var (
	clientKeys = map[string]kind{
		ProducerByteRate:       kindLong,
		ConsumerByteRate:       kindLong,
		RequestPercentage:      kindDouble,
		ControllerMutationRate: kindDouble,
	}
	ipKeys = map[string]kind{
		ConnectionCreationRate: kindInt,
	}
)

// ValidateValue checks that key is a quota of e's kind of entity and value
// one it can take, with Kafka's rules and messages
// (ClientQuotaControlManager.validateQuotaKeyValue): a known key, a value
// above zero, and a whole number for long and int keys. Non-finite values
// are refused too: they cannot be stored.
func ValidateValue(e Entity, key string, value float64) error {
	keys := clientKeys
	if e.IP.Set {
		keys = ipKeys
	}
	k, ok := keys[key]
	switch {
	case !ok:
		return fmt.Errorf("%w: Invalid configuration key %s", ErrInvalid, key)
	case math.IsNaN(value) || math.IsInf(value, 0):
		return fmt.Errorf("%w: Quota %s must be a finite number", ErrInvalid, key)
	case value <= 0:
		return fmt.Errorf("%w: Quota %s must be greater than 0", ErrInvalid, key)
	}
	switch {
	case k == kindLong && (!whole(value) || value > math.MaxInt64):
		return fmt.Errorf("%w: Configuration %s must be a Long value", ErrInvalid, key)
	case k == kindInt && (!whole(value) || value > math.MaxInt32):
		return fmt.Errorf("%w: Configuration %s must be an Int value", ErrInvalid, key)
	}
	return nil
}

// whole reports whether v is a whole number to within Kafka's epsilon of
// 1e-6, which absorbs a decimal value's rounding on its way through a
// double.
func whole(v float64) bool {
	const epsilon = 1e-6
	return math.Abs(math.Trunc(v+epsilon)-v) <= epsilon
}
