package gateway

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func upsertion(user string, mechanism int8, iterations int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
	u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	u.Name, u.Mechanism, u.Iterations = user, mechanism, iterations
	u.Salt = []byte("0123456789abcdefghijklmn")
	if iterations > 0 && iterations < 100000 {
		u.SaltedPassword, _ = pbkdf2.Key(sha256.New, user+"-pw", u.Salt, int(iterations), sha256.Size)
	}
	return u
}

func deletion(user string, mechanism int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
	d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	d.Name, d.Mechanism = user, mechanism
	return d
}

func alterSCRAM(t *testing.T, cl *kgo.Client, dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion, ups []kmsg.AlterUserSCRAMCredentialsRequestUpsertion) map[string]int16 {
	t.Helper()
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Deletions, req.Upsertions = dels, ups
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, r := range resp.Results {
		if _, dup := codes[r.User]; dup {
			t.Fatalf("two results for user %q", r.User)
		}
		if (r.ErrorCode != 0) != (r.ErrorMessage != nil) {
			t.Errorf("user %q: error %d with message %v", r.User, r.ErrorCode, r.ErrorMessage)
		}
		codes[r.User] = r.ErrorCode
	}
	return codes
}

func describeSCRAM(t *testing.T, cl *kgo.Client, users ...string) *kmsg.DescribeUserSCRAMCredentialsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, u := range users {
		ru := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		ru.Name = u
		req.Users = append(req.Users, ru)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// describedMechanisms returns each described user's error code, and its
// mechanisms' iterations by mechanism number.
func describedMechanisms(resp *kmsg.DescribeUserSCRAMCredentialsResponse) (map[string]int16, map[string]map[int8]int32) {
	codes, infos := map[string]int16{}, map[string]map[int8]int32{}
	for _, r := range resp.Results {
		codes[r.User] = r.ErrorCode
		for _, ci := range r.CredentialInfos {
			if infos[r.User] == nil {
				infos[r.User] = map[int8]int32{}
			}
			infos[r.User][ci.Mechanism] = ci.Iterations
		}
	}
	return codes, infos
}

// TestAlterUserScramCredentialsValidation checks Kafka's validation and
// error codes, one result per user, and that a user with any error has
// nothing applied.
func TestAlterUserScramCredentialsValidation(t *testing.T) {
	g := startSASLGateway(t, newBackend(t, 0), saslOpts{})
	cl := g.plainClient(t)

	codes := alterSCRAM(t, cl,
		[]kmsg.AlterUserSCRAMCredentialsRequestDeletion{
			deletion("dupdel", 1),
			deletion("gone", 1),
			deletion("mixed", 2),
			deletion("delmech", 9),
			deletion("", 1),
		},
		[]kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
			upsertion("", 1, 4096),
			upsertion("few", 1, 4095),
			upsertion("many", 2, 16385),
			upsertion("mech", 3, 4096),
			upsertion("dup", 1, 4096),
			upsertion("dup", 1, 8192),
			upsertion("dupdel", 1, 4096),
			upsertion("two", 1, 4096),
			upsertion("two", 2, 8192),
			upsertion("mixed", 1, 4096),
			func() kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
				u := upsertion("nosalt", 1, 4096)
				u.Salt = nil
				return u
			}(),
		})
	for user, want := range map[string]*kerr.Error{
		"":        kerr.UnacceptableCredential,
		"few":     kerr.UnacceptableCredential,
		"many":    kerr.UnacceptableCredential,
		"nosalt":  kerr.UnacceptableCredential,
		"mech":    kerr.UnsupportedSaslMechanism,
		"delmech": kerr.UnsupportedSaslMechanism,
		"dup":     kerr.DuplicateResource,
		"dupdel":  kerr.DuplicateResource,
		"gone":    kerr.ResourceNotFound,
		"mixed":   kerr.ResourceNotFound,
		"two":     nil,
	} {
		code, ok := codes[user]
		if !ok {
			t.Errorf("no result for user %q", user)
			continue
		}
		wantCode := int16(0)
		if want != nil {
			wantCode = want.Code
		}
		if code != wantCode {
			t.Errorf("user %q: error %d (%v), want %v", user, code, kerr.ErrorForCode(code), want)
		}
	}
	if len(codes) != 11 {
		t.Errorf("%d results, want one per user (11): %v", len(codes), codes)
	}

	// Only "two" was stored.
	resp := describeSCRAM(t, cl)
	if resp.ErrorCode != 0 {
		t.Fatalf("describe all: error %d", resp.ErrorCode)
	}
	dcodes, infos := describedMechanisms(resp)
	if len(dcodes) != 1 || infos["two"][1] != 4096 || infos["two"][2] != 8192 {
		t.Fatalf("described %v %v, want two with SCRAM-SHA-256 at 4096 and SCRAM-SHA-512 at 8192", dcodes, infos)
	}

	// Describe by name: duplicates, unknown and empty names.
	dcodes, infos = describedMechanisms(describeSCRAM(t, cl, "two", "mixed", "dup", "dup", ""))
	for user, want := range map[string]*kerr.Error{"mixed": kerr.ResourceNotFound, "dup": kerr.DuplicateResource, "": kerr.ResourceNotFound} {
		if dcodes[user] != want.Code {
			t.Errorf("describe %q: error %d, want %v", user, dcodes[user], want)
		}
	}
	if dcodes["two"] != 0 || len(infos["two"]) != 2 || len(dcodes) != 4 {
		t.Errorf("describe by name: %v %v", dcodes, infos)
	}

	// Replace one credential and delete the other.
	codes = alterSCRAM(t, cl, []kmsg.AlterUserSCRAMCredentialsRequestDeletion{deletion("two", 2)},
		[]kmsg.AlterUserSCRAMCredentialsRequestUpsertion{upsertion("two", 1, 10000)})
	if codes["two"] != 0 {
		t.Fatalf("replace and delete: error %d", codes["two"])
	}
	if _, infos = describedMechanisms(describeSCRAM(t, cl, "two")); len(infos["two"]) != 1 || infos["two"][1] != 10000 {
		t.Fatalf("after replace and delete: %v", infos)
	}
	if codes = alterSCRAM(t, cl, []kmsg.AlterUserSCRAMCredentialsRequestDeletion{deletion("two", 1)}, nil); codes["two"] != 0 {
		t.Fatalf("delete: error %d", codes["two"])
	}
	if dcodes, _ = describedMechanisms(describeSCRAM(t, cl, "two")); dcodes["two"] != kerr.ResourceNotFound.Code {
		t.Fatalf("describe after delete: error %d, want RESOURCE_NOT_FOUND", dcodes["two"])
	}
}

// TestScramCredentialsWithoutStore checks that a gateway without a credential
// store answers both APIs with SECURITY_DISABLED.
func TestScramCredentialsWithoutStore(t *testing.T) {
	s := startServer(t, serverOpts{})
	cl := s.client(t)
	if resp := describeSCRAM(t, cl); resp.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("describe: error %d, want SECURITY_DISABLED", resp.ErrorCode)
	}
	codes := alterSCRAM(t, cl, nil, []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{upsertion("alice", 1, 4096)})
	if codes["alice"] != kerr.SecurityDisabled.Code {
		t.Fatalf("alter: %v, want SECURITY_DISABLED", codes)
	}
}
