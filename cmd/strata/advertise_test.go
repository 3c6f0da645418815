package main

import (
	"errors"
	"net"
	"testing"
)

func TestDefaultAdvertise(t *testing.T) {
	host := func() (string, error) { return "gw-1.internal", nil }
	for _, tc := range []struct {
		ln   *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092}, "127.0.0.1:9092"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 9092}, "gw-1.internal:9092"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 19092}, "gw-1.internal:19092"},
	} {
		if got, err := defaultAdvertise(tc.ln, host); err != nil || got != tc.want {
			t.Errorf("listening on %s: advertise %q (%v), want %q", tc.ln, got, err, tc.want)
		}
	}
	if _, err := defaultAdvertise(&net.TCPAddr{IP: net.IPv4zero, Port: 1}, func() (string, error) { return "", errors.New("no name") }); err == nil {
		t.Error("a wildcard listener without a host name got an address")
	}
}
