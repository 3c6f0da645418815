package io.github.stratalog.interop.connect;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Keeps appending numbered lines to a file on its own thread, a few at a
 * time, so that a source connector reading it is mid-stream whenever the
 * test acts; {@link #stop} returns every line written.
 */
final class LineAppender implements AutoCloseable {
    private static final int LINES_PER_WRITE = 10;
    /** Pacing only: a few hundred lines a second, so the stream lasts through a kill. */
    private static final long PAUSE_MS = 20;

    private final Path file;
    private final String prefix;
    private final List<String> written = new ArrayList<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;
    private volatile RuntimeException failure;

    LineAppender(Path file, String prefix) {
        this.file = file;
        this.prefix = prefix;
        this.thread = new Thread(this::run, "append-" + prefix);
        this.thread.start();
    }

    private void run() {
        try {
            while (running.get()) {
                List<String> chunk = Lines.numbered(prefix, written.size(), written.size() + LINES_PER_WRITE);
                Lines.append(file, chunk);
                synchronized (written) {
                    written.addAll(chunk);
                }
                Thread.sleep(PAUSE_MS);
            }
        } catch (IOException e) {
            failure = new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops appending and returns every line written, in order. */
    List<String> stop() throws InterruptedException {
        running.set(false);
        thread.join();
        if (failure != null) {
            throw failure;
        }
        synchronized (written) {
            return List.copyOf(written);
        }
    }

    /** Stops the thread if {@link #stop} was not called (a failed test). */
    @Override
    public void close() {
        running.set(false);
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
