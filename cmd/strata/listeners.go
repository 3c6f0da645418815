package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/stratalog/strata/gateway"
	"github.com/stratalog/strata/internal/tlsfiles"
	"github.com/stratalog/strata/security/principal"
)

// defaultProtocolMap is Kafka's default listener.security.protocol.map: each
// protocol is a listener name of its own.
const defaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

// listenerSpec is one entry of --listeners, with its protocol and advertised
// address resolved.
type listenerSpec struct {
	name      string
	protocol  gateway.SecurityProtocol
	addr      string // host:port to bind; an empty host binds every interface
	advertise string // host:port, or empty for the default
}

// parseListeners resolves --listeners, --advertised-listeners,
// --listener-security-protocol-map and --inter-broker-listener-name, the
// inter-broker listener first.
func parseListeners(listeners, advertised, protocolMap, interBroker string) ([]listenerSpec, error) {
	protocols := map[string]gateway.SecurityProtocol{}
	for entry := range strings.SplitSeq(protocolMap, ",") {
		name, proto, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("--listener-security-protocol-map entry %q: want NAME:PROTOCOL", entry)
		}
		p, err := gateway.ParseSecurityProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("--listener-security-protocol-map entry %q: %w", entry, err)
		}
		protocols[name] = p
	}
	specs, err := parseListenerURLs("--listeners", listeners)
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, errors.New("--listeners names no listener")
	}
	for i := range specs {
		p, ok := protocols[specs[i].name]
		if !ok {
			return nil, fmt.Errorf("listener %s has no security protocol in --listener-security-protocol-map", specs[i].name)
		}
		specs[i].protocol = p
	}
	adv, err := parseListenerURLs("--advertised-listeners", advertised)
	if err != nil {
		return nil, err
	}
	for _, a := range adv {
		i := slices.IndexFunc(specs, func(s listenerSpec) bool { return s.name == a.name })
		if i < 0 {
			return nil, fmt.Errorf("--advertised-listeners names %s, which --listeners does not", a.name)
		}
		host, _, _ := net.SplitHostPort(a.addr)
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			return nil, fmt.Errorf("--advertised-listeners %s://%s: clients cannot dial an empty or wildcard host", a.name, a.addr)
		}
		specs[i].advertise = a.addr
	}
	if interBroker != "" {
		i := slices.IndexFunc(specs, func(s listenerSpec) bool { return s.name == interBroker })
		if i < 0 {
			return nil, fmt.Errorf("--inter-broker-listener-name %s is not in --listeners", interBroker)
		}
		specs[0], specs[i] = specs[i], specs[0]
	}
	return specs, nil
}

// parseListenerURLs parses NAME://host:port,... as Kafka writes listeners.
func parseListenerURLs(flagName, list string) ([]listenerSpec, error) {
	var out []listenerSpec
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		name, addr, ok := strings.Cut(entry, "://")
		if !ok || name == "" || !validListen(addr) {
			return nil, fmt.Errorf("%s entry %q: want NAME://host:port", flagName, entry)
		}
		if slices.ContainsFunc(out, func(s listenerSpec) bool { return s.name == name }) {
			return nil, fmt.Errorf("%s names %s twice", flagName, name)
		}
		out = append(out, listenerSpec{name: name, addr: addr})
	}
	return out, nil
}

// authenticates reports whether the listener knows who its clients are:
// SASL, or TLS with client certificates required.
func (l listenerSpec) authenticates(clientAuth tlsfiles.ClientAuth) bool {
	return l.protocol.SASL() || l.protocol == gateway.SSL && clientAuth == tlsfiles.ClientAuthRequired
}

// loopback reports whether the listener binds loopback addresses only.
func (l listenerSpec) loopback() bool { return isLoopback(l.addr) }

