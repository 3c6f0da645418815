package compat

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The compatibility rules for JSON Schema; see jsonFormat for the list.

// jsonChecker compares a reader subschema with a writer one.
type jsonChecker struct {
	inProgress map[string]bool
	steps      *int
	msgs       []string
}

func (c *jsonChecker) add(rule, path, detail string) {
	m := rule + " at " + path
	if detail != "" {
		m += ": " + detail
	}
	c.msgs = append(c.msgs, m)
}

// accepts reports whether r accepts all that w does, without reporting.
func (c *jsonChecker) accepts(path string, r, w jnode) bool {
	sub := &jsonChecker{inProgress: c.inProgress, steps: c.steps}
	sub.compare(path, r, w)
	return len(sub.msgs) == 0
}

func (c *jsonChecker) compare(path string, r, w jnode) {
	r, w = r.deref(), w.deref()
	if *c.steps++; *c.steps > jsonMaxSteps {
		return // check reports TOO_COMPLEX
	}
	key := r.id() + "\x00" + w.id()
	if c.inProgress[key] {
		return
	}
	c.inProgress[key] = true
	defer delete(c.inProgress, key)

	if b, ok := w.v.(bool); ok {
		if !b {
			return // the writer writes nothing
		}
		w = jnode{sp: w.sp, doc: w.doc, ptr: w.ptr, v: map[string]any{}}
	}
	if isEmptyJSONSchema(r) {
		return
	}
	if b, ok := r.v.(bool); ok && !b {
		c.add("TYPE_CHANGED", path, "the reader accepts nothing")
		return
	}
	if w.has("allOf") {
		if w = flattenAllOf(w, 8); w.v == false {
			return
		}
	}
	if c.compareCombined(path, r, w) {
		return
	}
	c.compareBase(path, r, w)
}

// flattenAllOf merges w's allOf branches into w.
func flattenAllOf(w jnode, depth int) jnode {
	out := w.without("allOf")
	for _, b := range w.items("allOf") {
		b = b.deref()
		if depth > 0 && b.has("allOf") {
			b = flattenAllOf(b, depth-1)
		}
		if bb, ok := b.v.(bool); ok {
			if !bb {
				return jnode{sp: w.sp, doc: w.doc, ptr: w.ptr + "&false", v: false}
			}
			continue
		}
		out = out.mergedWith(b)
	}
	return out
}

func sumKeyword(n jnode) string {
	for _, k := range []string{"oneOf", "anyOf"} {
		if n.has(k) {
			return k
		}
	}
	return ""
}

// compareCombined handles allOf in the reader and oneOf/anyOf on either
// side. It returns true when it has compared everything.
func (c *jsonChecker) compareCombined(path string, r, w jnode) bool {
	if r.has("allOf") {
		for i, b := range r.items("allOf") {
			c.compare(path+"/allOf/"+strconv.Itoa(i), b, w)
		}
		r = r.without("allOf")
	}
	rk, wk := sumKeyword(r), sumKeyword(w)
	switch {
	case wk != "" && rk == "":
		wbase := w.without(wk)
		for i, b := range w.items(wk) {
			if b = b.deref(); b.v == false {
				continue
			}
			c.compare(path+"/"+wk+"/"+strconv.Itoa(i), r, b.mergedWith(wbase))
		}
		return true
	case wk == "" && rk != "":
		rbase := r.without(rk)
		found := false
		for _, b := range r.items(rk) {
			if c.accepts(path, b, w) {
				found = true
				break
			}
		}
		if !found {
			c.add("TYPE_CHANGED", path, "no "+rk+" branch of the reader accepts the writer")
		}
		c.compare(path, rbase, w)
		return true
	case wk != "" && rk != "":
		if rk != wk && rk != "anyOf" {
			c.add("COMBINED_TYPE_CHANGED", path, wk+" became "+rk)
		}
		rs := r.items(rk)
		for i, b := range w.items(wk) {
			covered := slices.ContainsFunc(rs, func(rb jnode) bool { return c.accepts(path, rb, b) })
			if !covered {
				c.add("SUM_TYPE_NARROWED", path+"/"+wk+"/"+strconv.Itoa(i), "no reader "+rk+" branch accepts it")
			}
		}
		c.compare(path, r.without(rk), w.without(wk))
		return true
	}
	return false
}

