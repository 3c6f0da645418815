package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// DefaultMaxBodyBytes is Config.MaxBodyBytes's default: far above any real
// schema, small enough that a request cannot take the gateway's memory.
const DefaultMaxBodyBytes = 8 << 20

// Config configures a Registry. KV is required.
type Config struct {
	// KV stores the registry's records (coordinator.Store.Schemas()).
	KV KV
	// MaxBodyBytes caps a request body; larger ones get 413. Default
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives the registry's logs. Default: discard.
	Logger *slog.Logger
	// Authorize, if set, decides whether a request may do an operation on
	// a subject (see authorize.go); a denied request gets 403 (40301), and
	// listings leave out what it may not read. nil allows everything.
	Authorize func(req *http.Request, a Access) bool
}

// Registry serves Confluent's Schema Registry REST API from the records in
// its KV, cached in memory and kept current by a watch (Run).
type Registry struct {
	cfg   Config
	cache *cache
	mux   *http.ServeMux
	// names memoises record names for broker validation (RecordName).
	names recordNames
}

// New returns a Registry; Run must run for it to serve reads.
func New(cfg Config) (*Registry, error) {
	if cfg.KV == nil {
		return nil, errors.New("schemaregistry: Config.KV is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{cfg: cfg, cache: newCache(), mux: http.NewServeMux()}
	r.routes()
	return r, nil
}

// Run keeps the cache in step with the KV until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	return r.cfg.KV.Watch(ctx, func(key string, value []byte, rev uint64) {
		if key == "" {
			r.cache.once.Do(func() { close(r.cache.synced) })
			return
		}
		if err := r.cache.apply(key, value, rev); err != nil {
			r.cfg.Logger.Error("skip schema registry record", "key", key, "err", err)
		}
	})
}

// Synced is closed once the cache holds every stored record.
func (r *Registry) Synced() <-chan struct{} { return r.cache.synced }

// ServeHTTP serves the REST API, and /healthz for load balancers: 200 once
// the cache holds every stored record, 503 before. Until then the API
// answers 50001.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	synced := false
	select {
	case <-r.cache.synced:
		synced = true
	default:
	}
	if req.URL.Path == "/healthz" {
		if !synced {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	if !synced {
		writeError(w, errorf(codeStoreError, "the schema registry is starting"))
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, r.cfg.MaxBodyBytes)
	r.mux.ServeHTTP(w, req)
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, req *http.Request) error

func (r *Registry) handle(pattern string, h handlerFunc) {
	r.mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
		defer cancel()
		if err := h(w, req.WithContext(ctx)); err != nil {
			writeError(w, err)
		}
	})
}

func (r *Registry) routes() {
	r.handle("GET /{$}", func(w http.ResponseWriter, _ *http.Request) error { writeJSON(w, struct{}{}); return nil })
	r.handle("GET /subjects", r.listSubjects)
	r.handle("GET /subjects/{subject}/versions", r.subjectRoute(OpRead, r.listVersions))
	r.handle("POST /subjects/{subject}/versions", r.subjectRoute(OpWrite, r.register))
	r.handle("GET /subjects/{subject}/versions/{version}", r.subjectRoute(OpRead, r.getVersion))
	r.handle("GET /subjects/{subject}/versions/{version}/schema", r.subjectRoute(OpRead, r.getVersionSchema))
	r.handle("GET /subjects/{subject}/versions/{version}/referencedby", r.subjectRoute(OpRead, r.referencedBy))
	r.handle("DELETE /subjects/{subject}/versions/{version}", r.subjectRoute(OpDelete, r.deleteVersion))
	r.handle("POST /subjects/{subject}", r.subjectRoute(OpRead, r.lookup))
	r.handle("DELETE /subjects/{subject}", r.subjectRoute(OpDelete, r.deleteSubject))
	r.handle("GET /schemas", r.listSchemas)
	r.handle("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) error {
		writeJSON(w, []string{"JSON", "PROTOBUF", "AVRO"})
		return nil
	})
	r.handle("GET /schemas/ids/{id}", r.getSchema)
	r.handle("GET /schemas/ids/{id}/schema", r.getSchemaText)
	r.handle("GET /schemas/ids/{id}/subjects", r.schemaSubjects)
	r.handle("GET /schemas/ids/{id}/versions", r.schemaVersions)
	r.handle("GET /config", r.subjectRoute(OpReadConfig, r.getConfig))
	r.handle("PUT /config", r.subjectRoute(OpWriteConfig, r.putConfig))
	r.handle("DELETE /config", r.subjectRoute(OpWriteConfig, r.deleteConfig))
	r.handle("GET /config/{subject}", r.subjectRoute(OpReadConfig, r.getConfig))
	r.handle("PUT /config/{subject}", r.subjectRoute(OpWriteConfig, r.putConfig))
	r.handle("DELETE /config/{subject}", r.subjectRoute(OpWriteConfig, r.deleteConfig))
	r.handle("GET /mode", r.subjectRoute(OpReadConfig, r.getMode))
	r.handle("PUT /mode", r.subjectRoute(OpWriteConfig, r.putMode))
	r.handle("DELETE /mode", r.subjectRoute(OpWriteConfig, r.deleteMode))
	r.handle("GET /mode/{subject}", r.subjectRoute(OpReadConfig, r.getMode))
	r.handle("PUT /mode/{subject}", r.subjectRoute(OpWriteConfig, r.putMode))
	r.handle("DELETE /mode/{subject}", r.subjectRoute(OpWriteConfig, r.deleteMode))
	r.handle("POST /compatibility/subjects/{subject}/versions/{version}", r.subjectRoute(OpRead, r.checkCompatibility))
	r.handle("POST /compatibility/subjects/{subject}/versions", r.subjectRoute(OpRead, r.checkCompatibility))
	r.handle("GET /contexts", func(w http.ResponseWriter, _ *http.Request) error { writeJSON(w, []string{"."}); return nil })
}

// decode reads a JSON request body into v: malformed JSON is 400 (Confluent
// answers Jackson's parse errors so), a body over the cap 413.
func decode(req *http.Request, v any) error {
	body, err := io.ReadAll(req.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errorf(codeTooLarge, "request body over %d bytes", tooLarge.Limit)
	}
	if err != nil {
		return errorf(codeBadRequest, "read request body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(codeBadRequest, "malformed JSON: %v", err)
	}
	return nil
}

// flag reads a boolean query parameter.
func flag(req *http.Request, name string) bool {
	return req.URL.Query().Get(name) == "true"
}

func subjectOf(req *http.Request) (string, error) {
	s := req.PathValue("subject")
	if s == "" || len(s) > maxSubjectLength {
		return "", errorf(codeInvalidSubject, "invalid subject %q", s)
	}
	return s, nil
}
