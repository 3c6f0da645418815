package main

import (
	"io"
	"strings"
	"testing"
)

// TestMemoryBudget: the parts left unset share --memory-limit, set parts
// are kept, and a start whose parts do not fit is refused.
func TestMemoryBudget(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	const mib = 1 << 20
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		want    memoryBudget
		refused string
	}{
		{args: nil, want: memoryBudget{Limit: 1024 * mib, Tail: 256 * mib, Cache: 256 * mib, Requests: 128 * mib, FetchResponses: 128 * mib}},
		{args: []string{"--memory-limit", "4GiB"}, want: memoryBudget{Limit: 4096 * mib, Tail: 1024 * mib, Cache: 1024 * mib, Requests: 512 * mib, FetchResponses: 512 * mib}},
		{args: []string{"--memory-limit", "2GiB", "--cache-bytes", "1GiB", "--max-tail-bytes", "128MiB"},
			want: memoryBudget{Limit: 2048 * mib, Tail: 128 * mib, Cache: 1024 * mib, Requests: 256 * mib, FetchResponses: 256 * mib}},
		{env: map[string]string{"STRATA_MEMORY_LIMIT": "512MiB", "STRATA_MAX_REQUEST_BYTES": "8MiB"},
			want: memoryBudget{Limit: 512 * mib, Tail: 128 * mib, Cache: 128 * mib, Requests: 64 * mib, FetchResponses: 64 * mib}},
		// The requests' share holds at least one largest frame.
		{args: []string{"--memory-limit", "512MiB"}, want: memoryBudget{Limit: 512 * mib, Tail: 128 * mib, Cache: 128 * mib, Requests: 100 * mib, FetchResponses: 64 * mib}},
		{args: []string{"--cache-bytes", "2GiB"}, refused: "--memory-limit 1GiB is less than its parts"},
		{args: []string{"--memory-limit", "256MiB"}, refused: "--memory-limit 256MiB is less than its parts"},
		{args: []string{"--max-inflight-request-bytes", "64MiB"}, refused: "less than --max-request-bytes 100MiB"},
		{args: []string{"--memory-limit", "64MiB"}, refused: "at least 128MiB"},
	} {
		env := noEnv
		if tc.env != nil {
			env = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		}
		cfg, err := parseServeFlags(tc.args, env, io.Discard)
		switch {
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("%q %v: %v, want refused with %q", tc.args, tc.env, err, tc.refused)
		case tc.refused == "" && err != nil:
			t.Errorf("%q %v: %v", tc.args, tc.env, err)
		case tc.refused == "" && cfg.memory != tc.want:
			t.Errorf("%q %v: budget %+v, want %+v", tc.args, tc.env, cfg.memory, tc.want)
		}
	}
}

// TestGoMemoryLimit: Go's soft limit is a tenth below the budget, unless the
// parts add up to more.
func TestGoMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		b    memoryBudget
		want int64
	}{
		{memoryBudget{Limit: 1000 * mib, Tail: 250 * mib, Cache: 250 * mib, Requests: 125 * mib, FetchResponses: 125 * mib}, 900 * mib},
		{memoryBudget{Limit: 1000 * mib, Tail: 400 * mib, Cache: 400 * mib, Requests: 100 * mib, FetchResponses: 50 * mib}, 950 * mib},
	} {
		if got := goMemoryLimit(tc.b); got != tc.want {
			t.Errorf("%+v: soft limit %d MiB, want %d", tc.b, got/mib, tc.want/mib)
		}
	}
}
