package compat

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// A JSON Schema as the compatibility rules walk it: nodes that know the
// document they come from, so that $refs resolve where they were written.

// jsonIn carries a value merged into a schema from another place, so that
// the $refs inside it resolve in its own document.
type jsonIn struct {
	doc, ptr string
	v        any
}

// jnode is a subschema: its value, its document (the root's is "", a
// reference's is its name) and its JSON pointer there.
type jnode struct {
	sp       *jsonSpace
	doc, ptr string
	v        any
}

func (n jnode) id() string { return fmt.Sprintf("%p|%s|%s", n.sp, n.doc, n.ptr) }

func (n jnode) obj() map[string]any {
	m, _ := n.v.(map[string]any)
	return m
}

func (n jnode) sub(v any, suffix string) jnode {
	if in, ok := v.(jsonIn); ok {
		return jnode{sp: n.sp, doc: in.doc, ptr: in.ptr, v: in.v}
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: n.ptr + suffix, v: v}
}

func (n jnode) get(key string) (jnode, bool) {
	v, ok := n.obj()[key]
	if !ok {
		return jnode{}, false
	}
	return n.sub(v, "/"+escapePointer(key)), true
}

func (n jnode) items(key string) []jnode {
	x, ok := n.get(key)
	if !ok {
		return nil
	}
	a, _ := x.v.([]any)
	out := make([]jnode, len(a))
	for i, v := range a {
		out[i] = x.sub(v, "/"+strconv.Itoa(i))
	}
	return out
}

// val returns n's value at key, unwrapped.
func (n jnode) val(key string) (any, bool) {
	v, ok := n.obj()[key]
	return stripIn(v), ok
}

func (n jnode) valOnly(key string) any { v, _ := n.val(key); return v }

func (n jnode) has(key string) bool { _, ok := n.obj()[key]; return ok }

func (n jnode) str(key string) (string, bool) {
	s, ok := n.valOnly(key).(string)
	return s, ok
}

func (n jnode) num(key string) (json.Number, bool) {
	x, ok := n.valOnly(key).(json.Number)
	return x, ok
}

// without returns n minus the given keywords.
func (n jnode) without(keys ...string) jnode {
	m := n.obj()
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = n.pin(k, v)
		}
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: contentID(out), v: out}
}

// contentID names a merged schema by what it holds: pinned values by their
// place, the rest by their text. Pinned values always come from unmerged
// schemas, so the name stays short, and merging the same parts again gives
// the same name, which is what lets compare detect cycles through merges.
func contentID(m map[string]any) string {
	var b strings.Builder
	b.WriteString("&{")
	for _, k := range slices.Sorted(mapKeys(m)) {
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		switch v := m[k].(type) {
		case jsonIn:
			b.WriteString("@" + strconv.Quote(v.doc) + v.ptr)
		case map[string]any:
			b.WriteString(contentID(v))
		default:
			b.WriteString(valueKey(v))
		}
		b.WriteByte(',')
	}
	b.WriteByte('}')
	return b.String()
}

// pin wraps n's value at key so it keeps resolving from where it is.
func (n jnode) pin(key string, v any) any {
	if _, ok := v.(jsonIn); ok {
		return v
	}
	return jsonIn{doc: n.doc, ptr: n.ptr + "/" + escapePointer(key), v: v}
}

