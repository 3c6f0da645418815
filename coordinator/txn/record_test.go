package txn

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden file and fuzz seeds in testdata")

const goldenPath = "testdata/record_v1.golden"

// goldenRecord uses every field.
func goldenRecord() *Transaction {
	return &Transaction{
		ID: "orders-app-1", ProducerID: 1042, ProducerEpoch: 3,
		LastProducerID: 1042, LastProducerEpoch: 2, NextProducerID: -1,
		TimeoutMs: 60000, State: Ongoing,
		Partitions: map[string][]int32{"orders": {0, 2}, "audit.log": {7}},
		Groups:     []string{"billing", "shipping"},
		StartMs:    1700000000000, UpdateMs: 1700000000500, TV2: true,
	}
}

// TestGolden checks that Encode still writes testdata/record_v1.golden byte
// for byte and Decode still reads it: a change to either is a format change,
// which needs a new record version.
func TestGolden(t *testing.T) {
	data, err := Encode(goldenRecord())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(goldenPath, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	golden = bytes.TrimSuffix(golden, []byte("\n"))
	if !bytes.Equal(data, golden) {
		t.Fatalf("Encode output differs from %s: the format changed\n got %s\nwant %s", goldenPath, data, golden)
	}
	got, err := Decode(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, goldenRecord()) {
		t.Fatalf("Decode returned %+v", got)
	}
}

// validJSON is a valid Empty record; tests break it one field at a time.
const validJSON = `{"v":1,"id":"x","producer_id":5,"producer_epoch":0,"last_producer_id":5,` +
	`"last_producer_epoch":-1,"next_producer_id":-1,"timeout_ms":1000,"state":"Empty","start_ms":-1,"update_ms":7}`

func TestDecodeRefuses(t *testing.T) {
	if _, err := Decode([]byte(validJSON)); err != nil {
		t.Fatalf("the valid record: %v", err)
	}
	set := func(field, value string) string {
		i := strings.Index(validJSON, `"`+field+`":`)
		if i < 0 {
			return strings.Replace(validJSON, "}", `,"`+field+`":`+value+"}", 1)
		}
		j := i + len(field) + 3
		k := j + strings.IndexAny(validJSON[j:], ",}")
		return validJSON[:j] + value + validJSON[k:]
	}
	for name, data := range map[string]string{
		"empty":                       ``,
		"not JSON":                    `{"v":1`,
		"trailing data":               validJSON + `{}`,
		"null":                        `null`,
		"array":                       `[]`,
		"version 0":                   set("v", "0"),
		"version 2":                   set("v", "2"),
		"no id":                       set("id", `""`),
		"unknown state":               set("state", `"Running"`),
		"state Dead":                  set("state", `"Dead"`),
		"state PrepareEpochFence":     set("state", `"PrepareEpochFence"`),
		"state as a number":           set("state", `1`),
		"negative producer id":        set("producer_id", "-1"),
		"negative epoch":              set("producer_epoch", "-1"),
		"epoch over int16":            set("producer_epoch", "32768"),
		"last producer id below -1":   set("last_producer_id", "-2"),
		"last epoch below -1":         set("last_producer_epoch", "-2"),
		"next producer id in Empty":   set("next_producer_id", "9"),
		"zero timeout":                set("timeout_ms", "0"),
		"start time in Empty":         set("start_ms", "5"),
		"negative update time":        set("update_ms", "-1"),
		"partitions in Empty":         set("partitions", `{"t":[0]}`),
		"groups in Empty":             set("groups", `["g"]`),
		"float epoch":                 set("producer_epoch", "1.5"),
		"ongoing without start":       set("state", `"Ongoing"`),
		"ongoing, unsorted":           set("state", `"Ongoing","start_ms":1,"partitions":{"t":[2,1]}`),
		"ongoing, duplicate":          set("state", `"Ongoing","start_ms":1,"partitions":{"t":[1,1]}`),
		"ongoing, negative partition": set("state", `"Ongoing","start_ms":1,"partitions":{"t":[-1]}`),
		"ongoing, no partitions":      set("state", `"Ongoing","start_ms":1,"partitions":{"t":[]}`),
		"ongoing, empty topic":        set("state", `"Ongoing","start_ms":1,"partitions":{"":[0]}`),
		"ongoing, groups unsorted":    set("state", `"Ongoing","start_ms":1,"groups":["b","a"]`),
		"ongoing, empty group":        set("state", `"Ongoing","start_ms":1,"groups":[""]`),
		"next producer id, version 1": set("state", `"PrepareCommit","start_ms":1,"next_producer_id":9`),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Decode([]byte(data))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%s) = %+v, %v; want ErrCorrupt", data, got, err)
			}
		})
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	bad := goldenRecord()
	bad.State = Dead
	if _, err := Encode(bad); err == nil {
		t.Fatal("Encode of a Dead record succeeded")
	}
}

// TestWriteFuzzSeeds rewrites the FuzzDecode seed corpus with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("seeds are written with -update")
	}
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	prepared, err := Encode(&Transaction{ID: "p", ProducerID: 9, ProducerEpoch: MaxEpoch, LastProducerID: 9,
		LastProducerEpoch: MaxEpoch - 1, NextProducerID: 10, TimeoutMs: 1, State: PrepareCommit,
		Partitions: map[string][]int32{"t": {0}}, StartMs: 0, UpdateMs: 0, TV2: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"golden": bytes.TrimSuffix(golden, []byte("\n")), "empty": []byte(validJSON), "prepared": prepared,
	} {
		seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), seed, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
