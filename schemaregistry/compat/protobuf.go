package compat

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// protobufFormat is the Protobuf schema type.
//
// # Parsing
//
// A schema is compiled with github.com/bufbuild/protocompile: Schema.Text is
// one file (protoMainFile), Schema.References are the other files keyed by
// the import path the schema uses, and the well-known types
// (google/protobuf/*.proto) are always importable. Each file is .proto text
// or, as Confluent's Python and .NET serializers register them, a serialized
// FileDescriptorProto in base64, which is linked as it is. A syntax error, an
// unresolved import, an undefined type or any other error protoc would
// report wraps ErrInvalidSchema. protocompile was chosen because it is a
// complete compiler (parse, link, interpret options, standard imports) in
// pure Go, well kept (it is what buf uses), and hands back
// protoreflect descriptors, so the rules below work on resolved types
// rather than on names as written.
//
// # Canonical form
//
// Confluent compares ProtobufSchema.canonicalString, the schema re-printed
// from its parsed form. Ours is the linked FileDescriptorProto, without
// source info (so comments, whitespace and layout do not count) and with a
// fixed file name, printed by protoText: fields in field-number order, type
// names fully qualified (".pkg.Msg"), options as interpreted values. Because
// options live in descriptor messages, their order never counts, even
// without normalize. Declaration order of messages, fields and enums does
// count: Confluent's wire format addresses messages by index. With
// normalize, imports are also sorted (as Confluent's normalize sorts
// imports and options).
//
// # Compatibility
//
// check follows Confluent's io.confluent.kafka.schemaregistry.protobuf.diff
// (SchemaDiff, MessageSchemaDiff, FieldSchemaDiff, OneOfDiff): the writer is
// the "original", the reader the "update". Messages of the main file are
// matched by name relative to the package (so a package change alone,
// PACKAGE_CHANGED, is compatible, as in Confluent today), nested messages
// recursively, fields by number. Reported, as incompatible:
//
//   - MESSAGE_REMOVED: a message of the writer is missing from the reader.
//   - REQUIRED_FIELD_ADDED, REQUIRED_FIELD_REMOVED (proto2 required).
//   - FIELD_KIND_CHANGED: scalar or enum vs message vs map.
//   - FIELD_SCALAR_KIND_CHANGED: outside one wire-compatible group; the
//     groups are int32/uint32/int64/uint64/bool/enums, sint32/sint64,
//     fixed32/sfixed32, fixed64/sfixed64, string/bytes, float, double.
//     Map keys and values are compared the same way.
//   - FIELD_NAMED_TYPE_CHANGED: a message field's type has another name
//     (relative to its package), or it comes from another file (a
//     reference or a well-known type) and its own comparison found an
//     incompatibility, which is reported as well.
//   - FIELD_NUMERIC_LABEL_CHANGED: a numeric or enum field changed between
//     singular, required and repeated (packed repeated data does not parse
//     as a singular field). Packed vs unpacked is not a label change.
//   - ONEOF_FIELD_REMOVED: a oneof member deleted from the whole message.
//   - MULTIPLE_FIELDS_MOVED_TO_ONEOF: a reader oneof takes in more than one
//     field that was outside any oneof in the writer.
//   - FIELD_MOVED_TO_EXISTING_ONEOF: a reader oneof takes in one such field
//     and also fields that were in a writer oneof.
//
// Compatible, so not reported: MESSAGE_ADDED, MESSAGE_MOVED, ENUM_ADDED,
// ENUM_REMOVED, ENUM_CONST_ADDED/CHANGED/REMOVED, FIELD_ADDED,
// FIELD_REMOVED (unknown fields are skipped), FIELD_NAME_CHANGED,
// FIELD_STRING_OR_BYTES_LABEL_CHANGED, ONEOF_ADDED, ONEOF_REMOVED,
// ONEOF_FIELD_ADDED, PACKAGE_CHANGED, moving one field into a new oneof,
// and a syntax change (proto2/proto3/editions; Confluent has no
// SYNTAX_VERSION_CHANGED, and the wire format is the same). Changing a
// field from one enum to another, or between an enum and an integer, is
// compatible as in Confluent: enums are integers on the wire.
//
// Each message is "RULE #/Path/To/Message/number: explanation", the path as
// Confluent's Difference.fullPath, the explanation naming the message's full
// name and the field.
//
// Deviations from Confluent:
//   - Labels are compared as cardinality (singular, required, repeated), so
//     proto3 implicit presence vs repeated counts as a label change;
//     Confluent only compares labels written out on both sides and so
//     misses `int32 a = 1` → `repeated int32 a = 1`.
//   - A group field vs a message field is FIELD_KIND_CHANGED: their wire
//     encodings differ (Confluent's parser reads both as messages).
//   - A message type from another file is compared whenever either side is
//     not in the main file; Confluent skips the comparison when both sides
//     name the same subject and version, which gives the same answer
//     because identical files have no differences.
//   - Confluent's confluent:reserved metadata rules are not implemented
//     (Schema carries no metadata).
type protobufFormat struct{}

