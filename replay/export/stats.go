package export

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// boundBytes is the length Iceberg truncates string (in characters) and
// binary (in bytes) bounds to: its default metrics mode, truncate(16).
const boundBytes = 16

// fileStats is what a manifest entry says of a data file's columns, by
// Iceberg field id: the data_file fields column_sizes (108),
// value_counts (109), null_value_counts (110), lower_bounds (125) and
// upper_bounds (128). Bounds are in Iceberg's single-value serialization.
//
// They come from the file's footer (each column chunk's size, value count
// and statistics, which parquet-go writes), not from tracking rows while
// writing: a commit also adds files that a killed run wrote, which only
// their footers describe, and the footer is read for the row count anyway.
type fileStats struct {
	sizes, values, nulls map[int]int64
	lower, upper         map[int][]byte
}

// statsColumn is a leaf column of a data file, as its statistics need it.
type statsColumn struct {
	id   int
	typ  string // its Iceberg type
	node parquet.Node
	// bounded is false inside a list or map, where Iceberg keeps counts
	// but no bounds (as its Java and Python writers do): a bound there
	// would be of the elements, which filters on the column do not test.
	bounded bool
}

// chunkBounds is a column's bounds merged over the row groups read so
// far, in Parquet's representation.
type chunkBounds struct {
	min, max parquet.Value
	set      bool
	// unknown is set once a column chunk with non-null values had no
	// statistics: the file's bounds are then unknown.
	unknown bool
}

// columnStats computes a data file's column statistics from its footer.
func columnStats(pf *parquet.File) (fileStats, error) {
	cols := map[string]statsColumn{}
	if err := statsColumns(pf.Schema(), nil, true, cols); err != nil {
		return fileStats{}, err
	}
	st := fileStats{sizes: map[int]int64{}, values: map[int]int64{}, nulls: map[int]int64{},
		lower: map[int][]byte{}, upper: map[int][]byte{}}
	bounds := map[int]*chunkBounds{}
	for _, rg := range pf.Metadata().RowGroups {
		for i := range rg.Columns {
			md := &rg.Columns[i].MetaData
			c, ok := cols[strings.Join(md.PathInSchema, "\x00")]
			if !ok || c.id == 0 {
				continue
			}
			st.sizes[c.id] += md.TotalCompressedSize
			st.values[c.id] += md.NumValues
			st.nulls[c.id] += md.Statistics.NullCount
			if !c.bounded {
				continue
			}
			b := bounds[c.id]
			if b == nil {
				b = &chunkBounds{}
				bounds[c.id] = b
			}
			b.add(c, md)
		}
	}
	for _, c := range cols {
		b := bounds[c.id]
		if b == nil || !b.set || b.unknown {
			continue
		}
		if v, ok := icebergBound(c, b.min, false); ok {
			st.lower[c.id] = v
		}
		if v, ok := icebergBound(c, b.max, true); ok {
			st.upper[c.id] = v
		}
	}
	return st, nil
}

// add merges a column chunk's statistics into b, comparing as the
// column's Parquet type orders values (the order its statistics use).
func (b *chunkBounds) add(c statsColumn, md *format.ColumnMetaData) {
	s := &md.Statistics
	if s.MinValue == nil || s.MaxValue == nil {
		if md.NumValues > s.NullCount {
			b.unknown = true
		}
		return
	}
	typ := c.node.Type()
	lo, hi := typ.Kind().Value(s.MinValue), typ.Kind().Value(s.MaxValue)
	if !b.set {
		b.min, b.max, b.set = lo, hi, true
		return
	}
	if typ.Compare(lo, b.min) < 0 {
		b.min = lo
	}
	if typ.Compare(hi, b.max) > 0 {
		b.max = hi
	}
}

// statsColumns adds the leaf columns under n to out, keyed by their path
// joined with NULs (the key of a column chunk's path_in_schema).
func statsColumns(n parquet.Node, path []string, bounded bool, out map[string]statsColumn) error {
	for _, f := range n.Fields() {
		p := append(slices.Clone(path), f.Name())
		b := bounded && !f.Repeated() && !isListOrMap(f)
		if !f.Leaf() {
			if err := statsColumns(f, p, b, out); err != nil {
				return err
			}
			continue
		}
		var last int
		t, err := icebergType(f, &last)
		if err != nil {
			return fmt.Errorf("column %s: %w", strings.Join(p, "."), err)
		}
		typ, _ := t.(string) // a leaf's Iceberg type is primitive
		out[strings.Join(p, "\x00")] = statsColumn{id: f.ID(), typ: typ, node: f, bounded: b}
	}
	return nil
}

func isListOrMap(n parquet.Node) bool {
	if lt := n.Type().LogicalType(); lt != nil {
		switch lt.Value.(type) {
		case *format.ListType, *format.MapType:
			return true
		}
	}
	return false
}

