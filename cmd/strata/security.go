package main

// Wiring of the security settings into the gateway and the HTTP endpoints:
// the --add-scram users, the ACL authorizer, and the schema registry's
// subjects authorized as Kafka topics.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/gateway"
	"github.com/stratalog/strata/schemaregistry"
	"github.com/stratalog/strata/security/acl"
	"github.com/stratalog/strata/security/httpauth"
	"github.com/stratalog/strata/security/sasl"
)

// addScramUsers creates each --add-scram credential whose user has none for
// its mechanism, so that a secured cluster's first start has users; an
// existing credential is left alone (a password changed since with
// kafka-configs stays changed).
func addScramUsers(ctx context.Context, store *coordinator.Store, users scramUsers, logger *slog.Logger) error {
	for _, u := range users {
		_, ok, err := store.UserCredential(ctx, u.name, u.mechanism)
		if err != nil {
			return fmt.Errorf("--add-scram %s: %w", u.name, err)
		}
		if ok {
			continue
		}
		c, err := sasl.NewCredential(u.mechanism, u.password, u.iterations)
		if err != nil {
			return fmt.Errorf("--add-scram %s: %w", u.name, err)
		}
		if err := store.PutUserCredential(ctx, coordinator.UserCredential{User: u.name, Mechanism: c.Mechanism, Salt: c.Salt,
			Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}); err != nil {
			return fmt.Errorf("--add-scram %s: %w", u.name, err)
		}
		logger.Info("created SASL user", "user", u.name, "mechanism", u.mechanism)
	}
	return nil
}

// parseIPOverrides parses --max-connections-per-ip-overrides.
func parseIPOverrides(s string) (map[netip.Addr]int, error) {
	out := map[netip.Addr]int{}
	for _, entry := range splitList(s) {
		host, count, ok := strings.Cut(entry, ":")
		if i := strings.LastIndex(entry, ":"); i > 0 {
			host, count, ok = entry[:i], entry[i+1:], true // an IPv6 address has colons too
		}
		addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
		n, cerr := strconv.Atoi(count)
		if !ok || err != nil || cerr != nil || n < 0 {
			return nil, fmt.Errorf("--max-connections-per-ip-overrides entry %q: want address:count", entry)
		}
		out[addr.Unmap()] = n
	}
	return out, nil
}

// splitList splits a comma- or semicolon-separated flag value.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' })
}

// aclPolicy is the authorizer's configuration from the flags.
func aclPolicy(cfg serveConfig) acl.Policy {
	return acl.Policy{SuperUsers: splitList(cfg.SuperUsers), AllowEveryoneIfNoACLFound: cfg.AllowEveryoneIfNoACLFound}
}

// httpPrincipal is who an HTTP request comes from: its basic-auth user, or
// the anonymous principal without a login.
func httpPrincipal(req *http.Request) string {
	if p, ok := httpauth.Principal(req.Context()); ok {
		return p
	}
	return gateway.AnonymousPrincipal
}

// registryAuthorizer authorizes the schema registry's operations with the
// Kafka ACLs: a subject is its topic's (TopicNameStrategy: "orders-value"
// and "orders-key" are topic orders; any other subject is a topic of its own
// name), reading it needs DESCRIBE (which READ and WRITE imply, so
// consumers and producers read their schemas), registering WRITE, deleting
// DELETE, its compatibility and mode DESCRIBE_CONFIGS and ALTER_CONFIGS;
// the registry-wide compatibility and mode are the CLUSTER's.
func registryAuthorizer(a gateway.Authorizer, p acl.Policy) func(*http.Request, schemaregistry.Access) bool {
	return func(req *http.Request, access schemaregistry.Access) bool {
		r := acl.Request{Principal: httpPrincipal(req), Host: remoteIP(req)}
		switch access.Op {
		case schemaregistry.OpRead:
			r.Operation = kmsg.ACLOperationDescribe
		case schemaregistry.OpWrite:
			r.Operation = kmsg.ACLOperationWrite
		case schemaregistry.OpDelete:
			r.Operation = kmsg.ACLOperationDelete
		case schemaregistry.OpReadConfig:
			r.Operation = kmsg.ACLOperationDescribeConfigs
		case schemaregistry.OpWriteConfig:
			r.Operation = kmsg.ACLOperationAlterConfigs
		default:
			return false
		}
		if access.Subject == "" {
			r.Resource = acl.Resource{Type: kmsg.ACLResourceTypeCluster, Name: acl.ClusterName}
		} else {
			r.Resource = acl.Resource{Type: kmsg.ACLResourceTypeTopic, Name: subjectTopic(access.Subject)}
		}
		return a.Authorize(p, r)
	}
}

// subjectTopic is the topic a subject belongs to by TopicNameStrategy, or the
// subject itself.
func subjectTopic(subject string) string {
	for _, suffix := range []string{"-value", "-key"} {
		if t, ok := strings.CutSuffix(subject, suffix); ok && t != "" {
			return t
		}
	}
	return subject
}

// adminAuthorizer lets a request to the admin endpoint through if its
// principal may DESCRIBE the CLUSTER (metrics and profiles show the whole
// gateway); /healthz is always open.
func adminAuthorizer(a gateway.Authorizer, p acl.Policy, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !isHealthz(req) && !a.Authorize(p, acl.Request{Principal: httpPrincipal(req), Host: remoteIP(req),
			Operation: kmsg.ACLOperationDescribe, Resource: acl.Resource{Type: kmsg.ACLResourceTypeCluster, Name: acl.ClusterName}}) {
			http.Error(w, "forbidden: needs DESCRIBE on the cluster", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}

func remoteIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}
