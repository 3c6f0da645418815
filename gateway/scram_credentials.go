package gateway

// DescribeUserScramCredentials: v0
// AlterUserScramCredentials: v0
//
// Behavior (KIP-554, as Kafka's ScramControlManager and AdminManager):
//   - Describe with no users (null or empty) lists every user with a
//     credential. A user named twice gets DUPLICATE_RESOURCE; one without a
//     credential RESOURCE_NOT_FOUND. Each credential is given as its
//     mechanism (1: SCRAM-SHA-256, 2: SCRAM-SHA-512) and iterations.
//   - Alter answers once per user. A user with an empty name or a name
//     over sasl.MaxUserBytes, or an upsertion with iterations outside
//     4096..16384 or an empty salt or salted password, gets
//     UNACCEPTABLE_CREDENTIAL; an unknown mechanism UNSUPPORTED_SASL_MECHANISM;
//     the same user and mechanism twice in one request DUPLICATE_RESOURCE;
//     deleting a credential that does not exist RESOURCE_NOT_FOUND. A user
//     with any such error has none of its alterations applied.
//   - The client salts the password (salted_password, with its salt and
//     iterations); the gateway stores the salt, the iterations and the
//     StoredKey and ServerKey derived from it, never the salted password.
//   - Any gateway serves both; there is no controller to forward to.
//   - Without Config.Credentials both answer SECURITY_DISABLED.
//
// Deviations: Kafka applies one request's changes to a user atomically;
// here each credential is its own compare-and-swap, deletions first, so a
// store failure midway can leave some of a user's changes applied (the
// answer then carries the failure). The name limit is Strata's.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/security/sasl"
)

// scramMechanism returns the mechanism of KIP-554's number for it
// (org.apache.kafka.clients.admin.ScramMechanism.type).
func scramMechanism(t int8) (string, bool) {
	switch t {
	case 1:
		return sasl.ScramSHA256, true
	case 2:
		return sasl.ScramSHA512, true
	}
	return "", false
}

func scramMechanismType(name string) (int8, bool) {
	switch name {
	case sasl.ScramSHA256:
		return 1, true
	case sasl.ScramSHA512:
		return 2, true
	}
	return 0, false
}

func (s *Server) handleDescribeUserSCRAMCredentials(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	// As Kafka: listing credentials needs DESCRIBE on the cluster.
	allowed := s.authorizeCluster(ctx, c, kmsg.ACLOperationDescribe)
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
		if !allowed {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp
		}
		if s.cfg.Credentials == nil {
			resp.ErrorCode = kerr.SecurityDisabled.Code
			resp.ErrorMessage = kmsg.StringPtr("SCRAM credentials are not configured on this gateway")
			return resp
		}
		var names, lookup []string
		times := map[string]int{}
		for _, u := range req.Users {
			if times[u.Name]++; times[u.Name] == 1 {
				names = append(names, u.Name)
			}
		}
		for _, n := range names {
			if times[n] == 1 && n != "" && len(n) <= sasl.MaxUserBytes {
				lookup = append(lookup, n)
			}
		}
		all := len(req.Users) == 0
		byUser := map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
		if all || len(lookup) > 0 {
			creds, err := s.cfg.Credentials.UserCredentials(ctx, lookup...)
			if err != nil {
				resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
				return resp
			}
			for _, c := range creds {
				t, ok := scramMechanismType(c.Mechanism)
				if !ok {
					continue
				}
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism, ci.Iterations = t, int32(c.Iterations)
				if len(byUser[c.User]) == 0 && all {
					names = append(names, c.User)
				}
				byUser[c.User] = append(byUser[c.User], ci)
			}
		}
		for _, n := range names {
			r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User = n
			switch {
			case times[n] > 1:
				r.ErrorCode = kerr.DuplicateResource.Code
				r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request")
			case len(byUser[n]) == 0:
				r.ErrorCode = kerr.ResourceNotFound.Code
				r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist")
			default:
				r.CredentialInfos = byUser[n]
			}
			resp.Results = append(resp.Results, r)
		}
		return resp
	}, nil
}

// scramAlteration is what one AlterUserScramCredentials request asks for one
// user, and what became of it.
type scramAlteration struct {
	user    string
	deletes []string                     // mechanisms
	puts    []coordinator.UserCredential // derived from the salted passwords
	code    int16
	msg     string
}

