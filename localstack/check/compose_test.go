package check

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// load reads ../compose.yaml with the given profile active, as `docker
// compose --profile PROFILE config` does.
func load(t *testing.T, profile string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../compose.yaml"},
		cli.WithProfiles([]string{profile}), cli.WithOsEnv, cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml with profile %s: %v", profile, err)
	}
	return p
}

func TestProfiles(t *testing.T) {
	for _, tc := range []struct {
		profile, s3 string
	}{
		{"minio", "minio"},
		{"localstack", "localstack"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			p := load(t, tc.profile)
			want := []string{tc.s3, "gateway-1", "gateway-2", "gateway-3", "nats-1", "nats-2", "nats-3"}
			got := p.ServiceNames()
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("services %v, want %v", got, want)
			}
			s3 := p.Services[tc.s3]
			if !slices.Contains(s3.Networks["default"].Aliases, "s3") {
				t.Errorf("%s is not reachable as s3 (the gateways' endpoint)", tc.s3)
			}
			if s3.HealthCheck == nil || len(s3.HealthCheck.Test) == 0 {
				t.Errorf("%s has no health check for the gateways to wait on", tc.s3)
			}
			checkNATS(t, p)
			checkGateways(t, p, tc.s3)
		})
	}
}

func checkNATS(t *testing.T, p *types.Project) {
	t.Helper()
	conf, ok := p.Configs["nats-conf"]
	if !ok {
		t.Fatal("no nats-conf config")
	}
	for _, want := range []string{"sync_interval: always", "max_payload: 8MB", "server_name: $NATS_SERVER_NAME",
		"nats://nats-1:6222", "nats://nats-2:6222", "nats://nats-3:6222"} {
		if !strings.Contains(conf.Content, want) {
			t.Errorf("nats.conf lacks %q:\n%s", want, conf.Content)
		}
	}
	names := map[string]bool{}
	for i := 1; i <= 3; i++ {
		s := p.Services["nats-"+string(rune('0'+i))]
		name := s.Environment["NATS_SERVER_NAME"]
		if name == nil || names[*name] {
			t.Errorf("%s: server name %v missing or repeated", s.Name, name)
		} else {
			names[*name] = true
		}
		if len(s.Volumes) != 1 || s.Volumes[0].Type != types.VolumeTypeVolume || s.Volumes[0].Target != "/data" {
			t.Errorf("%s: JetStream's /data is not a named volume: %+v", s.Name, s.Volumes)
		}
		if s.HealthCheck == nil {
			t.Errorf("%s has no health check", s.Name)
		}
	}
}

func checkGateways(t *testing.T, p *types.Project, s3 string) {
	t.Helper()
	ids, racks, advertised := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := 1; i <= 3; i++ {
		s := p.Services["gateway-"+string(rune('0'+i))]
		env := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if s.Build == nil {
			t.Fatalf("%s is not built from the repository", s.Name)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: its Dockerfile: %v", s.Name, err)
		}
		for k, want := range map[string]string{
			"STRATA_OBJECT_STORE": "s3", "STRATA_S3_ENDPOINT": "http://s3:9000", "STRATA_NATS_REPLICAS": "3",
			"STRATA_NATS_URL": "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222",
		} {
			if got := env(k); got != want {
				t.Errorf("%s: %s=%q, want %q", s.Name, k, got, want)
			}
		}
		if id := env("STRATA_NODE_ID"); id == "" || ids[id] {
			t.Errorf("%s: node id %q missing or repeated", s.Name, id)
		} else {
			ids[id] = true
		}
		if r := env("STRATA_RACK"); r == "" || racks[r] {
			t.Errorf("%s: rack %q missing or repeated", s.Name, r)
		} else {
			racks[r] = true
		}
		// A client on the host reaches each gateway at what it advertises:
		// the advertised port is published to the same port it listens on.
		adv, ok := strings.CutPrefix(env("STRATA_ADVERTISED_LISTENERS"), "PLAINTEXT://")
		_, port, _ := strings.Cut(adv, ":")
		if !ok || advertised[adv] || env("STRATA_LISTENERS") != "PLAINTEXT://0.0.0.0:"+port || !publishes(s, port) {
			t.Errorf("%s: advertises %q, listens on %q, publishes %+v", s.Name, env("STRATA_ADVERTISED_LISTENERS"), env("STRATA_LISTENERS"), s.Ports)
		}
		advertised[adv] = true
		if d, ok := s.DependsOn[s3]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s does not wait for %s to be healthy", s.Name, s3)
		}
		for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
			if _, ok := s.DependsOn[n]; !ok {
				t.Errorf("%s does not wait for %s", s.Name, n)
			}
		}
		if s.StopGracePeriod == nil || *s.StopGracePeriod < types.Duration(10e9) {
			t.Errorf("%s: stop grace period %v leaves no time to drain", s.Name, s.StopGracePeriod)
		}
	}
}

func publishes(s types.ServiceConfig, port string) bool {
	for _, p := range s.Ports {
		if p.Published == port && p.Target != 0 && strconv.FormatUint(uint64(p.Target), 10) == port {
			return true
		}
	}
	return false
}