var _ format = protobufFormat{}

// protoMainFile is the file name Schema.Text compiles as, unless a
// reference already uses it.
const protoMainFile = "schema.proto"

func (protobufFormat) canonical(s Schema, normalize bool) (string, error) {
	fd, err := compileProto(s)
	if err != nil {
		return "", err
	}
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.SourceCodeInfo = nil
	fdp.Name = proto.String(protoMainFile)
	if normalize {
		sortImports(fdp)
	}
	var b strings.Builder
	protoText(&b, fdp.ProtoReflect(), 0)
	return b.String(), nil
}

func (protobufFormat) check(reader, writer Schema) ([]string, error) {
	w, err := compileProto(writer)
	if err != nil {
		return nil, err
	}
	r, err := compileProto(reader)
	if err != nil {
		return nil, err
	}
	d := &protoDiff{
		writerFile: w.Path(),
		readerFile: r.Path(),
		visiting:   map[protoreflect.FullName]bool{},
		seen:       map[string]bool{},
	}
	d.messages(w.Messages(), r.Messages(), nil)
	return d.out, nil
}

// compileProto compiles s.Text with s.References and the standard imports
// and returns the main file. Errors wrap ErrInvalidSchema.
func compileProto(s Schema) (protoreflect.FileDescriptor, error) {
	files := make(map[string]string, len(s.References)+1)
	for path, text := range s.References {
		files[path] = text
	}
	main := protoMainFile
	for i := 1; ; i++ {
		if _, ok := files[main]; !ok {
			break
		}
		main = fmt.Sprintf("schema_%d.proto", i)
	}
	files[main] = s.Text
	// Confluent's serializers for Python and .NET register a schema as its
	// serialized FileDescriptorProto in base64, which Confluent's registry
	// accepts beside .proto text (ProtobufSchema): such files are handed to
	// the compiler as descriptors to link.
	descriptors := map[string]*descriptorpb.FileDescriptorProto{}
	for path, text := range files {
		if fdp, ok := serializedDescriptor(text); ok {
			fdp.Name = proto.String(path)
			descriptors[path] = fdp
			delete(files, path)
		}
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
			protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
				if fdp, ok := descriptors[path]; ok {
					return protocompile.SearchResult{Proto: fdp}, nil
				}
				return protocompile.SearchResult{}, fs.ErrNotExist
			}),
			&protocompile.SourceResolver{Accessor: protocompile.SourceAccessorFromMap(files)},
		}),
		// Check runs one compile at a time; more goroutines only cost.
		MaxParallelism: 1,
	}
	// Compiling does no I/O (sources are in memory), so there is nothing
	// for a caller's context to cancel.
	res, err := c.Compile(context.Background(), main)
	if err != nil {
		return nil, fmt.Errorf("%w: protobuf: %w", ErrInvalidSchema, err)
	}
	return res[0], nil
}

