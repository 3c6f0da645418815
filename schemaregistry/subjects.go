package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/schemaregistry/compat"
)

// maxCASAttempts bounds a read-modify-CAS loop that keeps losing races.
const maxCASAttempts = 16

// retryConflicts runs attempt, a read-decide-write on the store, again while
// its compare-and-swap loses a race (errConflict), at most maxCASAttempts
// times; what kept conflicting names the operation for the 50001 answer.
func retryConflicts(what string, attempt func() error) error {
	for range maxCASAttempts {
		if err := attempt(); !errors.Is(err, errConflict) {
			return err
		}
	}
	return errorf(codeStoreError, "Error in the backend data store: %s kept conflicting", what)
}

// writable returns the request's subject unless it is read-only.
func (r *Registry) writable(req *http.Request) (string, error) {
	subject, err := subjectOf(req)
	if err != nil {
		return "", err
	}
	if m := r.mode(subject); m == "READONLY" || m == "READONLY_OVERRIDE" {
		return "", errorf(codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return subject, nil
}

// schemaRequest is the body of a registration, a lookup and a compatibility
// check.
type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []reference `json:"references"`
	// ID and Version are honoured in IMPORT mode only.
	ID      int `json:"id"`
	Version int `json:"version"`
}

// versionResponse is a subject's version as Confluent returns it.
type versionResponse struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func (r *Registry) versionResponse(subject string, v subjectSchema) versionResponse {
	s, _ := r.cache.schema(v.ID)
	return versionResponse{Subject: subject, Version: v.Version, ID: v.ID, SchemaType: typeField(s.Type), References: s.References, Schema: s.Schema}
}

// typeField is the schemaType Confluent returns: omitted for AVRO.
func typeField(t string) string {
	if t == string(compat.Avro) {
		return ""
	}
	return t
}

// prepared is a schema request checked and in canonical form.
type prepared struct {
	schema      compat.Schema
	refs        []reference
	fingerprint string
}

// prepare validates a schema request: its type, its references (each an
// existing version of its subject) and the schema itself.
func (r *Registry) prepare(req schemaRequest, normalize bool) (prepared, error) {
	typ := compat.Type(strings.ToUpper(req.SchemaType))
	if typ == "" {
		typ = compat.Avro
	}
	if req.Schema == "" {
		return prepared{}, errorf(codeInvalidSchema, "Empty schema")
	}
	refs := map[string]string{}
	if err := r.resolve(req.References, refs, 0); err != nil {
		return prepared{}, err
	}
	s := compat.Schema{Type: typ, Text: req.Schema, References: refs}
	canonical, err := compat.Canonical(s, normalize)
	if err != nil {
		return prepared{}, errorf(codeInvalidSchema, "Invalid schema: %v", err)
	}
	return prepared{schema: s, refs: req.References, fingerprint: fingerprintOf(string(typ), canonical, req.References)}, nil
}

// resolve adds the text of every schema refs names, transitively, to out,
// by reference name.
func (r *Registry) resolve(refs []reference, out map[string]string, depth int) error {
	if depth > maxReferenceDepth {
		return errorf(codeInvalidSchema, "Invalid schema: references nest over %d deep (a cycle?)", maxReferenceDepth)
	}
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return errorf(codeInvalidSchema, "Invalid schema: a reference needs a name and a subject")
		}
		if _, ok := out[ref.Name]; ok {
			continue
		}
		v, err := r.version(ref.Subject, strconv.Itoa(ref.Version), true)
		if err != nil {
			return errorf(codeInvalidSchema, "Invalid schema: reference %q to %s version %d: %v", ref.Name, ref.Subject, ref.Version, err)
		}
		s, ok := r.cache.schema(v.ID)
		if !ok {
			return errorf(codeInvalidSchema, "Invalid schema: reference %q: schema %d missing", ref.Name, v.ID)
		}
		out[ref.Name] = s.Schema
		if err := r.resolve(s.References, out, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// storedSchema returns schema id from the cache or, when the watch has not
// brought it yet (another gateway registered it a moment ago), from the
// store: a registration decides on the subject's current versions, which it
// reads from the store, so it must find their schemas too.
func (r *Registry) storedSchema(ctx context.Context, id int) (schemaRecord, bool, error) {
	if s, ok := r.cache.schema(id); ok {
		return s, true, nil
	}
	data, rev, err := r.cfg.KV.Get(ctx, schemaKey(id))
	if err != nil || rev == 0 {
		return schemaRecord{}, false, err
	}
	if err := r.cache.apply(schemaKey(id), data, rev); err != nil {
		return schemaRecord{}, false, err
	}
	s, ok := r.cache.schema(id)
	return s, ok, nil
}

// compatSchema returns a stored schema with its references resolved.
func (r *Registry) compatSchema(ctx context.Context, id int) (compat.Schema, error) {
	s, ok, err := r.storedSchema(ctx, id)
	if err != nil {
		return compat.Schema{}, err
	}
	if !ok {
		return compat.Schema{}, errorf(codeSchemaNotFound, "Schema %d not found", id)
	}
	refs := map[string]string{}
	if err := r.resolve(s.References, refs, 0); err != nil {
		return compat.Schema{}, err
	}
	return compat.Schema{Type: compat.Type(s.Type), Text: s.Schema, References: refs}, nil
}

// version finds a version of subject: "latest" or "-1" for the newest, else
// its number; soft-deleted ones only with deleted.
func (r *Registry) version(subject, v string, deleted bool) (subjectSchema, error) {
	rec, ok := r.cache.subject(subject)
	live := rec.live(deleted)
	if !ok || (len(live) == 0 && !deleted) {
		return subjectSchema{}, errorf(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	if v == "latest" || v == "-1" {
		if len(live) == 0 {
			return subjectSchema{}, errorf(codeVersionNotFound, "Version %s not found.", v)
		}
		return live[len(live)-1], nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return subjectSchema{}, errorf(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
	}
	for _, s := range live {
		if s.Version == n {
			return s, nil
		}
	}
	return subjectSchema{}, errorf(codeVersionNotFound, "Version %d not found.", n)
}

// level is the compatibility level that applies to subject.
func (r *Registry) level(subject string) compat.Level {
	if l, ok := r.cache.setting(settingKey("config", subject)); ok {
		return compat.Level(l)
	}
	if l, ok := r.cache.setting("config"); ok {
		return compat.Level(l)
	}
	return defaultCompatibility
}

// mode is the mode that applies to subject.
func (r *Registry) mode(subject string) string {
	if m, ok := r.cache.setting(settingKey("mode", subject)); ok {
		return m
	}
	if m, ok := r.cache.setting("mode"); ok {
		return m
	}
	return defaultMode
}

// register is POST /subjects/{subject}/versions.
func (r *Registry) register(w http.ResponseWriter, req *http.Request) error {
	subject, err := r.writable(req)
	if err != nil {
		return err
	}
	var body schemaRequest
	if err := decode(req, &body); err != nil {
		return err
	}
	mode := r.mode(subject)
	if (body.ID != 0 || body.Version != 0) && mode != "IMPORT" {
		return errorf(codeOperationNotPermitted, "Overwrite new schema with id or version is only permitted in IMPORT mode")
	}
	p, err := r.prepare(body, flag(req, "normalize"))
	if err != nil {
		return err
	}
	var id int
	err = retryConflicts("registration", func() (err error) {
		id, err = r.tryRegister(req.Context(), subject, p, body, mode == "IMPORT")
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, map[string]int{"id": id})
	return nil
}

// tryRegister is one attempt at a registration; errConflict means try again.
func (r *Registry) tryRegister(ctx context.Context, subject string, p prepared, body schemaRequest, importing bool) (int, error) {
	rec, rev, err := r.loadSubject(ctx, subject)
	if err != nil {
		return 0, err
	}
	live := rec.live(false)
	for _, v := range live {
		s, _, err := r.storedSchema(ctx, v.ID)
		if err != nil {
			return 0, err
		}
		if s.Fingerprint == p.fingerprint && (body.ID == 0 || body.ID == v.ID) {
			return v.ID, nil // registered already: its id, nothing new
		}
	}
	if !importing {
		var prev []compat.Schema
		for _, v := range live {
			s, err := r.compatSchema(ctx, v.ID)
			if err != nil {
				return 0, err
			}
			prev = append(prev, s)
		}
		msgs, err := compat.Check(r.level(subject), p.schema, prev)
		if err != nil {
			return 0, errorf(codeInvalidSchema, "Invalid schema: %v", err)
		}
		if len(msgs) > 0 {
			return 0, errorf(codeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(msgs, ", "))
		}
	}
	id, err := r.schemaID(ctx, p, body.ID)
	if err != nil {
		return 0, err
	}
	version := 1
	for _, v := range rec.Versions {
		version = max(version, v.Version+1)
	}
	if body.Version != 0 {
		if slices.ContainsFunc(rec.Versions, func(v subjectSchema) bool { return v.Version == body.Version }) {
			return 0, errorf(codeInvalidVersion, "Version %d of subject %s exists", body.Version, subject)
		}
		version = body.Version
	}
	rec.Subject = subject
	rec.Versions = append(slices.Clone(rec.Versions), subjectSchema{Version: version, ID: id})
	slices.SortFunc(rec.Versions, func(a, b subjectSchema) int { return a.Version - b.Version })
	if err := r.put(ctx, subjectKey(subject), rec, rev); err != nil {
		return 0, err
	}
	return id, nil
}

// schemaID returns the id of p's content, registering it under a new id (or
// want, when importing) if no subject has it yet.
func (r *Registry) schemaID(ctx context.Context, p prepared, want int) (int, error) {
	fpKey := "fp." + p.fingerprint
	if want == 0 {
		if id, ok := r.cache.fingerprint(p.fingerprint); ok {
			return id, nil
		}
		var fp struct{ ID int }
		if ok, _, err := r.get(ctx, fpKey, &fp); err != nil || ok {
			return fp.ID, err
		}
	}
	id := want
	if id == 0 {
		var err error
		if id, err = r.allocateID(ctx); err != nil {
			return 0, err
		}
	}
	rec := schemaRecord{ID: id, Type: string(p.schema.Type), Schema: p.schema.Text, References: p.refs, Fingerprint: p.fingerprint}
	var existing schemaRecord
	ok, _, err := r.get(ctx, schemaKey(id), &existing)
	switch {
	case err != nil:
		return 0, err
	case ok && existing.Fingerprint != p.fingerprint:
		return 0, errorf(codeSchemaIDConflict, "Schema id %d is taken by another schema", id)
	case !ok:
		if err := r.put(ctx, schemaKey(id), rec, 0); err != nil {
			return 0, err
		}
	}
	// The first schema of a content keeps the fingerprint; a racing
	// registration of the same content under another id uses that one.
	err = r.put(ctx, fpKey, map[string]int{"id": id}, 0)
	switch {
	case errors.Is(err, errConflict) && want == 0:
		var fp struct{ ID int }
		if _, _, err := r.get(ctx, fpKey, &fp); err != nil {
			return 0, err
		}
		return fp.ID, nil
	case errors.Is(err, errConflict): // an imported copy of known content
	case err != nil:
		return 0, err
	}
	return id, nil
}

// allocateID takes the next free schema id, skipping ids imported by hand.
func (r *Registry) allocateID(ctx context.Context) (int, error) {
	for range maxCASAttempts * 4 {
		var c struct {
			Next int `json:"next"`
		}
		_, rev, err := r.get(ctx, "ids", &c)
		if err != nil {
			return 0, err
		}
		id := max(c.Next, 1)
		c.Next = id + 1
		if err := r.put(ctx, "ids", c, rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return 0, err
		}
		if _, taken := r.cache.schema(id); taken {
			continue
		}
		if ok, _, err := r.get(ctx, schemaKey(id), nil); err != nil || !ok {
			return id, err
		}
	}
	return 0, errorf(codeStoreError, "Error in the backend data store: no schema id allocated")
}

// lookup is POST /subjects/{subject}: the version holding a schema.
func (r *Registry) lookup(w http.ResponseWriter, req *http.Request) error {
	subject, err := subjectOf(req)
	if err != nil {
		return err
	}
	var body schemaRequest
	if err := decode(req, &body); err != nil {
		return err
	}
	rec, ok := r.cache.subject(subject)
	deleted := flag(req, "deleted")
	if !ok || len(rec.live(deleted)) == 0 {
		return errorf(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	p, err := r.prepare(body, flag(req, "normalize"))
	if err != nil {
		return err
	}
	for _, v := range slices.Backward(rec.live(deleted)) {
		if s, ok := r.cache.schema(v.ID); ok && s.Fingerprint == p.fingerprint {
			writeJSON(w, r.versionResponse(subject, v))
			return nil
		}
	}
	return errorf(codeSchemaNotFound, "Schema not found")
}

// listSubjects is GET /subjects.
func (r *Registry) listSubjects(w http.ResponseWriter, req *http.Request) error {
	prefix := req.URL.Query().Get("subjectPrefix")
	deleted := flag(req, "deleted")
	out := []string{}
	for _, name := range r.cache.subjectNames() {
		rec, _ := r.cache.subject(name)
		if strings.HasPrefix(name, prefix) && len(rec.live(deleted)) > 0 && r.authorized(req, Access{Op: OpRead, Subject: name}) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	writeJSON(w, out)
	return nil
}

// listVersions is GET /subjects/{subject}/versions.
func (r *Registry) listVersions(w http.ResponseWriter, req *http.Request) error {
	subject, err := subjectOf(req)
	if err != nil {
		return err
	}
	rec, ok := r.cache.subject(subject)
	live := rec.live(flag(req, "deleted"))
	if !ok || len(live) == 0 {
		return errorf(codeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	out := make([]int, len(live))
	for i, v := range live {
		out[i] = v.Version
	}
	writeJSON(w, out)
	return nil
}

// requestedVersion returns the version the request's {subject} and
// {version} name (soft-deleted ones with deleted=true).
func (r *Registry) requestedVersion(req *http.Request, deleted bool) (string, subjectSchema, error) {
	subject, err := subjectOf(req)
	if err != nil {
		return "", subjectSchema{}, err
	}
	v, err := r.version(subject, req.PathValue("version"), deleted)
	return subject, v, err
}

// getVersion is GET /subjects/{subject}/versions/{version}, in the format
// parameter's format.
func (r *Registry) getVersion(w http.ResponseWriter, req *http.Request) error {
	subject, v, err := r.requestedVersion(req, flag(req, "deleted"))
	if err != nil {
		return err
	}
	resp := r.versionResponse(subject, v)
	s, _ := r.cache.schema(v.ID)
	if resp.Schema, err = r.formatted(req, s); err != nil {
		return err
	}
	writeJSON(w, resp)
	return nil
}

// getVersionSchema is GET /subjects/{subject}/versions/{version}/schema: the
// schema text alone.
func (r *Registry) getVersionSchema(w http.ResponseWriter, req *http.Request) error {
	_, v, err := r.requestedVersion(req, flag(req, "deleted"))
	if err != nil {
		return err
	}
	s, _ := r.cache.schema(v.ID)
	w.Header().Set("Content-Type", contentType)
	_, err = w.Write([]byte(s.Schema))
	return err
}

// referencedBy is GET /subjects/{subject}/versions/{version}/referencedby:
// the ids of the live schemas that reference it.
func (r *Registry) referencedBy(w http.ResponseWriter, req *http.Request) error {
	subject, v, err := r.requestedVersion(req, true)
	if err != nil {
		return err
	}
	writeJSON(w, r.referrers(subject, v.Version))
	return nil
}

// referrers returns the ids of live versions whose schema references
// subject's version.
func (r *Registry) referrers(subject string, version int) []int {
	out := []int{}
	for _, name := range r.cache.subjectNames() {
		rec, _ := r.cache.subject(name)
		for _, v := range rec.live(false) {
			s, _ := r.cache.schema(v.ID)
			if slices.ContainsFunc(s.References, func(ref reference) bool { return ref.Subject == subject && ref.Version == version }) &&
				!slices.Contains(out, v.ID) {
				out = append(out, v.ID)
			}
		}
	}
	slices.Sort(out)
	return out
}

// deleteVersion is DELETE /subjects/{subject}/versions/{version}: a soft
// delete, or with permanent=true the removal of a soft-deleted version.
func (r *Registry) deleteVersion(w http.ResponseWriter, req *http.Request) error {
	subject, err := r.writable(req)
	if err != nil {
		return err
	}
	permanent := flag(req, "permanent")
	var deleted int
	err = retryConflicts("delete", func() error {
		v, err := r.version(subject, req.PathValue("version"), true)
		if err != nil {
			return err
		}
		rec, rev, err := r.loadSubject(req.Context(), subject)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(rec.Versions, func(s subjectSchema) bool { return s.Version == v.Version })
		if i < 0 {
			return errorf(codeVersionNotFound, "Version %d not found.", v.Version)
		}
		switch cur := rec.Versions[i]; {
		case !permanent && cur.Deleted:
			return errorf(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, cur.Version)
		case permanent && !cur.Deleted:
			return errorf(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, cur.Version)
		case !permanent && len(r.referrers(subject, cur.Version)) > 0:
			return errorf(codeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}", subject, cur.Version)
		}
		rec.Versions = slices.Clone(rec.Versions)
		if permanent {
			rec.Versions = slices.Delete(rec.Versions, i, i+1)
		} else {
			rec.Versions[i].Deleted = true
		}
		deleted = v.Version
		return r.saveSubject(req.Context(), subject, rec, rev)
	})
	if err != nil {
		return err
	}
	writeJSON(w, deleted)
	return nil
}

// deleteSubject is DELETE /subjects/{subject}: every version soft-deleted,
// or with permanent=true the removal of a soft-deleted subject.
func (r *Registry) deleteSubject(w http.ResponseWriter, req *http.Request) error {
	subject, err := r.writable(req)
	if err != nil {
		return err
	}
	permanent := flag(req, "permanent")
	var versions []int
	err = retryConflicts("delete", func() error {
		rec, rev, err := r.loadSubject(req.Context(), subject)
		if err != nil {
			return err
		}
		live := rec.live(false)
		switch {
		case rev == 0 || len(rec.Versions) == 0:
			return errorf(codeSubjectNotFound, "Subject '%s' not found.", subject)
		case !permanent && len(live) == 0:
			return errorf(codeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		case permanent && len(live) > 0:
			return errorf(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		}
		versions = versions[:0]
		for _, v := range rec.Versions {
			if !permanent && len(r.referrers(subject, v.Version)) > 0 {
				return errorf(codeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}", subject, v.Version)
			}
			versions = append(versions, v.Version)
		}
		if permanent {
			return r.remove(req.Context(), subjectKey(subject), rev)
		}
		rec.Versions = slices.Clone(rec.Versions)
		for i := range rec.Versions {
			rec.Versions[i].Deleted = true
		}
		return r.saveSubject(req.Context(), subject, rec, rev)
	})
	if err != nil {
		return err
	}
	// As Confluent's registry: a deleted subject loses its compatibility
	// level, and one deleted for good its mode as well, so a subject
	// registered again under the name starts from the global settings.
	if err := r.setSetting(req.Context(), settingKey("config", subject), nil); err != nil {
		return err
	}
	if permanent {
		if err := r.setSetting(req.Context(), settingKey("mode", subject), nil); err != nil {
			return err
		}
	}
	writeJSON(w, versions)
	return nil
}

// loadSubject reads subject's record from the store (not the cache: a
// compare-and-swap needs the current revision).
func (r *Registry) loadSubject(ctx context.Context, subject string) (subjectRecord, uint64, error) {
	var rec subjectRecord
	_, rev, err := r.get(ctx, subjectKey(subject), &rec)
	return rec, rev, err
}

// saveSubject writes rec, or deletes the subject's record when no version
// is left.
func (r *Registry) saveSubject(ctx context.Context, subject string, rec subjectRecord, rev uint64) error {
	if len(rec.Versions) == 0 {
		return r.remove(ctx, subjectKey(subject), rev)
	}
	return r.put(ctx, subjectKey(subject), rec, rev)
}

// get reads key into v (nil: only whether it exists).
func (r *Registry) get(ctx context.Context, key string, v any) (bool, uint64, error) {
	data, rev, err := r.cfg.KV.Get(ctx, key)
	if err != nil || rev == 0 {
		return false, 0, err
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			return false, 0, fmt.Errorf("record %s: %w", key, err)
		}
	}
	return true, rev, nil
}

// put writes v under key by compare-and-swap and applies it to the cache,
// so that this gateway reads its own writes at once; a lost race is
// errConflict.
func (r *Registry) put(ctx context.Context, key string, v any, prev uint64) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rev, ok, err := r.cfg.KV.Put(ctx, key, data, prev)
	switch {
	case err != nil:
		return err
	case !ok:
		return errConflict
	}
	return r.cache.apply(key, data, rev)
}

// remove deletes key by compare-and-swap, from the cache too; a lost race
// is errConflict.
func (r *Registry) remove(ctx context.Context, key string, prev uint64) error {
	ok, err := r.cfg.KV.Delete(ctx, key, prev)
	switch {
	case err != nil:
		return err
	case !ok:
		return errConflict
	}
	// The delete marker is the next revision of the key.
	return r.cache.apply(key, nil, prev+1)
}
