package quota

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Entity types, as Kafka names them (ClientQuotaEntity).
const (
	TypeUser     = "user"
	TypeClientID = "client-id"
	TypeIP       = "ip"
)

// ErrInvalid is wrapped by every error this package returns for an entity or
// a quota value Kafka would refuse; the message is meant for the client
// (Kafka answers INVALID_REQUEST with it).
var ErrInvalid = errors.New("quota: invalid")

// Part is one component of an Entity. The zero value is an absent component.
type Part struct {
	// Set is whether the entity has this component.
	Set bool
	// Default marks Kafka's <default> entity of the type (a null name on
	// the wire), which applies to every name without a quota of its own.
	Default bool
	// Name is the user, client id or address, when not Default.
	Name string
}

// Named returns the component naming name.
func Named(name string) Part { return Part{Set: true, Name: name} }

// Default returns the <default> component.
func Default() Part { return Part{Set: true, Default: true} }

// String is the name, "<default>", or "" for an absent component.
func (p Part) String() string {
	switch {
	case !p.Set:
		return ""
	case p.Default:
		return "<default>"
	}
	return p.Name
}

// namePtr is the component's name as Kafka's APIs carry it: nil for the
// default.
func (p Part) namePtr() *string {
	if p.Default {
		return nil
	}
	n := p.Name
	return &n
}

// Entity is what a quota is configured for. It is comparable, so it keys
// maps.
type Entity struct {
	User, ClientID, IP Part
}

// Component is one (type, name) pair of an entity as Kafka's APIs carry it:
// a nil Name is the default.
type Component struct {
	Type string
	Name *string
}

// Add sets the component of type typ to name (nil: the default), with
// Kafka's checks (ClientQuotaControlManager.validateEntity): a known type,
// not given twice, and not an empty name.
func (e *Entity) Add(typ string, name *string) error {
	p := Default()
	if name != nil {
		p = Named(*name)
	}
	var slot *Part
	switch typ {
	case TypeUser:
		slot = &e.User
	case TypeClientID:
		slot = &e.ClientID
	case TypeIP:
		slot = &e.IP
	default:
		return fmt.Errorf("%w: Unhandled client quota entity type: %s", ErrInvalid, typ)
	}
	if slot.Set {
		return fmt.Errorf("%w: Invalid empty client quota entity, duplicate entity entry %s", ErrInvalid, typ)
	}
	if name != nil && *name == "" {
		return fmt.Errorf("%w: Empty %s not supported", ErrInvalid, typ)
	}
	*slot = p
	return nil
}

// Validate checks the combination of components Kafka allows: user,
// client-id, or both; or ip alone, naming an IP address or the default.
// Deviation: Kafka also accepts a host name for ip and resolves it once;
// Strata takes addresses only, since a name resolved at write time would
// silently stop matching when its address changes.
func (e Entity) Validate() error {
	switch {
	case e.IP.Set && (e.User.Set || e.ClientID.Set):
		return fmt.Errorf("%w: Invalid quota entity combination, IP entity should not be combined with User or ClientId", ErrInvalid)
	case !e.IP.Set && !e.User.Set && !e.ClientID.Set:
		return fmt.Errorf("%w: Invalid empty client quota entity", ErrInvalid)
	case e.IP.Set && !e.IP.Default:
		if _, err := netip.ParseAddr(e.IP.Name); err != nil {
			return fmt.Errorf("%w: %s is not a valid IP or resolvable host.", ErrInvalid, e.IP.Name)
		}
	}
	return nil
}

// Components returns the entity's components in the order user, client-id,
// ip.
func (e Entity) Components() []Component {
	var cs []Component
	for _, c := range []struct {
		typ string
		p   Part
	}{{TypeUser, e.User}, {TypeClientID, e.ClientID}, {TypeIP, e.IP}} {
		if c.p.Set {
			cs = append(cs, Component{Type: c.typ, Name: c.p.namePtr()})
		}
	}
	return cs
}

// String writes the entity as Kafka's tools do: "user=alice,
// client-id=<default>".
func (e Entity) String() string {
	var parts []string
	for _, c := range e.Components() {
		name := "<default>"
		if c.Name != nil {
			name = *c.Name
		}
		parts = append(parts, c.Type+"="+name)
	}
	return strings.Join(parts, ", ")
}

// precedence returns the entities whose quota may apply to (user, clientID),
// in Kafka's order (see the package documentation).
func precedence(user, clientID string) [8]Entity {
	u, c, d := Named(user), Named(clientID), Default()
	return [8]Entity{
		{User: u, ClientID: c},
		{User: u, ClientID: d},
		{User: u},
		{User: d, ClientID: c},
		{User: d, ClientID: d},
		{User: d},
		{ClientID: c},
		{ClientID: d},
	}
}

// sensorEntity is the entity a resolved quota's rate is measured under: the
// resolved entity's shape, with the client's own names in place of any
// <default> (Kafka's quota metric tags), so that every user under
// /users/<default> has a rate of their own.
func sensorEntity(resolved Entity, user, clientID string) Entity {
	var s Entity
	if resolved.User.Set {
		s.User = Named(user)
	}
	if resolved.ClientID.Set {
		s.ClientID = Named(clientID)
	}
	return s
}