// serializedDescriptor returns the FileDescriptorProto text holds when it is
// the base64 form of a serialized one. .proto text never is: it has spaces.
func serializedDescriptor(text string) (*descriptorpb.FileDescriptorProto, bool) {
	if strings.ContainsAny(text, " \t\n;{") {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(b) == 0 {
		return nil, false
	}
	var fdp descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(b, &fdp); err != nil {
		return nil, false
	}
	// Python's descriptors carry json_name "" for every field, where protoc
	// writes each field's default JSON name, and a linker takes any other
	// value for a custom name (then finding them all in conflict).
	for _, m := range fdp.GetMessageType() {
		defaultJSONNames(m)
	}
	for _, f := range fdp.GetExtension() {
		defaultJSONName(f)
	}
	return &fdp, true
}

func defaultJSONNames(m *descriptorpb.DescriptorProto) {
	for _, f := range m.GetField() {
		defaultJSONName(f)
	}
	for _, f := range m.GetExtension() {
		defaultJSONName(f)
	}
	for _, n := range m.GetNestedType() {
		defaultJSONNames(n)
	}
}

// defaultJSONName sets an unset or empty json_name to protoc's default:
// the field name in lower camel case (ToJsonName).
func defaultJSONName(f *descriptorpb.FieldDescriptorProto) {
	if f.GetJsonName() != "" {
		return
	}
	var b strings.Builder
	upper := false
	for _, c := range f.GetName() {
		if c == '_' {
			upper = true
			continue
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		b.WriteRune(c)
	}
	f.JsonName = proto.String(b.String())
}

// sortImports sorts fdp's imports by path, keeping public and weak imports
// pointing at the same files.
func sortImports(fdp *descriptorpb.FileDescriptorProto) {
	deps := fdp.GetDependency()
	public := map[string]bool{}
	weak := map[string]bool{}
	for _, i := range fdp.GetPublicDependency() {
		public[deps[i]] = true
	}
	for _, i := range fdp.GetWeakDependency() {
		weak[deps[i]] = true
	}
	sorted := slices.Clone(deps)
	slices.Sort(sorted)
	fdp.Dependency = sorted
	fdp.PublicDependency, fdp.WeakDependency = nil, nil
	for i, d := range sorted {
		if public[d] {
			fdp.PublicDependency = append(fdp.PublicDependency, int32(i))
		}
		if weak[d] {
			fdp.WeakDependency = append(fdp.WeakDependency, int32(i))
		}
	}
}

// protoText prints m deterministically in a text-format-like layout: set
// fields in field-number order (extensions by number too), list elements in
// order, unknown fields as hex. prototext is not used because its output
// is deliberately unstable between builds, and a canonical form is stored.
func protoText(b *strings.Builder, m protoreflect.Message, depth int) {
	type entry struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var set []entry
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		set = append(set, entry{fd, v})
		return true
	})
	slices.SortFunc(set, func(a, b entry) int { return int(a.fd.Number()) - int(b.fd.Number()) })
	indent := strings.Repeat("  ", depth)
	for _, e := range set {
		name := string(e.fd.Name())
		if e.fd.IsExtension() {
			name = "[" + string(e.fd.FullName()) + "]"
		}
		switch {
		case e.fd.IsList():
			l := e.v.List()
			for i := 0; i < l.Len(); i++ {
				protoTextValue(b, indent, name, e.fd, l.Get(i), depth)
			}
		case e.fd.IsMap():
			// Descriptor protos have no map fields; printed for
			// completeness with keys in a stable order.
			var keys []protoreflect.MapKey
			e.v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				fmt.Fprintf(b, "%s%s { key: %s }\n", indent, name, strconv.Quote(k.String()))
				protoTextValue(b, indent, name+".value", e.fd.MapValue(), e.v.Map().Get(k), depth)
			}
		default:
			protoTextValue(b, indent, name, e.fd, e.v, depth)
		}
	}
	if u := m.GetUnknown(); len(u) > 0 {
		fmt.Fprintf(b, "%sunknown: %x\n", indent, []byte(u))
	}
}