// mergedWith returns n with base's keywords added where n lacks them, and
// base's properties, patternProperties and required joined to n's.
func (n jnode) mergedWith(base jnode) jnode {
	if len(assertions(base.obj())) == 0 {
		return n
	}
	out := map[string]any{}
	for k, v := range n.obj() {
		out[k] = n.pin(k, v)
	}
	for k, v := range base.obj() {
		cur, ok := out[k]
		switch {
		case !ok:
			out[k] = base.pin(k, v)
		case k == "properties" || k == "patternProperties":
			joined := map[string]any{}
			for _, side := range []jnode{base, n} {
				p, _ := side.get(k)
				for name, s := range p.obj() {
					joined[name] = p.pin(name, s)
				}
			}
			out[k] = joined
		case k == "required":
			a, _ := stripIn(cur).([]any)
			b, _ := stripIn(v).([]any)
			out[k] = append(slices.Clone(a), b...)
		}
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: contentID(out), v: out}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// deref follows n's $ref, if any, merging the $ref's siblings into its
// target. An unresolvable $ref becomes the empty schema.
func (n jnode) deref() jnode {
	for range 64 {
		ref, ok := n.str("$ref")
		if !ok {
			return n
		}
		t, ok := n.sp.resolve(n.doc, ref)
		if !ok {
			return jnode{sp: n.sp, doc: n.doc, ptr: n.ptr + "&unresolved", v: map[string]any{}}
		}
		if rest := n.without("$ref"); len(assertions(rest.obj())) > 0 {
			t = t.mergedWith(rest)
		}
		n = t
	}
	return jnode{sp: n.sp, doc: n.doc, ptr: n.ptr + "&loop", v: map[string]any{}}
}

func (sp *jsonSpace) resolve(doc, ref string) (jnode, bool) {
	loc, frag, _ := strings.Cut(ref, "#")
	if loc != "" {
		name, ok := "", false
		if _, exact := sp.refs[loc]; exact {
			name, ok = loc, true
		}
		for _, b := range sp.bases {
			if ok {
				break
			}
			if u, valid := resolveURL(b, loc); valid {
				name, ok = sp.byURL[u]
			}
		}
		if !ok {
			return jnode{}, false
		}
		doc = name
	}
	n := jnode{sp: sp, doc: doc, v: sp.root}
	if doc != "" {
		n.v = sp.refs[doc]
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	if frag == "" {
		return n, true
	}
	if !strings.HasPrefix(frag, "/") {
		return findAnchor(n, frag)
	}
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := n.v.(type) {
		case map[string]any:
			x, ok := v[tok]
			if !ok {
				return jnode{}, false
			}
			n = n.sub(x, "/"+escapePointer(tok))
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return jnode{}, false
			}
			n = n.sub(v[i], "/"+tok)
		default:
			return jnode{}, false
		}
	}
	return n, true
}

// findAnchor finds the subschema with "$anchor": name, or draft 7's
// "$id": "#name".
func findAnchor(n jnode, name string) (jnode, bool) {
	switch v := n.v.(type) {
	case map[string]any:
		if a, _ := v["$anchor"].(string); a == name {
			return n, true
		}
		if id, _ := v["$id"].(string); id == "#"+name {
			return n, true
		}
		for _, k := range slices.Sorted(mapKeys(v)) {
			if k == "enum" || k == "const" || k == "default" || k == "examples" {
				continue
			}
			if f, ok := findAnchor(n.sub(v[k], "/"+escapePointer(k)), name); ok {
				return f, true
			}
		}
	case []any:
		for i, x := range v {
			if f, ok := findAnchor(n.sub(x, "/"+strconv.Itoa(i)), name); ok {
				return f, true
			}
		}
	}
	return jnode{}, false
}

// jsonAnnotations are keywords that constrain nothing.
var jsonAnnotations = map[string]bool{
	"$comment": true, "$defs": true, "$id": true, "$schema": true, "$anchor": true, "$vocabulary": true,
	"$dynamicAnchor": true, "$recursiveAnchor": true, "contentEncoding": true, "contentMediaType": true,
	"default": true, "definitions": true, "deprecated": true, "description": true, "examples": true,
	"format": true, "readOnly": true, "title": true, "writeOnly": true,
}

// assertions returns m's keywords that constrain data.
func assertions(m map[string]any) []string {
	var out []string
	for k := range m {
		if !jsonAnnotations[k] {
			out = append(out, k)
		}
	}
	return out
}

// isEmptyJSONSchema reports whether n accepts every value.
func isEmptyJSONSchema(n jnode) bool {
	n = n.deref()
	if b, ok := n.v.(bool); ok {
		return b
	}
	return len(assertions(n.obj())) == 0
}

func stripIn(v any) any {
	if in, ok := v.(jsonIn); ok {
		return in.v
	}
	return v
}
