package main

import (
	"fmt"
	"strconv"
	"strings"
)

// scramUser is one --add-scram entry: a user's credential for a mechanism,
// created at start if the user has none for that mechanism.
type scramUser struct {
	mechanism, name, password string
	iterations                int // 0: the default
}

// scramUsers is the repeatable --add-scram flag, in the form of Kafka's
// `kafka-storage format --add-scram`:
//
//	SCRAM-SHA-512=[name=admin,password=admin-secret]
//	SCRAM-SHA-256=[name=alice,password="a,b]c",iterations=8192]
//
// One value may hold several entries separated by ';' (so that
// STRATA_ADD_SCRAM can carry more than one). A value with ',' ']' ';' or '"'
// is written in double quotes, with '\' escaping '"' and '\'.
type scramUsers []scramUser

func (s *scramUsers) String() string {
	names := make([]string, len(*s))
	for i, u := range *s {
		names[i] = u.mechanism + "=[name=" + u.name + ",password=...]"
	}
	return strings.Join(names, ";")
}

func (s *scramUsers) Set(v string) error {
	for rest := strings.TrimSpace(v); rest != ""; {
		u, after, err := parseScramUser(rest)
		if err != nil {
			return err
		}
		*s = append(*s, u)
		rest = strings.TrimSpace(after)
		if rest != "" {
			var ok bool
			if rest, ok = strings.CutPrefix(rest, ";"); !ok {
				return fmt.Errorf("--add-scram: want ';' between entries at %q", rest)
			}
			rest = strings.TrimSpace(rest)
		}
	}
	return nil
}

// parseScramUser parses one MECHANISM=[key=value,...] entry and returns what
// follows it.
func parseScramUser(s string) (scramUser, string, error) {
	mech, body, ok := strings.Cut(s, "=[")
	if !ok {
		return scramUser{}, "", fmt.Errorf("--add-scram %q: want MECHANISM=[name=...,password=...]", s)
	}
	u := scramUser{mechanism: strings.TrimSpace(mech)}
	if u.mechanism != "SCRAM-SHA-256" && u.mechanism != "SCRAM-SHA-512" {
		return scramUser{}, "", fmt.Errorf("--add-scram: mechanism %q is not SCRAM-SHA-256 or SCRAM-SHA-512", u.mechanism)
	}
	seen := map[string]bool{}
	for {
		body = strings.TrimLeft(body, " ")
		key, rest, ok := strings.Cut(body, "=")
		if !ok {
			return scramUser{}, "", fmt.Errorf("--add-scram %s: want key=value at %q", u.mechanism, body)
		}
		key = strings.TrimSpace(key)
		value, rest, err := scramValue(rest)
		if err != nil {
			return scramUser{}, "", fmt.Errorf("--add-scram %s: %s: %w", u.mechanism, key, err)
		}
		if seen[key] {
			return scramUser{}, "", fmt.Errorf("--add-scram %s: %s given twice", u.mechanism, key)
		}
		seen[key] = true
		switch key {
		case "name":
			u.name = value
		case "password":
			u.password = value
		case "iterations":
			if u.iterations, err = strconv.Atoi(value); err != nil {
				return scramUser{}, "", fmt.Errorf("--add-scram %s: iterations %q: %w", u.mechanism, value, err)
			}
		default:
			return scramUser{}, "", fmt.Errorf("--add-scram %s: unknown key %q (name, password, iterations)", u.mechanism, key)
		}
		switch {
		case strings.HasPrefix(rest, ","):
			body = rest[1:]
			continue
		case strings.HasPrefix(rest, "]"):
			if u.name == "" || u.password == "" {
				return scramUser{}, "", fmt.Errorf("--add-scram %s: name and password are required", u.mechanism)
			}
			return u, rest[1:], nil
		}
		return scramUser{}, "", fmt.Errorf("--add-scram %s: want ',' or ']' after %s", u.mechanism, key)
	}
}

// scramValue reads a value, quoted or up to the next ',' or ']'.
func scramValue(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		i := strings.IndexAny(s, ",]")
		if i < 0 {
			return "", "", fmt.Errorf("unterminated %q", s)
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated quote in %q", s)
}
