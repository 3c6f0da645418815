package tiered

import (
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// ApplyRecovered advances st's idempotent-producer and transaction state
// (Producers, OpenTxns, Aborted) past one batch b, with header h, of the
// partition's log, as the log does for every durable batch. Package recovery
// calls it for the batches a metadata snapshot did not know of, found in
// object storage, so that the rebuilt state matches the rebuilt log. nowMs
// is the producers' last-use time (their expiry counts from it).
func ApplyRecovered(st *index.Partition, b []byte, h batch.Header, nowMs int64) {
	if h.Idempotent() {
		if st.Producers == nil {
			st.Producers = map[int64]index.Producer{}
		}
		st.Producers[h.ProducerID] = recordProducerBatch(st.Producers[h.ProducerID], h, nowMs)
	}
	if st.OpenTxns == nil {
		st.OpenTxns = map[int64]int64{}
	}
	st.Aborted = applyTxn(st.OpenTxns, st.Aborted, b, h)
	if len(st.OpenTxns) == 0 {
		st.OpenTxns = nil
	}
}
