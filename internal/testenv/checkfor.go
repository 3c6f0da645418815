package testenv

import (
	"testing"
	"time"
)

// CheckFor calls f every interval until it returns nil, for at most total.
// On timeout it fails the test with f's last error. It is the only way tests
// wait for something to happen: a bounded poll instead of a sleep.
//
// f runs at least once, even when total is zero, and on the calling
// goroutine, so it may call t.Helper and read test state freely (but must
// not call t.FailNow).
func CheckFor(t testing.TB, total, interval time.Duration, f func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		now := time.Now()
		if !now.Before(deadline) {
			t.Fatalf("checkfor: still failing after %v: %v", now.Sub(start).Round(time.Millisecond), err)
		}
		wait := min(interval, deadline.Sub(now))
		time.Sleep(wait) // the poll interval, bounded by the deadline
	}
}
