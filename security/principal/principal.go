// Package principal maps a TLS client certificate's distinguished name to a
// Kafka principal name with the rules of Kafka's ssl.principal.mapping.rules,
// so that a listener's ACLs can name "User:alice" rather than
// "User:CN=alice,OU=eng,O=Example".
//
// A rule list is comma-separated. Each rule is DEFAULT, which keeps the
// distinguished name as it is, or RULE:pattern/replacement/ with an optional L
// or U after the last '/' to lower- or upper-case the result. Rules are tried
// in order; the first whose pattern matches the whole name gives the
// principal ($1, $2, ... in the replacement are the pattern's groups). A name
// no rule matches is refused, so a client whose certificate the rules did not
// foresee cannot connect under an unintended principal. A '/' inside a
// pattern or replacement is escaped with '\'.
//
// Patterns are Go regular expressions (RE2), which accept the patterns these
// rules are written with in practice (character classes, groups, anchors) but
// not Java's backreferences or lookarounds.
package principal

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Rules is a parsed ssl.principal.mapping.rules value.
type Rules struct {
	text  string
	rules []rule
}

type rule struct {
	deflt       bool
	pattern     *regexp.Regexp
	replacement string
	toLower     bool
	toUpper     bool
}

// Parse parses a rule list; the empty string is DEFAULT, Kafka's default.
// As in Kafka, a pattern and a replacement run to the next unescaped '/', so
// they may hold commas; after the case flag, the rule runs to the next comma.
func Parse(text string) (*Rules, error) {
	r := &Rules{text: text}
	rest := strings.TrimSpace(text)
	if rest == "" {
		r.rules = []rule{{deflt: true}}
		return r, nil
	}
	for rest != "" {
		var ru rule
		var err error
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			ru.deflt, rest = true, rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			ru, rest, err = parseRule(rest[len("RULE:"):])
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("principal mapping rules %q: want DEFAULT or RULE:pattern/replacement/[LU] at %q", text, rest)
		}
		r.rules = append(r.rules, ru)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		var ok bool
		if rest, ok = strings.CutPrefix(rest, ","); !ok {
			return nil, fmt.Errorf("principal mapping rules %q: want ',' between rules at %q", text, rest)
		}
		rest = strings.TrimSpace(rest)
	}
	return r, nil
}

// parseRule parses "pattern/replacement/[LU]" and returns what follows it.
func parseRule(s string) (rule, string, error) {
	pattern, s, ok := cutUnescaped(s, '/')
	if !ok {
		return rule{}, "", fmt.Errorf("principal mapping rule RULE:%s: want RULE:pattern/replacement/[LU]", pattern)
	}
	replacement, s, ok := cutUnescaped(s, '/')
	if !ok {
		return rule{}, "", fmt.Errorf("principal mapping rule RULE:%s/%s: want RULE:pattern/replacement/[LU]", pattern, replacement)
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return rule{}, "", fmt.Errorf("principal mapping rule RULE:%s: %w", pattern, err)
	}
	ru := rule{pattern: re, replacement: replacement}
	if s != "" && (s[0] == 'L' || s[0] == 'U') {
		ru.toLower, ru.toUpper = s[0] == 'L', s[0] == 'U'
		s = s[1:]
	}
	if t := strings.TrimSpace(s); t != "" && t[0] != ',' {
		return rule{}, "", fmt.Errorf("principal mapping rule RULE:%s/%s/: unexpected %q after it", pattern, replacement, s)
	}
	return ru, s, nil
}

// ErrNoRule is returned by Map for a name that no rule matches.
var ErrNoRule = errors.New("no principal mapping rule matches")

// Map returns the principal name for a distinguished name.
func (r *Rules) Map(dn string) (string, error) {
	for _, ru := range r.rules {
		if ru.deflt {
			return dn, nil
		}
		m := ru.pattern.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		out := string(ru.pattern.ExpandString(nil, ru.replacement, dn, m))
		switch {
		case ru.toLower:
			out = strings.ToLower(out)
		case ru.toUpper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w %q (rules %q)", ErrNoRule, dn, r.text)
}

// String returns the rules as they were given.
func (r *Rules) String() string { return r.text }

// cutUnescaped returns s up to the first sep not preceded by '\' (with the
// '\' before a '/' dropped; other escapes belong to the regular expression),
// and what follows that sep.
func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			if s[i+1] != sep {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i+1])
			i++
		case s[i] == sep:
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), "", false
}