// icebergBound is v, a Parquet statistic of column c, in Iceberg's
// single-value serialization, as the column's lower bound or (upper) its
// upper bound. ok is false when Iceberg's bound cannot be had from v: a
// NaN, an unsigned long past Iceberg's long, a nanosecond time, a
// timestamp out of range in microseconds, a long fixed, or a truncated
// string or binary upper bound that cannot be incremented.
func icebergBound(c statsColumn, v parquet.Value, upper bool) ([]byte, bool) {
	var lt format.LogicalTypeValue
	if l := c.node.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	switch typ := c.typ; {
	case typ == "boolean":
		if v.Boolean() {
			return []byte{1}, true
		}
		return []byte{0}, true
	case typ == "int" || typ == "date":
		return le32(v.Int32()), true
	case typ == "long":
		switch {
		case v.Kind() == parquet.Int32: // uint32
			return le64(int64(uint32(v.Int32()))), true
		case isUnsigned(lt) && v.Uint64() > math.MaxInt64:
			return nil, false
		}
		return le64(v.Int64()), true
	case typ == "float":
		f := v.Float()
		if math.IsNaN(float64(f)) {
			return nil, false
		}
		return binary.LittleEndian.AppendUint32(nil, math.Float32bits(signedZero(f, upper))), true
	case typ == "double":
		f := v.Double()
		if math.IsNaN(f) {
			return nil, false
		}
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(signedZero(f, upper))), true
	case typ == "timestamp" || typ == "timestamptz":
		if ts, ok := lt.(*format.TimestampType); ok {
			return micros(v.Int64(), ts.Unit)
		}
	case typ == "time":
		t, ok := lt.(*format.TimeType)
		switch {
		case ok && v.Kind() == parquet.Int32:
			return micros(int64(v.Int32()), t.Unit)
		case ok:
			return micros(v.Int64(), t.Unit)
		}
	case typ == "string":
		return truncateString(v.ByteArray(), upper)
	case typ == "binary":
		return truncateBinary(v.ByteArray(), upper)
	case strings.HasPrefix(typ, "decimal("):
		switch v.Kind() {
		case parquet.Int32:
			return minimalTwosComplement(binary.BigEndian.AppendUint64(nil, uint64(int64(v.Int32())))), true
		case parquet.Int64:
			return minimalTwosComplement(binary.BigEndian.AppendUint64(nil, uint64(v.Int64()))), true
		}
		return minimalTwosComplement(v.ByteArray()), true
	case strings.HasPrefix(typ, "fixed["):
		// Iceberg's writers keep a fixed whole; past what truncate(16)
		// would keep of a binary, it costs more than it prunes.
		if b := v.ByteArray(); len(b) <= boundBytes {
			return slices.Clone(b), true
		}
	}
	return nil, false
}

func isUnsigned(lt format.LogicalTypeValue) bool {
	i, ok := lt.(*format.IntType)
	return ok && !i.IsSigned
}

// signedZero makes a zero bound cover both zeros: -0 as a lower bound, +0
// as an upper (Parquet's statistics may hold either).
func signedZero[F float32 | float64](f F, upper bool) F {
	if f != 0 {
		return f
	}
	if upper {
		return 0
	}
	return F(math.Copysign(0, -1))
}

// micros is a time or timestamp in unit as Iceberg's microseconds.
func micros(v int64, unit format.TimeUnit) ([]byte, bool) {
	if unit.Value == nil {
		return nil, false
	}
	per := int64(unit.Value.Duration() / time.Microsecond)
	if per == 0 || v > math.MaxInt64/per || v < math.MinInt64/per {
		return nil, false // nanoseconds are Iceberg v3's; or out of range
	}
	return le64(v * per), true
}

// truncateString truncates a UTF-8 bound to boundBytes characters, as
// Iceberg does; a truncated upper bound has its last character that can be
// incremented incremented, and what follows it dropped.
func truncateString(b []byte, upper bool) ([]byte, bool) {
	if !utf8.Valid(b) {
		return nil, false
	}
	runes := []rune(string(b))
	if len(runes) <= boundBytes {
		return slices.Clone(b), true
	}
	runes = runes[:boundBytes]
	if !upper {
		return []byte(string(runes)), true
	}
	for i := len(runes) - 1; i >= 0; i-- {
		r := runes[i] + 1
		if r >= 0xD800 && r <= 0xDFFF { // surrogates are not characters
			r = 0xE000
		}
		if r <= utf8.MaxRune {
			runes[i] = r
			return []byte(string(runes[:i+1])), true
		}
	}
	return nil, false
}

// truncateBinary truncates a binary bound to boundBytes bytes, as Iceberg
// does; a truncated upper bound has its last byte below 0xff incremented,
// and what follows it dropped.
func truncateBinary(b []byte, upper bool) ([]byte, bool) {
	if len(b) <= boundBytes {
		return slices.Clone(b), true
	}
	b = slices.Clone(b[:boundBytes])
	if !upper {
		return b, true
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1], true
		}
	}
	return nil, false
}

// minimalTwosComplement is a big-endian two's-complement integer in the
// fewest bytes, Iceberg's serialization of a decimal's unscaled value.
func minimalTwosComplement(b []byte) []byte {
	if len(b) == 0 {
		return []byte{0}
	}
	for len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0) {
		b = b[1:]
	}
	return slices.Clone(b)
}

func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// manifestFields are s as the data_file fields of a manifest entry: Avro
// arrays of key-value records (Iceberg's maps with int keys), sorted by
// field id.
func (s fileStats) manifestFields() map[string]any {
	return map[string]any{
		"column_sizes": kvArray(s.sizes), "value_counts": kvArray(s.values), "null_value_counts": kvArray(s.nulls),
		"lower_bounds": kvArray(s.lower), "upper_bounds": kvArray(s.upper),
	}
}

func kvArray[V any](m map[int]V) []any {
	out := make([]any, 0, len(m))
	for _, id := range slices.SortedFunc(maps.Keys(m), cmp.Compare) {
		out = append(out, map[string]any{"key": int32(id), "value": m[id]})
	}
	return out
}