var jsonTypeKeywords = []struct {
	typ  string
	keys []string
}{
	{"object", []string{"properties", "additionalProperties", "patternProperties", "required", "minProperties", "maxProperties", "dependencies", "dependentRequired", "dependentSchemas", "propertyNames"}},
	{"array", []string{"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"}},
	{"string", []string{"minLength", "maxLength", "pattern"}},
	{"number", []string{"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}},
}

// jsonTypes returns n's "type" as a list, or nil for any type.
func jsonTypes(n jnode) []string {
	switch t := n.valOnly("type").(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// writerTypes returns the types w's data may have, or nil for any.
func writerTypes(w jnode) []string {
	if t := jsonTypes(w); t != nil {
		return t
	}
	var out []string
	for _, tk := range jsonTypeKeywords {
		if slices.ContainsFunc(tk.keys, w.has) {
			out = append(out, tk.typ)
		}
	}
	return out
}

func typeAccepted(types []string, t string) bool {
	return types == nil || slices.Contains(types, t) || (t == "integer" && slices.Contains(types, "number"))
}

func (c *jsonChecker) compareBase(path string, r, w jnode) {
	wt, rt := writerTypes(w), jsonTypes(r)
	if rt != nil {
		var lost []string
		partly := 0 // writer types the reader accepts only some values of
		for _, t := range wt {
			if !typeAccepted(rt, t) {
				lost = append(lost, t)
				if t == "number" && slices.Contains(rt, "integer") {
					partly++
				}
			}
		}
		switch {
		case wt == nil:
			c.add("TYPE_NARROWED", path, "writer allows any type, reader "+strings.Join(rt, ", "))
		case len(lost) == len(wt) && partly == 0:
			c.add("TYPE_CHANGED", path, fmt.Sprintf("writer %s, reader %s", strings.Join(wt, ", "), strings.Join(rt, ", ")))
			return
		case len(lost) > 0:
			c.add("TYPE_NARROWED", path, "reader drops "+strings.Join(lost, ", "))
		}
	}
	may := func(t string) bool {
		if wt != nil && !typeAccepted(wt, t) && !(t == "number" && slices.Contains(wt, "integer")) {
			return false
		}
		return typeAccepted(rt, t) || (t == "number" && typeAccepted(rt, "integer"))
	}
	c.compareEnum(path, r, w)
	if may("string") {
		c.compareStrings(path, r, w)
	}
	if may("number") {
		c.compareNumbers(path, r, w)
	}
	if may("object") {
		c.compareObjects(path, r, w)
	}
	if may("array") {
		c.compareArrays(path, r, w)
	}
	c.compareNot(path, r, w)
	c.compareConditional(path, r, w)
}

// enumValues returns the values n allows by enum or const, or nil.
func enumValues(n jnode) []any {
	if v, ok := n.val("const"); ok {
		return []any{v}
	}
	if e, ok := n.valOnly("enum").([]any); ok {
		return e
	}
	return nil
}

// valueKey is a JSON value's text with numbers in one form, so that 1 and
// 1.0 are one enum value.
func valueKey(v any) string {
	switch x := stripIn(v).(type) {
	case json.Number:
		if r, ok := safeRat(x); ok {
			return r.RatString()
		}
	case map[string]any:
		keys := slices.Sorted(mapKeys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ":" + valueKey(x[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueKey(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return canonicalJSON(stripIn(v))
}

func (c *jsonChecker) compareEnum(path string, r, w jnode) {
	rv := enumValues(r)
	if rv == nil {
		return
	}
	wv := enumValues(w)
	if wv == nil {
		c.add("ENUM_ARRAY_NARROWED", path, "reader adds enum")
		return
	}
	rs := map[string]bool{}
	for _, v := range rv {
		rs[valueKey(v)] = true
	}
	ws := map[string]bool{}
	var lost []string
	for _, v := range wv {
		k := valueKey(v)
		ws[k] = true
		if !rs[k] {
			lost = append(lost, canonicalJSON(v))
		}
	}
	if len(lost) == 0 {
		return
	}
	rule := "ENUM_ARRAY_NARROWED"
	for k := range rs {
		if !ws[k] {
			rule = "ENUM_ARRAY_CHANGED"
		}
	}
	c.add(rule, path, "reader drops "+strings.Join(lost, ", "))
}

func (c *jsonChecker) compareStrings(path string, r, w jnode) {
	c.compareLimit(path, r, w, "maxLength", "MAX_LENGTH", true)
	c.compareLimit(path, r, w, "minLength", "MIN_LENGTH", false)
	rp, rok := r.str("pattern")
	wp, wok := w.str("pattern")
	switch {
	case rok && !wok:
		c.add("PATTERN_ADDED", path, rp)
	case rok && rp != wp:
		c.add("PATTERN_CHANGED", path, fmt.Sprintf("%s became %s", wp, rp))
	}
}

// compareLimit reports a bound the reader adds or tightens: for an upper
// bound (upper) the reader's must not be lower than the writer's.
func (c *jsonChecker) compareLimit(path string, r, w jnode, key, rule string, upper bool) {
	rn, rok := r.num(key)
	wn, wok := w.num(key)
	c.limit(path, rn, rok, wn, wok, rule, upper)
}

func (c *jsonChecker) limit(path string, rn json.Number, rok bool, wn json.Number, wok bool, rule string, upper bool) {
	if !rok {
		return
	}
	if !wok {
		c.add(rule+"_ADDED", path, rn.String())
		return
	}
	cmp := compareNumbers(rn, wn)
	if upper && cmp < 0 {
		c.add(rule+"_DECREASED", path, fmt.Sprintf("%s to %s", wn, rn))
	}
	if !upper && cmp > 0 {
		c.add(rule+"_INCREASED", path, fmt.Sprintf("%s to %s", wn, rn))
	}
}

// bounds returns n's numeric bounds, reading draft 4's boolean
// exclusiveMaximum/exclusiveMinimum as making maximum/minimum exclusive.
func bounds(n jnode) (b [4]json.Number, ok [4]bool) {
	keys := [4]string{"maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"}
	for i, k := range keys {
		b[i], ok[i] = n.num(k)
	}
	for i := range 2 {
		if ex, _ := n.valOnly(keys[i+2]).(bool); ex && ok[i] {
			b[i+2], ok[i+2] = b[i], true
			ok[i] = false
		}
	}
	return b, ok
}

func (c *jsonChecker) compareNumbers(path string, r, w jnode) {
	rb, rok := bounds(r)
	wb, wok := bounds(w)
	rules := [4]string{"MAXIMUM", "MINIMUM", "EXCLUSIVE_MAXIMUM", "EXCLUSIVE_MINIMUM"}
	for i, rule := range rules {
		c.limit(path, rb[i], rok[i], wb[i], wok[i], rule, i%2 == 0)
	}
	rm, rmok := r.num("multipleOf")
	wm, wmok := w.num("multipleOf")
	switch {
	case !rmok:
	case !wmok:
		c.add("MULTIPLE_OF_ADDED", path, rm.String())
	default:
		rr, ok1 := safeRat(rm)
		wr, ok2 := safeRat(wm)
		if !ok1 || !ok2 || rr.Sign() == 0 {
			if rm != wm {
				c.add("MULTIPLE_OF_CHANGED", path, fmt.Sprintf("%s to %s", wm, rm))
			}
			return
		}
		if !new(big.Rat).Quo(wr, rr).IsInt() {
			rule := "MULTIPLE_OF_CHANGED"
			if new(big.Rat).Quo(rr, wr).IsInt() {
				rule = "MULTIPLE_OF_EXPANDED"
			}
			c.add(rule, path, fmt.Sprintf("%s to %s", wm, rm))
		}
	}
}

// safeRat parses n exactly unless its exponent would make that costly.
func safeRat(n json.Number) (*big.Rat, bool) {
	s := string(n)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}

func compareNumbers(a, b json.Number) int {
	ra, ok1 := safeRat(a)
	rb, ok2 := safeRat(b)
	if ok1 && ok2 {
		return ra.Cmp(rb)
	}
	fa, _ := strconv.ParseFloat(string(a), 64)
	fb, _ := strconv.ParseFloat(string(b), 64)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

// extraSchema returns the schema n applies to a property name it does not
// list: open (any value), a schema (partially open), or neither (closed).
func extraSchema(n jnode, name string) (s jnode, open, ok bool) {
	if pp, has := n.get("patternProperties"); has {
		for _, p := range slices.Sorted(mapKeys(pp.obj())) {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(name) {
				s, _ := pp.get(p)
				return s, false, true
			}
		}
	}
	ap, has := n.get("additionalProperties")
	if !has {
		return jnode{}, !n.has("patternProperties"), true
	}
	ap = ap.deref()
	if b, isBool := ap.v.(bool); isBool {
		return jnode{}, b && !n.has("patternProperties"), b
	}
	return ap, false, true
}

// permitsExtra reports whether additionalProperties (or additionalItems)
// lets anything through, and its schema if it is one.
func permitsExtra(n jnode, key string) (s jnode, schema, permits bool) {
	x, has := n.get(key)
	if !has {
		return jnode{}, false, true
	}
	x = x.deref()
	if b, ok := x.v.(bool); ok {
		return jnode{}, false, b
	}
	return x, !isEmptyJSONSchema(x), true
}

func requiredSet(n jnode) map[string]bool {
	out := map[string]bool{}
	a, _ := n.valOnly("required").([]any)
	for _, x := range a {
		if s, ok := x.(string); ok {
			out[s] = true
		}
	}
	return out
}

func (c *jsonChecker) compareObjects(path string, r, w jnode) {
	c.compareExtra(path, r, w, "additionalProperties", "ADDITIONAL_PROPERTIES")
	rp, _ := r.get("properties")
	wp, _ := w.get("properties")
	rreq, wreq := requiredSet(r), requiredSet(w)
	names := map[string]bool{}
	for k := range rp.obj() {
		names[k] = true
	}
	for k := range wp.obj() {
		names[k] = true
	}
	for _, name := range slices.Sorted(mapKeys(names)) {
		p := path + "/properties/" + escapePointer(name)
		rs, rok := rp.get(name)
		ws, wok := wp.get(name)
		switch {
		case rok && wok:
			c.compare(p, rs, ws)
		case wok: // the reader drops it
			extra, open, ok := extraSchema(r, name)
			switch {
			case !ok:
				c.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "")
			case !open && !c.accepts(p, extra, ws):
				c.add("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
			}
		default: // the reader adds it
			extra, open, ok := extraSchema(w, name)
			switch {
			case open:
				if !isEmptyJSONSchema(rs) {
					c.add("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", p, "")
				}
			case ok:
				if !c.accepts(p, rs, extra) {
					c.add("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
				}
			case rreq[name] && !rs.deref().has("default"):
				c.add("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", p, "")
			}
		}
	}
	for _, name := range slices.Sorted(mapKeys(rreq)) {
		if wreq[name] {
			continue
		}
		if s, ok := rp.get(name); ok && s.deref().has("default") {
			continue // REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
		}
		c.add("REQUIRED_ATTRIBUTE_ADDED", path+"/required/"+escapePointer(name), "")
	}
	rpp, _ := r.get("patternProperties")
	wpp, _ := w.get("patternProperties")
	for _, pat := range slices.Sorted(mapKeys(rpp.obj())) {
		if ws, ok := wpp.get(pat); ok {
			rs, _ := rpp.get(pat)
			c.compare(path+"/patternProperties/"+escapePointer(pat), rs, ws)
		}
	}
	c.compareLimit(path, r, w, "maxProperties", "MAX_PROPERTIES", true)
	c.compareLimit(path, r, w, "minProperties", "MIN_PROPERTIES", false)
}

// compareExtra compares additionalProperties or additionalItems.
func (c *jsonChecker) compareExtra(path string, r, w jnode, key, rule string) {
	rs, rschema, rperm := permitsExtra(r, key)
	ws, wschema, wperm := permitsExtra(w, key)
	switch {
	case !wperm:
	case !rperm:
		c.add(rule+"_REMOVED", path+"/"+key, "")
	case rschema && !wschema:
		c.add(rule+"_NARROWED", path+"/"+key, "")
	case rschema && wschema:
		c.compare(path+"/"+key, rs, ws)
	}
}

// tuple returns an array schema's positional item schemas, the keyword
// holding what follows them, and whether it uses the tuple form at all.
func tuple(n jnode) (pos []jnode, restKey string, isTuple bool) {
	if n.has("prefixItems") {
		return n.items("prefixItems"), "items", true
	}
	if _, ok := n.valOnly("items").([]any); ok {
		return n.items("items"), "additionalItems", true
	}
	return nil, "items", false
}

func (c *jsonChecker) compareArrays(path string, r, w jnode) {
	rpos, rrest, rtuple := tuple(r)
	wpos, wrest, wtuple := tuple(w)
	if !rtuple && !wtuple {
		if ri, ok := r.get("items"); ok {
			wi, ok := w.get("items")
			if !ok {
				wi = jnode{sp: w.sp, doc: w.doc, ptr: w.ptr + "/items", v: true}
			}
			c.compare(path+"/items", ri, wi)
		}
	} else {
		for i := range max(len(rpos), len(wpos)) {
			p := path + "/items/" + strconv.Itoa(i)
			switch {
			case i < len(rpos) && i < len(wpos):
				c.compare(p, rpos[i], wpos[i])
			case i < len(wpos): // the reader drops a position
				rs, schema, perm := permitsExtra(r, rrest)
				switch {
				case !perm:
					c.add("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", p, "")
				case schema && !c.accepts(p, rs, wpos[i]):
					c.add("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
				}
			default: // the reader adds a position
				ws, schema, perm := permitsExtra(w, wrest)
				switch {
				case !perm:
				case schema:
					if !c.accepts(p, rpos[i], ws) {
						c.add("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", p, "")
					}
				case !isEmptyJSONSchema(rpos[i]):
					c.add("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", p, "")
				}
			}
		}
		c.compareRest(path, r, w, rrest, wrest)
	}
	c.compareLimit(path, r, w, "maxItems", "MAX_ITEMS", true)
	c.compareLimit(path, r, w, "minItems", "MIN_ITEMS", false)
	if ru, _ := r.valOnly("uniqueItems").(bool); ru {
		if wu, _ := w.valOnly("uniqueItems").(bool); !wu {
			c.add("UNIQUE_ITEMS_ADDED", path, "")
		}
	}
}

// compareRest compares what follows the tuple positions, which the two
// sides may keep under different keywords.
func (c *jsonChecker) compareRest(path string, r, w jnode, rkey, wkey string) {
	rs, rschema, rperm := permitsExtra(r, rkey)
	ws, wschema, wperm := permitsExtra(w, wkey)
	p := path + "/" + rkey
	switch {
	case !wperm:
	case !rperm:
		c.add("ADDITIONAL_ITEMS_REMOVED", p, "")
	case rschema && !wschema:
		c.add("ADDITIONAL_ITEMS_NARROWED", p, "")
	case rschema && wschema:
		c.compare(p, rs, ws)
	}
}

func (c *jsonChecker) compareNot(path string, r, w jnode) {
	rn, ok := r.get("not")
	if !ok {
		return
	}
	wn, ok := w.get("not")
	if !ok {
		c.add("NOT_TYPE_ADDED", path+"/not", "")
		return
	}
	// not R accepts all of not W when R accepts no more than W.
	if !c.accepts(path+"/not", wn, rn) {
		c.add("NOT_TYPE_NARROWED", path+"/not", "")
	}
}

func (c *jsonChecker) compareConditional(path string, r, w jnode) {
	for _, k := range []string{"if", "then", "else"} {
		rv, rok := r.val(k)
		if !rok {
			continue
		}
		wv, wok := w.val(k)
		if !wok || valueKey(rv) != valueKey(wv) {
			c.add("CONDITIONAL_CHANGED", path+"/"+k, "")
			return
		}
	}
}
