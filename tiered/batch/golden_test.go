package batch

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	update  = flag.Bool("update", false, "rewrite the golden file and fuzz seeds in testdata")
	capture = flag.Bool("capture", false, "capture new franz-go producer batches into testdata")
)

// goldenBatch is the batch testdata/encode-none.golden holds.
func goldenBatch() Batch {
	b := sampleBatch(CodecNone, 5)
	b.Attributes = AttrTransactional
	return b
}

// TestGolden checks that Encode still writes testdata/encode-none.golden byte
// for byte, and that the file still decodes to the same records. Only the
// uncompressed encoding is pinned: compressed bytes change with the codec
// libraries' versions.
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "encode-none.golden")
	desc := goldenBatch()
	b := mustEncode(t, desc)
	if *update {
		writeFile(t, path, b)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("Encode output differs from %s (run with -update if the change is intended)", path)
	}
	recs, err := Records(want, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range desc.Records {
		w := desc.Records[i]
		w.Offset = desc.BaseOffset + int64(i)
		if err := sameRecord(recs[i], w); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

// fixtures names the batches captured from a franz-go producer, with the
// options that produce them.
var fixtures = []string{"none", "gzip", "snappy", "snappy-xerial", "lz4", "zstd"}

// TestFranzGoFixtures decodes batches a franz-go producer sent, stored in
// testdata so the check needs no live client. With -capture it captures new
// ones: the first batch compressed with the codec (for snappy-xerial, the
// first with xerial framing). Their timestamps and producer ids differ on
// every capture, so only capture to add a fixture.
func TestFranzGoFixtures(t *testing.T) {
	if *capture {
		for _, name := range fixtures {
			writeFile(t, fixturePath(name), captureFixture(t, name))
		}
	}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(fixturePath(name))
			if err != nil {
				t.Fatal(err)
			}
			h, err := Verify(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Size() != len(b) || h.NumRecords < 2 || !h.Idempotent() || !strings.HasPrefix(name, h.Compression().String()) {
				t.Fatalf("header %+v of %d bytes", h, len(b))
			}
			if xerial := hasXerialHeader(b[HeaderSize:]); xerial != (name == "snappy-xerial") {
				t.Fatalf("xerial framing %t", xerial)
			}
			first := -1
			n := 0
			err = EachRecord(b, 16<<20, func(r Record) error {
				if first < 0 {
					var err error
					if first, err = strconv.Atoi(string(r.Value[:min(6, len(r.Value))])); err != nil {
						return fmt.Errorf("value %q: %w", r.Value, err)
					}
				}
				if r.Offset != int64(n) {
					return fmt.Errorf("record %d has offset %d", n, r.Offset)
				}
				n++
				return checkProduced(r, first+n-1)
			})
			if err != nil || n != int(h.NumRecords) {
				t.Fatalf("EachRecord: %v after %d of %d records", err, n, h.NumRecords)
			}
		})
	}
}

func fixturePath(name string) string {
	return filepath.Join("testdata", "franzgo-"+name+".batch")
}

func captureFixture(t *testing.T, name string) []byte {
	t.Helper()
	codec, opts, n := CodecSnappy, xerialOpts(), 3000 // xerial needs a backlog to merge
	if name != "snappy-xerial" {
		for _, c := range allCodecs {
			if c.String() == name {
				codec = c
			}
		}
		opts, n = []kgo.Opt{kgoProducerCodec(codec)}, 200
	}
	for _, req := range produceWithKgo(t, n, opts...) {
		var found []byte
		_ = Each(req, func(b []byte, h Header) error {
			xerial := hasXerialHeader(b[HeaderSize:])
			if found == nil && h.NumRecords > 1 && h.Compression() == codec && xerial == (name == "snappy-xerial") {
				found = bytes.Clone(b)
			}
			return nil
		})
		if found != nil {
			return found
		}
	}
	t.Fatalf("no %s batch captured", name)
	return nil
}

// TestWriteFuzzSeeds rewrites the seed corpora of the fuzz targets with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("seeds are written with -update")
	}
	seeds := map[string][]byte{}
	for _, c := range allCodecs {
		seeds["encode-"+c.String()] = mustEncode(t, sampleBatch(c, 4))
	}
	seeds["encode-empty"] = mustEncode(t, Batch{LastOffsetDelta: 3})
	seeds["two-batches"] = append(mustEncode(t, sampleBatch(CodecNone, 2)), mustEncode(t, sampleBatch(CodecLZ4, 2))...)
	for name, b := range seeds {
		for _, target := range []string{"FuzzReadHeader", "FuzzVerify"} {
			writeFile(t, filepath.Join("testdata", "fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b))
		}
		writeFile(t, filepath.Join("testdata", "fuzz", "FuzzEachRecord", name),
			fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\nuint32(%d)\n", b, 1<<20))
	}
	for _, name := range fixtures[1:] { // "none" adds nothing to encode-none
		b, err := os.ReadFile(fixturePath(name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join("testdata", "fuzz", "FuzzEachRecord", "franzgo-"+name),
			fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\nuint32(%d)\n", b, 1<<20))
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
