package check

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfile parses the repository's Dockerfile with BuildKit's own
// parser and runs the checks of `docker build --check` on it, then asserts
// what the image promises: a static build, an empty base, a non-root user,
// the health check, the ports and the drain signal.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ast, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for _, w := range ast.Warnings {
		t.Errorf("parser warning: %s", w.Short)
	}
	var lintWarnings []string
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, _ []parser.Range) {
		lintWarnings = append(lintWarnings, rule+": "+msg)
	}})
	stages, metaArgs, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		t.Fatalf("instructions: %v", err)
	}
	for _, w := range lintWarnings {
		t.Errorf("build check: %s", w)
	}
	if len(metaArgs) != 1 || metaArgs[0].Args[0].Key != "GO_VERSION" {
		t.Errorf("global ARGs %+v, want GO_VERSION", metaArgs)
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and the image", len(stages))
	}
	if !strings.Contains(string(src), "CGO_ENABLED=0 go build") {
		t.Error("the binary is not built static (CGO_ENABLED=0)")
	}
	final := stages[len(stages)-1]
	if final.BaseName != "scratch" {
		t.Errorf("image base %q, want scratch (no shell at run time)", final.BaseName)
	}
	var user, stop string
	var exposed []string
	var health *instructions.HealthCheckCommand
	var entry []string
	for _, c := range final.Commands {
		switch c := c.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.StopSignalCommand:
			stop = c.Signal
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.HealthCheckCommand:
			health = c
		case *instructions.EntrypointCommand:
			if !c.PrependShell {
				entry = c.CmdLine
			}
		case *instructions.RunCommand:
			t.Errorf("RUN in the image stage needs a shell: %s", c.String())
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q, want a non-root user", user)
	}
	if stop != "SIGTERM" {
		t.Errorf("STOPSIGNAL %q, want SIGTERM (strata drains on it)", stop)
	}
	for _, p := range []string{"9092", "8081", "9644"} {
		if !slices.Contains(exposed, p) {
			t.Errorf("port %s not exposed (EXPOSE %v)", p, exposed)
		}
	}
	if health == nil || !slices.Equal(health.Health.Test, []string{"CMD", "/usr/local/bin/strata", "healthcheck"}) {
		t.Errorf("HEALTHCHECK %+v, want the exec form of strata healthcheck", health)
	}
	if !slices.Equal(entry, []string{"/usr/local/bin/strata"}) {
		t.Errorf("ENTRYPOINT %v, want the exec form of the binary", entry)
	}
}
