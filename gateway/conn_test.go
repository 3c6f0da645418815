package gateway

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestResponseSizeHintCoversFetch: a fetch response is encoded into a buffer
// sized once, from its hint: the hint is at least the encoded size, at every
// version, whether partitions carry records, aborted transactions or
// nothing.
func TestResponseSizeHintCoversFetch(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	for ti, name := range []string{"a", "a-much-longer-topic-name-than-the-first-one"} {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = name
		rt.TopicID = [16]byte{byte(ti + 1)}
		for p := range 100 {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(p)
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 1<<40, 1<<40, 1<<30
			switch p % 3 {
			case 0:
				rp.RecordBatches = bytes.Repeat([]byte{1}, 1000*p)
			case 1:
				for range p {
					at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					at.ProducerID, at.FirstOffset = 1<<50, 1<<40
					rp.AbortedTransactions = append(rp.AbortedTransactions, at)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	hint := responseSizeHint(resp)
	for v := int16(0); v <= resp.MaxVersion(); v++ {
		resp.SetVersion(v)
		if n := len(appendResponse(nil, 7, resp)); n > hint {
			t.Errorf("v%d: encoded %d bytes, hint %d", v, n, hint)
		}
	}
	if hint := responseSizeHint(kmsg.NewPtrProduceResponse()); hint != 0 {
		t.Errorf("produce response hint %d, want 0", hint)
	}
}
