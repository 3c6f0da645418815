package io.github.stratalog.interop.flink;

import java.util.Objects;

/**
 * A record read from a strata topic: its key, its value as a number and its
 * Kafka timestamp. A Flink POJO (public fields, a no-argument constructor),
 * so Flink serializes it without falling back to Kryo.
 */
public class Event {
    public String key;
    public long value;
    public long timestamp;

    public Event() {}

    public Event(String key, long value, long timestamp) {
        this.key = key;
        this.value = value;
        this.timestamp = timestamp;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Event e && key.equals(e.key) && value == e.value && timestamp == e.timestamp;
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, value, timestamp);
    }

    @Override
    public String toString() {
        return key + "=" + value + "@" + timestamp;
    }
}
