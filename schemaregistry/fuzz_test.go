package schemaregistry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHandlers sends arbitrary bodies to the endpoints that decode one, on a
// registry over a real store. Invariants: no panic; every answer is 200 with
// JSON, or an error body whose code matches its HTTP status; and a schema a
// registration accepted can be read back by its id.
func FuzzHandlers(f *testing.F) {
	for _, seed := range []string{
		`{"schema":"\"int\""}`,
		`{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"}`,
		`{"schema":"syntax = \"proto3\"; message M { int32 a = 1; }","schemaType":"PROTOBUF"}`,
		`{"schema":"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}","schemaType":"JSON"}`,
		`{"schema":"\"int\"","references":[{"name":"x","subject":"s","version":1}]}`,
		`{"compatibility":"FULL"}`, `{"mode":"IMPORT"}`, `{`, `null`, `[]`, `{"schema":1}`,
	} {
		f.Add(uint8(0), seed)
	}
	gws := startGateways(f, 1)
	reg := gws[0].reg
	paths := []struct{ method, path string }{
		{"POST", "/subjects/f/versions"},
		{"POST", "/subjects/f"},
		{"POST", "/compatibility/subjects/f/versions/latest"},
		{"PUT", "/config/f"},
		{"PUT", "/mode/g"},
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		p := paths[int(which)%len(paths)]
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, httptest.NewRequest(p.method, p.path, strings.NewReader(body)))
		if rec.Code == http.StatusOK {
			var v any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s %s: 200 with a body that is not JSON: %q", p.method, p.path, rec.Body.String())
			}
			if id, ok := v.(map[string]any)["id"].(float64); ok && p.path == "/subjects/f/versions" {
				if _, ok := reg.cache.schema(int(id)); !ok {
					t.Fatalf("registered id %v cannot be read back", id)
				}
			}
			return
		}
		var e apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.status() != rec.Code {
			t.Fatalf("%s %s: HTTP %d with body %q", p.method, p.path, rec.Code, rec.Body.String())
		}
	})
}