func protoTextValue(b *strings.Builder, indent, name string, fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		fmt.Fprintf(b, "%s%s {\n", indent, name)
		protoText(b, v.Message(), depth+1)
		fmt.Fprintf(b, "%s}\n", indent)
		return
	case protoreflect.EnumKind:
		s := strconv.Itoa(int(v.Enum()))
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			s = string(ev.Name())
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, name, s)
		return
	case protoreflect.StringKind:
		fmt.Fprintf(b, "%s%s: %s\n", indent, name, strconv.Quote(v.String()))
		return
	case protoreflect.BytesKind:
		fmt.Fprintf(b, "%s%s: %s\n", indent, name, strconv.Quote(string(v.Bytes())))
		return
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if math.IsNaN(f) {
			s = "nan"
		}
		fmt.Fprintf(b, "%s%s: %s\n", indent, name, s)
		return
	}
	fmt.Fprintf(b, "%s%s: %v\n", indent, name, v.Interface())
}

// protoDiff is one Confluent SchemaDiff.compare of a writer (Confluent's
// "original") against a reader (the "update"). It collects only the
// incompatible differences.
type protoDiff struct {
	writerFile, readerFile string
	// visiting holds the writer messages being compared, so recursive
	// message types end (Confluent's Context.enterSchema).
	visiting map[protoreflect.FullName]bool
	seen     map[string]bool
	out      []string
	// found counts reports, repeated ones included, so namedType sees an
	// incompatibility that was already reported through another field.
	found int
}

// report records an incompatible difference of rule at path.
func (d *protoDiff) report(rule string, path []string, detail string, args ...any) {
	d.found++
	msg := fmt.Sprintf("%s #/%s: %s", rule, strings.Join(path, "/"), fmt.Sprintf(detail, args...))
	if d.seen[msg] {
		return
	}
	d.seen[msg] = true
	d.out = append(d.out, msg)
}

// messages matches writer and reader messages by name (SchemaDiff
// .compareTypeElements). Map entries are not messages to Confluent.
func (d *protoDiff) messages(w, r protoreflect.MessageDescriptors, path []string) {
	for i := 0; i < w.Len(); i++ {
		wm := w.Get(i)
		if wm.IsMapEntry() {
			continue
		}
		p := appendPath(path, string(wm.Name()))
		rm := r.ByName(wm.Name())
		if rm == nil || rm.IsMapEntry() {
			d.report("MESSAGE_REMOVED", p, "message %s is missing from the reader", wm.FullName())
			continue
		}
		d.message(wm, rm, p)
	}
}

// appendPath returns path + elems without aliasing path's array.
func appendPath(path []string, elems ...string) []string {
	return append(slices.Clip(path), elems...)
}

// realOneof is f's oneof, ignoring proto3 optional's synthetic oneofs
// (Confluent's parser does not see those as oneofs).
func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

// message compares two messages of the same name (MessageSchemaDiff).
func (d *protoDiff) message(w, r protoreflect.MessageDescriptor, path []string) {
	if !d.visiting[w.FullName()] {
		d.visiting[w.FullName()] = true
		d.fields(w, r, path)
		delete(d.visiting, w.FullName())
	}
	d.messages(w.Messages(), r.Messages(), path)
}

