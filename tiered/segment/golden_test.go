package segment

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stratalog/strata/tiered/batch"
)

var update = flag.Bool("update", false, "rewrite the golden files and fuzz seeds in testdata")

const goldenPath = "testdata/segment_v1.golden"

// goldenSegment writes the small deterministic segment the golden file holds:
// two topics, three partitions, a partition split over two blocks, and a
// partition that comes back after another.
func goldenSegment(t testing.TB) ([]byte, []IndexEntry) {
	t.Helper()
	return writeSegment(t, WriterOptions{BlockSize: 256}, []added{
		{topicA, 0, append(mkBatch(t, 0, 2, 40, 1000), mkBatch(t, 2, 2, 40, 1010)...)},
		{topicA, 0, mkBatch(t, 4, 1, 40, 1005)},
		{topicA, 1, mkBatch(t, 100, 3, 8, 2000)},
		{topicB, 0, mkBatch(t, 7, 1, 0, 3000)},
		{topicA, 1, mkBatch(t, 103, 1, 8, 2100)},
	})
}

// goldenEntries is what the golden segment's footer must decode to.
var goldenEntries = []IndexEntry{
	// 2 batches of 2 records of 49 bytes (61+98 each): the block reaches
	// 256 bytes, so the next batch starts a new block.
	{TopicID: topicA, Partition: 0, BaseOffset: 0, LastOffset: 3, MaxTimestamp: 1011, Position: 0, Length: 318, Records: 4},
	{TopicID: topicA, Partition: 0, BaseOffset: 4, LastOffset: 4, MaxTimestamp: 1005, Position: 318, Length: 110, Records: 1},
	{TopicID: topicA, Partition: 1, BaseOffset: 100, LastOffset: 102, MaxTimestamp: 2002, Position: 428, Length: 118, Records: 3},
	{TopicID: topicB, Partition: 0, BaseOffset: 7, LastOffset: 7, MaxTimestamp: 3000, Position: 546, Length: 70, Records: 1},
	{TopicID: topicA, Partition: 1, BaseOffset: 103, LastOffset: 103, MaxTimestamp: 2100, Position: 616, Length: 80, Records: 1},
}

// TestGolden checks that the Writer still produces testdata/segment_v1.golden
// byte for byte, and that the reader still reads it: a change to either is a
// format change, which needs a new Version.
func TestGolden(t *testing.T) {
	seg, entries := goldenSegment(t)
	if *update {
		if err := os.WriteFile(goldenPath, seg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seg, golden) {
		t.Fatalf("Writer output differs from %s: the format changed", goldenPath)
	}
	if !slices.Equal(entries, goldenEntries) {
		t.Fatalf("Close returned\n%+v\nwant\n%+v", entries, goldenEntries)
	}
	got, err := ReadIndex(bytes.NewReader(golden), int64(len(golden)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, goldenEntries) {
		t.Fatalf("ReadIndex returned\n%+v\nwant\n%+v", got, goldenEntries)
	}
	for _, e := range got {
		block, err := ReadBlock(bytes.NewReader(golden), e)
		if err != nil {
			t.Fatal(err)
		}
		if err := batch.Each(block, func(b []byte, _ batch.Header) error {
			_, err := batch.Verify(b)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteFuzzSeeds rewrites the FuzzReadIndex seed corpus with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("seeds are written with -update")
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := writeSegment(t, WriterOptions{}, nil)
	seeds := map[string][]byte{"golden": golden, "empty": empty}
	dir := filepath.Join("testdata", "fuzz", "FuzzReadIndex")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		for _, fix := range []bool{false, true} {
			file := name
			if fix {
				file += "-fixcrc"
			}
			seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\nbool(%t)\n", b, fix)
			if err := os.WriteFile(filepath.Join(dir, file), seed, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