func (a *scramAlteration) refuse(code *kerr.Error, msg string) {
	if a.code == 0 {
		a.code, a.msg = code.Code, msg
	}
}

func (s *Server) handleAlterUserSCRAMCredentials(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	// As Kafka: changing credentials needs ALTER on the cluster.
	denied := !s.authorizeCluster(ctx, c, kmsg.ACLOperationAlter)
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		alts := planScramAlterations(req)
		for _, a := range alts {
			switch {
			case denied:
				a.refuse(kerr.ClusterAuthorizationFailed, "altering SCRAM credentials needs ALTER on the cluster")
			case s.cfg.Credentials == nil:
				a.refuse(kerr.SecurityDisabled, "SCRAM credentials are not configured on this gateway")
			case a.code == 0:
				s.applyScramAlteration(ctx, a)
			}
			r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			r.User, r.ErrorCode = a.user, a.code
			if a.code != 0 {
				r.ErrorMessage = kmsg.StringPtr(a.msg)
			}
			resp.Results = append(resp.Results, r)
		}
		return resp
	}, nil
}

// planScramAlterations groups a request's deletions and upsertions by user,
// in the order users first appear, and validates them as Kafka does.
func planScramAlterations(req *kmsg.AlterUserSCRAMCredentialsRequest) []*scramAlteration {
	var alts []*scramAlteration
	byUser := map[string]*scramAlteration{}
	get := func(user string) *scramAlteration {
		a := byUser[user]
		if a == nil {
			a = &scramAlteration{user: user}
			byUser[user] = a
			alts = append(alts, a)
		}
		return a
	}
	type pair struct{ user, mechanism string }
	seen := map[pair]int{}
	checkName := func(a *scramAlteration) {
		switch {
		case a.user == "":
			a.refuse(kerr.UnacceptableCredential, "Username must not be empty")
		case len(a.user) > sasl.MaxUserBytes:
			a.refuse(kerr.UnacceptableCredential, "Username is longer than 1024 bytes")
		}
	}
	for _, d := range req.Deletions {
		a := get(d.Name)
		checkName(a)
		m, ok := scramMechanism(d.Mechanism)
		if !ok {
			a.refuse(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
			continue
		}
		seen[pair{d.Name, m}]++
		a.deletes = append(a.deletes, m)
	}
	for _, u := range req.Upsertions {
		a := get(u.Name)
		checkName(a)
		m, ok := scramMechanism(u.Mechanism)
		switch {
		case !ok:
			a.refuse(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
			continue
		case u.Iterations < sasl.MinIterations:
			a.refuse(kerr.UnacceptableCredential, "Too few iterations")
			continue
		case u.Iterations > sasl.MaxIterations:
			a.refuse(kerr.UnacceptableCredential, "Too many iterations")
			continue
		}
		c, err := sasl.FromSaltedPassword(m, u.Salt, u.SaltedPassword, int(u.Iterations))
		if err != nil {
			a.refuse(kerr.UnacceptableCredential, "Salt and salted password must not be empty, and the salt at most 1024 bytes")
			continue
		}
		seen[pair{u.Name, m}]++
		a.puts = append(a.puts, coordinator.UserCredential{
			User: u.Name, Mechanism: m, Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey,
		})
	}
	for p, n := range seen {
		if n > 1 {
			byUser[p.user].refuse(kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		}
	}
	return alts
}

// applyScramAlteration checks that every credential a is to delete exists,
// then deletes and writes them.
func (s *Server) applyScramAlteration(ctx context.Context, a *scramAlteration) {
	fail := func(err error) { a.code, a.msg = errorCode(err), err.Error() }
	for _, m := range a.deletes {
		_, ok, err := s.cfg.Credentials.UserCredential(ctx, a.user, m)
		if err != nil {
			fail(err)
			return
		}
		if !ok {
			a.refuse(kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
			return
		}
	}
	for _, m := range a.deletes {
		if _, err := s.cfg.Credentials.DeleteUserCredential(ctx, a.user, m); err != nil {
			fail(err)
			return
		}
	}
	for _, c := range a.puts {
		if err := s.cfg.Credentials.PutUserCredential(ctx, c); err != nil {
			fail(err)
			return
		}
	}
}
