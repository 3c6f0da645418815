package lint

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/stratalog/strata"

// allowed lists, for each package (a trailing "/..." covers its sub-packages),
// the packages of this module it may import. Imports only go down the table, so
// there are no cycles and the top level reads as the architecture.
var allowed = []struct {
	pkg     string
	imports []string
}{
	{"cmd/strata", []string{"..."}},
	// Benchmarks drive the binary from outside; their tests may use anything.
	{"bench", []string{"..."}},
	// The registry stores through an interface it declares.
	{"schemaregistry", []string{"schemaregistry/compat"}},
	{"schemaregistry/compat", nil},
	// The gateway names segment and objstore sentinels in its error table.
	{"gateway", []string{"coordinator", "coordinator/...", "tiered", "tiered/batch", "tiered/index", "tiered/segment", "tiered/objstore", "security/acl", "security/quota", "security/sasl"}},
	// Security: each part stands alone, below the gateway and the HTTP
	// endpoints that use it; HTTP logins are SASL/PLAIN checks.
	{"security/httpauth", []string{"security/sasl"}},
	{"security/acl", nil},
	{"security/quota", nil},
	{"security/sasl", nil},
	{"security/principal", nil},
	// Cluster policy: pure functions of the live gateways, and the claim
	// check against the stored membership.
	{"coordinator/placement", []string{"coordinator", "tiered/index"}},
	// Metadata snapshots in the bucket and the rebuild from them: reads and
	// restores through the coordinator, footers through tiered/segment, the
	// producer and transaction state of recovered batches through tiered.
	{"recovery", []string{"coordinator", "tiered", "tiered/batch", "tiered/gc", "tiered/index", "tiered/segment", "tiered/objstore"}},
	// Reading a topic straight from the bucket by the coordinator's index,
	// and exporting what it reads.
	{"replay/export", []string{"replay", "tiered/objstore"}},
	{"replay", []string{"coordinator", "tiered/batch", "tiered/index", "tiered/objstore", "tiered/segment"}},
	{"coordinator/...", []string{"coordinator", "tiered/index", "tiered/segment", "tiered/objstore"}},
	{"coordinator", []string{"tiered/index", "tiered/segment", "tiered/objstore"}},
	{"tiered", []string{"tiered/..."}},
	// Lifecycle work on objects: merging and key compaction, and deleting
	// what no index references.
	{"tiered/compact", []string{"tiered/segment", "tiered/batch", "tiered/objstore"}},
	{"tiered/gc", []string{"tiered/index", "tiered/segment", "tiered/objstore"}},
	{"tiered/segment", []string{"tiered/batch"}},
	{"tiered/index", []string{"tiered/segment"}},
	{"tiered/objstore/...", []string{"tiered/objstore"}},
	{"tiered/...", nil},
	{"internal/testenv", []string{"internal/natsembed"}},
	// The NATS durability check talks to servers through nats.go/jetstream
	// and net/http only; cmd/strata runs it at start.
	{"internal/natscheck", nil},
	{"internal/...", nil},
}

// kafkaProtocol may be imported only by kafkaSpeakers: the rest of the code
// base must not depend on the wire protocol.
var kafkaProtocol = []string{"github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kerr", "github.com/twmb/franz-go/pkg/kbin"}

// kafkaSpeakers are the gateway and the binary, and security/acl, whose
// vocabulary (resource, operation, pattern and permission types) is Kafka's
// and which takes those enums from kmsg rather than copying them; it encodes
// nothing.
var kafkaSpeakers = []string{"gateway", "cmd/strata", "security/acl"}

func TestForbiddenImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		rules, ok := rulesFor(rel)
		if !ok {
			t.Errorf("package %s has no row in the import table; add one", rel)
			continue
		}
		for _, imp := range p.Imports {
			if slices.Contains(kafkaProtocol, imp) && !slices.Contains(kafkaSpeakers, rel) {
				t.Errorf("%s imports %s: only the gateway speaks the Kafka protocol", rel, imp)
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			target := strings.TrimPrefix(imp, module+"/")
			if !slices.ContainsFunc(rules, func(r string) bool { return matches(r, target) }) {
				t.Errorf("%s imports %s, which is not below it in the package table", rel, target)
			}
		}
	}
}

// rulesFor returns the first row whose pattern matches pkg.
func rulesFor(pkg string) ([]string, bool) {
	for _, a := range allowed {
		if matches(a.pkg, pkg) {
			return a.imports, true
		}
	}
	return nil, false
}

func matches(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return strings.HasPrefix(pkg, base+"/")
	}
	return pattern == pkg
}
