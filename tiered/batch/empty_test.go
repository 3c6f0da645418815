package batch

import "testing"

func TestEmpty(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := sampleBatch(c, 5)
			b.Attributes = AttrTransactional
			b.LastOffsetDelta = 9
			h, err := Verify(mustEncode(t, b))
			if err != nil {
				t.Fatal(err)
			}
			e := Empty(h)
			got, err := Verify(e)
			if err != nil {
				t.Fatalf("Verify(Empty): %v", err)
			}
			want := Header{
				BaseOffset: h.BaseOffset, Length: minLength, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
				Magic: Magic, CRC: got.CRC, Attributes: AttrTransactional, LastOffsetDelta: 9,
				FirstTimestamp: -1, MaxTimestamp: h.MaxTimestamp, ProducerID: 42, ProducerEpoch: 3,
				BaseSequence: 100,
			}
			if got != want || len(e) != HeaderSize {
				t.Fatalf("Empty: %+v (%d bytes), want %+v", got, len(e), want)
			}
			if n := 0; EachRecord(e, 1<<20, func(Record) error { n++; return nil }) != nil || n != 0 {
				t.Fatalf("Empty yields records")
			}
		})
	}
	t.Run("drops the delete horizon", func(t *testing.T) {
		b := sampleBatch(CodecNone, 2)
		b.Attributes, b.FirstTimestamp = AttrDeleteHorizon|AttrLogAppendTime, 5000
		b.MaxTimestamp = 4000
		h, err := Verify(mustEncode(t, b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Verify(Empty(h))
		if err != nil || got.DeleteHorizon() || !got.LogAppendTime() || got.MaxTimestamp != 4000 || got.FirstTimestamp != -1 {
			t.Fatalf("Empty: %+v, %v", got, err)
		}
	})
}