// openListeners binds every listener, behind TLS where its protocol says,
// and returns them for the gateway with the client side of the TLS setup for
// requests between gateways (nil without TLS). On error nothing stays open.
func openListeners(cfg serveConfig, logger *slog.Logger) (_ []gateway.Listener, peerTLS *tls.Config, err error) {
	var out []gateway.Listener
	defer func() {
		if err != nil {
			for _, l := range out {
				l.Listener.Close()
			}
		}
	}()
	// As Kafka (KIP-684), --ssl-client-auth applies to SSL listeners only: a
	// SASL_SSL client logs in with SASL, and its listener asks for no
	// certificate.
	var sslTLS, saslTLS *tls.Config
	serverTLS := func(p gateway.SecurityProtocol) (*tls.Config, error) {
		cfgp, files := &sslTLS, cfg.SSL
		if p == gateway.SASLSSL {
			cfgp = &saslTLS
			files.ClientAuth = tlsfiles.ClientAuthNone
		}
		if *cfgp == nil {
			c, err := tlsfiles.Config(files, logger.With("part", "tls"))
			if err != nil {
				return nil, err
			}
			*cfgp = c
		}
		return *cfgp, nil
	}
	for _, spec := range cfg.listeners {
		var tlsCfg *tls.Config
		if spec.protocol.TLS() {
			if tlsCfg, err = serverTLS(spec.protocol); err != nil {
				return nil, nil, fmt.Errorf("listener %s: %w", spec.name, err)
			}
		}
		ln, err := net.Listen("tcp", spec.addr)
		if err != nil {
			return nil, nil, fmt.Errorf("kafka listener %s: %w", spec.name, err)
		}
		advertise := spec.advertise
		if advertise == "" {
			if advertise, err = defaultAdvertise(ln.Addr().(*net.TCPAddr), os.Hostname); err != nil {
				ln.Close()
				return nil, nil, err
			}
		}
		if tlsCfg != nil {
			// The gateway completes the handshake before serving.
			ln = tls.NewListener(ln, tlsCfg)
		}
		out = append(out, gateway.Listener{Name: spec.name, Protocol: spec.protocol, Listener: ln, Advertise: advertise})
	}
	// Gateways send one another requests on the first listener.
	if out[0].Protocol.TLS() {
		server, _ := serverTLS(out[0].Protocol)
		if peerTLS, err = tlsfiles.PeerConfig(server, cfg.SSL); err != nil {
			return nil, nil, err
		}
	}
	return out, peerTLS, nil
}

// checkListeners refuses what a start must not do silently: a listener
// reachable from other hosts that lets anyone in, unless that is explicitly
// allowed, and TLS settings without a TLS listener to use them.
func checkListeners(c *serveConfig) error {
	var tlsUsed bool
	for _, l := range c.listeners {
		tlsUsed = tlsUsed || l.protocol.TLS()
		if l.protocol.TLS() && c.SSL.CertFile == "" {
			return fmt.Errorf("listener %s (%s) needs --ssl-cert-file and --ssl-key-file", l.name, l.protocol)
		}
		if !l.loopback() && !l.authenticates(c.SSL.ClientAuth) && !c.AllowUnauthenticatedListeners {
			return fmt.Errorf("listener %s://%s (%s) is reachable from other hosts and does not authenticate its clients: "+
				"use SASL_SSL or SASL_PLAINTEXT, or SSL with --ssl-client-auth required, or pass --allow-unauthenticated-listeners", l.name, l.addr, l.protocol)
		}
	}
	if c.SchemaRegistryListen != "" && !isLoopback(c.SchemaRegistryListen) && c.HTTPAuth != httpAuthBasic && !c.AllowUnauthenticatedListeners {
		return fmt.Errorf("the schema registry on %s is reachable from other hosts and anyone may change schemas there: "+
			"use --http-auth basic, or pass --allow-unauthenticated-listeners", c.SchemaRegistryListen)
	}
	if !tlsUsed && !c.HTTPTLS && c.SSL.CertFile != "" {
		return errors.New("--ssl-cert-file is set but no listener uses SSL or SASL_SSL, and no --http-tls")
	}
	rules, err := principal.Parse(c.SSLPrincipalMappingRules)
	if err != nil {
		return fmt.Errorf("--ssl-principal-mapping-rules: %w", err)
	}
	c.principalRules = rules
	return nil
}
