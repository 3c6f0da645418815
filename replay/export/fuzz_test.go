package export

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// FuzzDecode feeds arbitrary values, in the wire format of one of an Avro,
// a JSON Schema and a Protobuf schema, to Decoder.Decode.
//
// Invariants: Decode never panics and never allocates more than its input
// implies (block counts and lengths are checked against what is left); it
// either fails with ErrNotDecodable or returns a value that conforms to the
// target schema, which a Parquet file then takes.
func FuzzDecode(f *testing.F) {
	reg := registry{
		1: {Subject: "a", Version: 1, ID: 1, Schema: sr.Schema{Schema: orderV2}},
		2: {Subject: "j", Version: 1, ID: 2, Schema: sr.Schema{Type: sr.TypeJSON, Schema: jsonV2}},
		3: {Subject: "p", Version: 1, ID: 3, Schema: sr.Schema{Type: sr.TypeProtobuf, Schema: protoOrder}},
	}
	var decs []*Decoder
	var jobs []*Job
	for _, subject := range []string{"a", "j", "p"} {
		d, err := NewDecoder(f.Context(), reg, subject)
		if err != nil {
			f.Fatal(err)
		}
		decs = append(decs, d)
		j, _ := testJob(f, d, 0)
		jobs = append(jobs, j)
	}
	f.Add(byte(0), wire(1, orderV1, map[string]any{"id": 7, "item": "pen"})[5:])
	f.Add(byte(0), []byte{0x10, 0x06, 'i', 'n', 'k', 0x02})
	f.Add(byte(1), []byte(`{"id":2,"name":"two","tags":["x"],"addr":{"city":"Oslo"},"extra":{"k":1}}`))
	f.Add(byte(2), []byte{0, 0x08, 0x09, 0x12, 0x03, 'i', 'n', 'k'})
	f.Add(byte(0), []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, which byte, payload []byte) {
		i := int(which) % len(decs)
		value := append([]byte{0, 0, 0, 0, byte(i + 1)}, payload...)
		v, _, err := decs[i].Decode(t.Context(), value)
		if err != nil {
			if !errors.Is(err, ErrNotDecodable) {
				t.Fatalf("error not ErrNotDecodable: %v", err)
			}
			return
		}
		// What decodes is written.
		f := &partitionFile{job: jobs[i]}
		if err := f.open(epochDay, 0); err != nil {
			t.Fatal(err)
		}
		defer f.discard()
		f.row[0] = map[string]any{"topic": "t", "partition": int32(0), "offset": int64(0), "timestamp": int64(0), "value": v, "value_schema_id": int32(i + 1)}
		if err := f.write(); err != nil {
			t.Fatalf("decoded value %v not written: %v", v, err)
		}
	})
}

var epochDay = time.Unix(0, 0).UTC()
