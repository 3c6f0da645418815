package io.github.stratalog.interop.flink;

import java.nio.charset.StandardCharsets;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Turns a record of a strata topic (String key, decimal value) into an
 * {@link Event} carrying the record's own timestamp, so that a test can see
 * what KafkaSource handed the job.
 */
final class EventDeserializer implements KafkaRecordDeserializationSchema<Event> {
    private static final long serialVersionUID = 1L;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Event> out) {
        String key = new String(record.key(), StandardCharsets.UTF_8);
        long value = Long.parseLong(new String(record.value(), StandardCharsets.UTF_8));
        out.collect(new Event(key, value, record.timestamp()));
    }

    @Override
    public TypeInformation<Event> getProducedType() {
        return TypeInformation.of(Event.class);
    }
}
