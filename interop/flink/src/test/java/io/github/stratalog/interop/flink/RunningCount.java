package io.github.stratalog.interop.flink;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * For each event, emits "value:n" under the event's key, n being how many
 * events of that key the job has seen, this one included. The count is
 * keyed state, restored from a checkpoint or savepoint with the source's
 * offsets, so an output that is exactly right per key (n running 1, 2, 3,
 * ... with the values in input order) shows state and input positions
 * were restored together and each result reached the sink exactly once.
 */
final class RunningCount extends KeyedProcessFunction<String, Event, Result> {
    private static final long serialVersionUID = 1L;

    private transient ValueState<Long> count;

    @Override
    public void open(OpenContext context) {
        count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Long.class));
    }

    @Override
    public void processElement(Event e, Context context, Collector<Result> out) throws Exception {
        Long before = count.value();
        long n = (before == null ? 0 : before) + 1;
        count.update(n);
        out.collect(new Result(e.key, e.value + ":" + n));
    }
}
