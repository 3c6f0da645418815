package io.github.stratalog.interop.connect;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;

import io.github.stratalog.interop.testing.Wait;

/**
 * The Kafka Connect REST API of one worker, through java.net.http: each call
 * returns the status code and the parsed JSON body, and the helpers assert
 * the codes the API documents.
 */
final class ConnectRest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);
    /** Long enough for a rebalance on a loaded machine. */
    static final Duration STATE_TIMEOUT = Duration.ofSeconds(90);

    private final String base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    ConnectRest(String base) {
        this.base = base;
    }

    /** A status code and the body as JSON (NullNode when empty). */
    record Response(int status, JsonNode body) {
        Response expect(int... codes) {
            for (int c : codes) {
                if (status == c) {
                    return this;
                }
            }
            throw new AssertionError("HTTP " + status + ", expected one of " + java.util.Arrays.toString(codes) + ": " + body);
        }
    }

    Response get(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    /** PUT with {@code json} as the body, or none when it is null (pause, resume). */
    Response put(String path, Object json) throws IOException, InterruptedException {
        HttpRequest.BodyPublisher body = json == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(json));
        return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json").PUT(body));
    }

    Response post(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).POST(HttpRequest.BodyPublishers.noBody()));
    }

    Response delete(String path) throws IOException, InterruptedException {
        return send(HttpRequest.newBuilder(uri(path)).DELETE());
    }

    private URI uri(String path) {
        return URI.create(base + path);
    }

    private Response send(HttpRequest.Builder request) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(request.timeout(REQUEST_TIMEOUT).header("Accept", "application/json").build(),
                HttpResponse.BodyHandlers.ofString());
        JsonNode body = r.body().isBlank() ? NullNode.getInstance() : JSON.readTree(r.body());
        return new Response(r.statusCode(), body);
    }

    /**
     * Creates (or updates) connector {@code name} with PUT
     * /connectors/{name}/config. A worker answers 409 while a rebalance is in
     * progress and 5xx while it forwards to a leader it cannot reach yet;
     * those are retried until {@link #STATE_TIMEOUT}.
     */
    Response putConnector(String name, Map<String, String> config) throws InterruptedException {
        Response[] last = new Response[1];
        Wait.until(STATE_TIMEOUT, "PUT /connectors/" + name + "/config accepted", () -> {
            last[0] = put("/connectors/" + name + "/config", config);
            if (last[0].status() == 409 || last[0].status() >= 500) {
                throw new IllegalStateException("HTTP " + last[0].status() + ": " + last[0].body());
            }
            return true;
        });
        return last[0].expect(200, 201);
    }

    /** The names GET /connectors lists. */
    List<String> connectors() throws IOException, InterruptedException {
        List<String> names = new ArrayList<>();
        get("/connectors").expect(200).body().forEach(n -> names.add(n.asText()));
        return names;
    }

    /** GET /connectors/{name}/status. */
    Response status(String name) throws IOException, InterruptedException {
        return get("/connectors/" + name + "/status");
    }

    /**
     * Waits until the connector and exactly {@code tasks} tasks report
     * {@code state} (RUNNING, PAUSED, ...); fails with the last status seen.
     */
    void awaitState(String name, String state, int tasks) throws InterruptedException {
        JsonNode[] last = new JsonNode[1];
        try {
            Wait.until(STATE_TIMEOUT, name + " and " + tasks + " task(s) " + state, () -> {
                Response r = status(name);
                last[0] = r.body();
                if (r.status() != 200 || !state.equals(r.body().path("connector").path("state").asText())) {
                    return false;
                }
                JsonNode ts = r.body().path("tasks");
                if (ts.size() != tasks) {
                    return false;
                }
                for (JsonNode t : ts) {
                    if (!state.equals(t.path("state").asText())) {
                        return false;
                    }
                }
                return true;
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "; last status: " + last[0], e);
        }
    }
}
