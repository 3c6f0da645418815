package io.github.stratalog.interop.connect;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/** The text lines the file connectors carry: numbered, so that loss, repetition and order show. */
final class Lines {
    private Lines() {}

    /** {@code prefix-from} ... {@code prefix-(to-1)}. */
    static List<String> numbered(String prefix, int from, int to) {
        return IntStream.range(from, to).mapToObj(i -> prefix + "-" + i).toList();
    }

    /** Appends each line and a newline to {@code file} in one write, creating it if needed. */
    static void append(Path file, List<String> lines) throws IOException {
        Files.writeString(file, lines.stream().map(l -> l + "\n").collect(Collectors.joining()), StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }
}
