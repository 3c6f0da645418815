package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// startProfiles profiles the whole run of serve into dir when it is set
// (STRATA_PROFILE_DIR, which `make profile` sets for the bench's gateways):
// CPU while serve runs, and the heap's allocations and live objects when it
// returns. Files are named by the process id, since a bench starts several
// gateways. For a running gateway, /debug/pprof on the admin endpoint gives
// the same profiles on demand.
func startProfiles(dir string) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("profile dir: %w", err)
	}
	prefix := filepath.Join(dir, fmt.Sprintf("strata-%d", os.Getpid()))
	cpu, err := os.Create(prefix + "-cpu.pprof")
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := cpu.Close(); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		runtime.GC() // the heap profile's live objects are as of the last GC
		for _, name := range []string{"allocs", "heap"} {
			f, err := os.Create(prefix + "-" + name + ".pprof")
			if err != nil {
				return fmt.Errorf("%s profile: %w", name, err)
			}
			err = pprof.Lookup(name).WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s profile: %w", name, err)
			}
		}
		return nil
	}, nil
}