func (d *protoDiff) fields(w, r protoreflect.MessageDescriptor, path []string) {
	wTop := map[protoreflect.FieldNumber]protoreflect.FieldDescriptor{}
	wOneofField := map[protoreflect.FieldNumber]bool{}
	wOneofOf := map[protoreflect.FieldNumber]protoreflect.Name{}
	rOneofOf := map[protoreflect.FieldNumber]protoreflect.Name{}
	for i := 0; i < w.Fields().Len(); i++ {
		f := w.Fields().Get(i)
		if o := realOneof(f); o != nil {
			wOneofField[f.Number()] = true
			wOneofOf[f.Number()] = o.Name()
		} else {
			wTop[f.Number()] = f
		}
	}
	for i := 0; i < r.Fields().Len(); i++ {
		if o := realOneof(r.Fields().Get(i)); o != nil {
			rOneofOf[r.Fields().Get(i).Number()] = o.Name()
		}
	}

	// A reader oneof may take in at most one writer field that was outside
	// any oneof, and then only with fields new to the message: two
	// fields written together cannot both be read into one oneof.
	for i := 0; i < r.Oneofs().Len(); i++ {
		o := r.Oneofs().Get(i)
		if o.IsSynthetic() {
			continue
		}
		moved, existing := 0, 0
		for j := 0; j < o.Fields().Len(); j++ {
			n := o.Fields().Get(j).Number()
			if _, ok := wTop[n]; ok {
				delete(wTop, n) // moved, not removed
				moved++
			} else if wOneofField[n] {
				existing++
			}
		}
		p := appendPath(path, string(o.Name()))
		switch {
		case moved > 1:
			d.report("MULTIPLE_FIELDS_MOVED_TO_ONEOF", p, "oneof %s of %s takes in %d fields that the writer may set together", o.Name(), r.FullName(), moved)
		case moved == 1 && existing > 0:
			d.report("FIELD_MOVED_TO_EXISTING_ONEOF", p, "oneof %s of %s takes in a field that the writer may set together with a member of another oneof", o.Name(), r.FullName())
		}
	}

	// Oneofs present on both sides: a member deleted from the message
	// loses the case a writer may have set.
	for i := 0; i < w.Oneofs().Len(); i++ {
		wo := w.Oneofs().Get(i)
		ro := r.Oneofs().ByName(wo.Name())
		if wo.IsSynthetic() || ro == nil || ro.IsSynthetic() {
			continue // ONEOF_ADDED and ONEOF_REMOVED are compatible
		}
		p := appendPath(path, string(wo.Name()))
		for j := 0; j < wo.Fields().Len(); j++ {
			wf := wo.Fields().Get(j)
			rf := ro.Fields().ByNumber(wf.Number())
			switch {
			case rf != nil:
				d.field(w, wf, rf, appendPath(p, strconv.Itoa(int(wf.Number()))))
			case r.Fields().ByNumber(wf.Number()) == nil:
				d.report("ONEOF_FIELD_REMOVED", appendPath(p, strconv.Itoa(int(wf.Number()))), "field %d (%s) of oneof %s of %s is missing from the reader", wf.Number(), wf.Name(), wo.Name(), w.FullName())
			}
		}
	}

	// Fields outside oneofs, by number.
	for _, n := range sortedNumbers(w.Fields(), r.Fields()) {
		wf, rf := wTop[n], r.Fields().ByNumber(n)
		if rf != nil && realOneof(rf) != nil {
			rf = nil
		}
		p := appendPath(path, strconv.Itoa(int(n)))
		switch {
		case wf == nil && rf == nil:
		case rf == nil:
			if wf.Cardinality() == protoreflect.Required {
				d.report("REQUIRED_FIELD_REMOVED", p, "required field %d (%s) of %s is missing from the reader", n, wf.Name(), w.FullName())
			}
		case wf == nil:
			if rf.Cardinality() == protoreflect.Required && w.Fields().ByNumber(n) == nil {
				d.report("REQUIRED_FIELD_ADDED", p, "required field %d (%s) of %s is missing from the writer", n, rf.Name(), r.FullName())
			}
		default:
			d.field(w, wf, rf, p)
		}
	}

	// Fields that moved into, out of or between oneofs: compare their
	// types too.
	for _, n := range sortedNumbers(w.Fields(), r.Fields()) {
		wf, rf := w.Fields().ByNumber(n), r.Fields().ByNumber(n)
		if wf == nil || rf == nil {
			continue
		}
		wo, wIn := wOneofOf[n]
		ro, rIn := rOneofOf[n]
		if (!wIn && !rIn) || (wIn && rIn && wo == ro) {
			continue // compared above
		}
		d.field(w, wf, rf, appendPath(path, strconv.Itoa(int(n))))
	}
}

