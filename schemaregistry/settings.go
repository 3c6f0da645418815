package schemaregistry

import (
	"context"
	"net/http"
	"strings"

	"github.com/stratalog/strata/schemaregistry/compat"
)

// The modes Confluent's registry knows.
var modes = []string{"READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"}

// getConfig is GET /config and /config/{subject}.
func (r *Registry) getConfig(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	if l, ok := r.cache.setting(settingKey("config", subject)); ok {
		writeJSON(w, map[string]string{"compatibilityLevel": l})
		return nil
	}
	if subject != "" && !flag(req, "defaultToGlobal") {
		return errorf(codeSubjectLevelNoConfig, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	writeJSON(w, map[string]string{"compatibilityLevel": string(r.level(""))})
	return nil
}

// putConfig is PUT /config and /config/{subject}.
func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) error {
	var body struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decode(req, &body); err != nil {
		return err
	}
	l, err := compat.ParseLevel(body.Compatibility)
	if err != nil {
		return errorf(codeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	if err := r.setSetting(req.Context(), settingKey("config", req.PathValue("subject")), map[string]string{"compatibilityLevel": string(l)}); err != nil {
		return err
	}
	writeJSON(w, map[string]string{"compatibility": string(l)})
	return nil
}

// deleteConfig is DELETE /config and /config/{subject}: back to the global
// level (or the default), answering the level it had.
func (r *Registry) deleteConfig(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	prev := r.level(subject)
	if _, ok := r.cache.setting(settingKey("config", subject)); !ok && subject != "" {
		return errorf(codeSubjectLevelNoConfig, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	if err := r.setSetting(req.Context(), settingKey("config", subject), nil); err != nil {
		return err
	}
	writeJSON(w, map[string]string{"compatibilityLevel": string(prev)})
	return nil
}

// getMode is GET /mode and /mode/{subject}.
func (r *Registry) getMode(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	if m, ok := r.cache.setting(settingKey("mode", subject)); ok {
		writeJSON(w, map[string]string{"mode": m})
		return nil
	}
	if subject != "" && !flag(req, "defaultToGlobal") {
		return errorf(codeSubjectLevelNoMode, "Subject '%s' does not have subject-level mode configured", subject)
	}
	writeJSON(w, map[string]string{"mode": r.mode("")})
	return nil
}

// putMode is PUT /mode and /mode/{subject}. IMPORT on a subject that has
// schemas needs force=true, as in Confluent's registry.
func (r *Registry) putMode(w http.ResponseWriter, req *http.Request) error {
	var body struct {
		Mode string `json:"mode"`
	}
	if err := decode(req, &body); err != nil {
		return err
	}
	m := strings.ToUpper(body.Mode)
	valid := false
	for _, v := range modes {
		valid = valid || v == m
	}
	if !valid {
		return errorf(codeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT")
	}
	subject := req.PathValue("subject")
	if m == "IMPORT" && !flag(req, "force") && r.hasSchemas(subject) {
		return errorf(codeOperationNotPermitted, "Cannot import since found existing subjects")
	}
	if err := r.setSetting(req.Context(), settingKey("mode", subject), map[string]string{"mode": m}); err != nil {
		return err
	}
	writeJSON(w, map[string]string{"mode": m})
	return nil
}

// deleteMode is DELETE /mode and /mode/{subject}.
func (r *Registry) deleteMode(w http.ResponseWriter, req *http.Request) error {
	subject := req.PathValue("subject")
	prev := r.mode(subject)
	if _, ok := r.cache.setting(settingKey("mode", subject)); !ok && subject != "" {
		return errorf(codeSubjectLevelNoMode, "Subject '%s' does not have subject-level mode configured", subject)
	}
	if err := r.setSetting(req.Context(), settingKey("mode", subject), nil); err != nil {
		return err
	}
	writeJSON(w, map[string]string{"mode": prev})
	return nil
}

// hasSchemas reports whether subject (any subject, for "") has versions.
func (r *Registry) hasSchemas(subject string) bool {
	for _, name := range r.cache.subjectNames() {
		if subject == "" || name == subject {
			if rec, _ := r.cache.subject(name); len(rec.Versions) > 0 {
				return true
			}
		}
	}
	return false
}

// setSetting writes (or with nil deletes) a config or mode record.
func (r *Registry) setSetting(ctx context.Context, key string, v any) error {
	return retryConflicts("update", func() error {
		ok, rev, err := r.get(ctx, key, nil)
		switch {
		case err != nil:
			return err
		case v != nil:
			return r.put(ctx, key, v, rev)
		case ok:
			return r.remove(ctx, key, rev)
		}
		return nil
	})
}

// checkCompatibility is POST /compatibility/subjects/{subject}/versions[/{version}]:
// whether a schema could be registered, against one version or, without
// one, the versions the subject's level checks.
func (r *Registry) checkCompatibility(w http.ResponseWriter, req *http.Request) error {
	subject, err := subjectOf(req)
	if err != nil {
		return err
	}
	var body schemaRequest
	if err := decode(req, &body); err != nil {
		return err
	}
	p, err := r.prepare(body, flag(req, "normalize"))
	if err != nil {
		return err
	}
	var against []subjectSchema
	if v := req.PathValue("version"); v != "" {
		sv, err := r.version(subject, v, false)
		if err != nil {
			return err
		}
		against = []subjectSchema{sv}
	} else if rec, ok := r.cache.subject(subject); ok {
		against = rec.live(false)
	}
	var prev []compat.Schema
	for _, v := range against {
		s, err := r.compatSchema(req.Context(), v.ID)
		if err != nil {
			return err
		}
		prev = append(prev, s)
	}
	msgs, err := compat.Check(r.level(subject), p.schema, prev)
	if err != nil {
		return errorf(codeInvalidSchema, "Invalid schema: %v", err)
	}
	resp := map[string]any{"is_compatible": len(msgs) == 0}
	if flag(req, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		resp["messages"] = msgs
	}
	writeJSON(w, resp)
	return nil
}
