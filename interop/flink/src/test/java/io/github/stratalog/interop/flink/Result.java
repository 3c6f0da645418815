package io.github.stratalog.interop.flink;

/**
 * What a job writes back to strata: a record's key and value as strings. A
 * Flink POJO, like {@link Event}.
 */
public class Result {
    public String key;
    public String value;

    public Result() {}

    public Result(String key, String value) {
        this.key = key;
        this.value = value;
    }

    @Override
    public String toString() {
        return key + "=" + value;
    }
}