// sortedNumbers is the union of the field numbers of a and b, ascending.
func sortedNumbers(a, b protoreflect.FieldDescriptors) []protoreflect.FieldNumber {
	var ns []protoreflect.FieldNumber
	for _, fs := range []protoreflect.FieldDescriptors{a, b} {
		for i := 0; i < fs.Len(); i++ {
			ns = append(ns, fs.Get(i).Number())
		}
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// protoKind is FieldSchemaDiff.Kind, with groups apart (see the deviations).
type protoKind int

const (
	kindScalar protoKind = iota // scalars and enums
	kindMessage
	kindGroup
	kindMap
)

func kindOf(f protoreflect.FieldDescriptor) protoKind {
	switch {
	case f.IsMap():
		return kindMap
	case f.Kind() == protoreflect.MessageKind:
		return kindMessage
	case f.Kind() == protoreflect.GroupKind:
		return kindGroup
	}
	return kindScalar
}

func (k protoKind) String() string {
	return [...]string{"scalar", "message", "group", "map"}[k]
}

// scalarGroup names the wire-compatible group of a scalar or enum kind
// (FieldSchemaDiff.ScalarKind).
func scalarGroup(k protoreflect.Kind) string {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind,
		protoreflect.Uint64Kind, protoreflect.BoolKind, protoreflect.EnumKind:
		return "varint"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "zigzag"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "length-delimited"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "fixed32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "fixed64"
	}
	return k.String() // float, double: alone
}

// typeName is how a message names f's type in a message.
func typeName(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(f.Message().FullName())
	case protoreflect.EnumKind:
		return string(f.Enum().FullName())
	}
	return f.Kind().String()
}

// field compares a field of writer message w with the reader's field of
// the same number (FieldSchemaDiff.compare). A name change is compatible.
func (d *protoDiff) field(w protoreflect.MessageDescriptor, wf, rf protoreflect.FieldDescriptor, path []string) {
	what := fmt.Sprintf("field %d (%s) of %s", wf.Number(), wf.Name(), w.FullName())
	d.fieldType(what, wf, rf, true, path)
}

func (d *protoDiff) fieldType(what string, wf, rf protoreflect.FieldDescriptor, labels bool, path []string) {
	wk, rk := kindOf(wf), kindOf(rf)
	if wk != rk {
		d.report("FIELD_KIND_CHANGED", path, "%s is a %s (%s) in the writer and a %s (%s) in the reader", what, wk, typeName(wf), rk, typeName(rf))
		return
	}
	switch wk {
	case kindScalar:
		wg, rg := scalarGroup(wf.Kind()), scalarGroup(rf.Kind())
		if wg != rg {
			d.report("FIELD_SCALAR_KIND_CHANGED", path, "%s changed from %s to %s, which is not wire-compatible", what, typeName(wf), typeName(rf))
			return
		}
		if labels && wf.Cardinality() != rf.Cardinality() && wg != "length-delimited" {
			d.report("FIELD_NUMERIC_LABEL_CHANGED", path, "%s changed from %s to %s", what, cardinality(wf), cardinality(rf))
		}
	case kindMessage, kindGroup:
		d.namedType(what, wf.Message(), rf.Message(), path)
	case kindMap:
		d.fieldType(what+" map key", wf.MapKey(), rf.MapKey(), false, path)
		d.fieldType(what+" map value", wf.MapValue(), rf.MapValue(), false, path)
	}
}

func cardinality(f protoreflect.FieldDescriptor) string {
	switch f.Cardinality() {
	case protoreflect.Repeated:
		return "repeated"
	case protoreflect.Required:
		return "required"
	}
	return "singular"
}

// localName is m's full name without its file's package.
func localName(m protoreflect.MessageDescriptor) string {
	full, pkg := string(m.FullName()), string(m.ParentFile().Package())
	if pkg != "" {
		return strings.TrimPrefix(full, pkg+".")
	}
	return full
}

// namedType compares the message types of a field
// (FieldSchemaDiff.compareMessageTypes). Types of the main file are
// compared by the walk over its messages; a type from another file is
// compared here, and its incompatibilities make the field's too.
func (d *protoDiff) namedType(what string, wm, rm protoreflect.MessageDescriptor, path []string) {
	wl, rl := localName(wm), localName(rm)
	if wl != rl {
		d.report("FIELD_NAMED_TYPE_CHANGED", path, "%s changed type from %s to %s", what, wm.FullName(), rm.FullName())
		return
	}
	if wm.ParentFile().Path() == d.writerFile && rm.ParentFile().Path() == d.readerFile {
		return
	}
	before := d.found
	d.message(wm, rm, strings.Split(wl, "."))
	if d.found > before {
		d.report("FIELD_NAMED_TYPE_CHANGED", path, "%s has type %s, which changed incompatibly", what, wl)
	}
}
