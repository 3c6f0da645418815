package schemaregistry

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/schemaregistry/compat"
)

// schemaByID answers the {id} path value's schema, or 40403.
func (r *Registry) schemaByID(req *http.Request) (schemaRecord, error) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil {
		return schemaRecord{}, errorf(codeSchemaNotFound, "Schema %s not found", req.PathValue("id"))
	}
	s, ok := r.cache.schema(id)
	if !ok {
		return schemaRecord{}, errorf(codeSchemaNotFound, "Schema %d not found", id)
	}
	return s, r.readableSchema(req, id)
}

// getSchema is GET /schemas/ids/{id}, in the format parameter's format,
// with the highest id with fetchMaxId. Its subject parameter picks the
// context to look in, and there is only the default one.
func (r *Registry) getSchema(w http.ResponseWriter, req *http.Request) error {
	s, err := r.schemaByID(req)
	if err != nil {
		return err
	}
	text, err := r.formatted(req, s)
	if err != nil {
		return err
	}
	resp := struct {
		SchemaType string      `json:"schemaType,omitempty"`
		Schema     string      `json:"schema"`
		References []reference `json:"references,omitempty"`
		MaxID      *int        `json:"maxId,omitempty"`
	}{SchemaType: typeField(s.Type), Schema: text, References: s.References}
	if flag(req, "fetchMaxId") {
		maxID := r.cache.maxID()
		resp.MaxID = &maxID
	}
	writeJSON(w, resp)
	return nil
}

// formatted returns s's text in the request's format parameter (see
// compat.Format); none is the schema as registered.
func (r *Registry) formatted(req *http.Request, s schemaRecord) (string, error) {
	format := req.URL.Query().Get("format")
	if format == "" {
		return s.Schema, nil
	}
	refs := map[string]string{}
	if err := r.resolve(s.References, refs, 0); err != nil {
		return "", err
	}
	text, err := compat.Format(compat.Schema{Type: compat.Type(s.Type), Text: s.Schema, References: refs}, format)
	switch {
	case errors.Is(err, compat.ErrUnknownFormat):
		return "", errorf(codeBadRequest, "Unsupported format: %v", err)
	case err != nil:
		return "", errorf(codeInvalidSchema, "Invalid schema: %v", err)
	}
	return text, nil
}

// getSchemaText is GET /schemas/ids/{id}/schema: the text alone.
func (r *Registry) getSchemaText(w http.ResponseWriter, req *http.Request) error {
	s, err := r.schemaByID(req)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	_, err = w.Write([]byte(s.Schema))
	return err
}

// usesOf returns the subject versions holding schema id, by subject.
func (r *Registry) usesOf(id int, deleted bool) []versionResponse {
	var out []versionResponse
	names := r.cache.subjectNames()
	slices.Sort(names)
	for _, name := range names {
		rec, _ := r.cache.subject(name)
		for _, v := range rec.live(deleted) {
			if v.ID == id {
				out = append(out, versionResponse{Subject: name, Version: v.Version})
			}
		}
	}
	return out
}

// schemaSubjects is GET /schemas/ids/{id}/subjects.
func (r *Registry) schemaSubjects(w http.ResponseWriter, req *http.Request) error {
	s, err := r.schemaByID(req)
	if err != nil {
		return err
	}
	out := []string{}
	for _, u := range r.usesOf(s.ID, flag(req, "deleted")) {
		if !slices.Contains(out, u.Subject) && r.authorized(req, Access{Op: OpRead, Subject: u.Subject}) {
			out = append(out, u.Subject)
		}
	}
	writeJSON(w, out)
	return nil
}

// schemaVersions is GET /schemas/ids/{id}/versions.
func (r *Registry) schemaVersions(w http.ResponseWriter, req *http.Request) error {
	s, err := r.schemaByID(req)
	if err != nil {
		return err
	}
	type subjectVersion struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []subjectVersion{}
	for _, u := range r.usesOf(s.ID, flag(req, "deleted")) {
		if r.authorized(req, Access{Op: OpRead, Subject: u.Subject}) {
			out = append(out, subjectVersion{u.Subject, u.Version})
		}
	}
	writeJSON(w, out)
	return nil
}

// listSchemas is GET /schemas: every subject's versions (subjectPrefix,
// deleted and latestOnly filter them).
func (r *Registry) listSchemas(w http.ResponseWriter, req *http.Request) error {
	q := req.URL.Query()
	prefix, latestOnly, deleted := q.Get("subjectPrefix"), flag(req, "latestOnly"), flag(req, "deleted")
	out := []versionResponse{}
	names := r.cache.subjectNames()
	slices.Sort(names)
	for _, name := range names {
		if !strings.HasPrefix(name, prefix) || !r.authorized(req, Access{Op: OpRead, Subject: name}) {
			continue
		}
		rec, _ := r.cache.subject(name)
		live := rec.live(deleted)
		if latestOnly && len(live) > 0 {
			live = live[len(live)-1:]
		}
		for _, v := range live {
			out = append(out, r.versionResponse(name, v))
		}
	}
	writeJSON(w, out)
	return nil
}
