package schemaregistry

import (
	"net/http"
)

// Op is what a request does, for Config.Authorize.
type Op int

// The operations, as the registry's routes need them.
const (
	// OpRead reads a subject's schemas (and looks schemas up in it, or
	// checks compatibility against it).
	OpRead Op = iota
	// OpWrite registers a schema under a subject.
	OpWrite
	// OpDelete deletes a subject or one of its versions.
	OpDelete
	// OpReadConfig and OpWriteConfig read and change a compatibility level
	// or a mode: a subject's, or the registry's when Subject is empty.
	OpReadConfig
	OpWriteConfig
)

var opNames = [...]string{"Read", "Write", "Delete", "ReadConfig", "WriteConfig"}

func (o Op) String() string { return opNames[o] }

// Access is one operation on a subject, or on the registry as a whole when
// Subject is empty.
type Access struct {
	Op      Op
	Subject string
}

// codeForbidden is Confluent's error code for a denied operation.
const codeForbidden = 40301

// authorized reports whether the request may do a; without
// Config.Authorize everything is.
func (r *Registry) authorized(req *http.Request, a Access) bool {
	return r.cfg.Authorize == nil || r.cfg.Authorize(req, a)
}

// authorize is authorized as the error a handler returns.
func (r *Registry) authorize(req *http.Request, a Access) error {
	if r.authorized(req, a) {
		return nil
	}
	if a.Subject == "" {
		return errorf(codeForbidden, "User is denied operation %s on the registry", a.Op)
	}
	return errorf(codeForbidden, "User is denied operation %s on Subject: %s", a.Op, a.Subject)
}

// subjectRoute wraps a handler of a route with a {subject} (or, for config
// and mode, an optional one) so that it runs only if op on that subject is
// authorized.
func (r *Registry) subjectRoute(op Op, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, req *http.Request) error {
		if err := r.authorize(req, Access{Op: op, Subject: req.PathValue("subject")}); err != nil {
			return err
		}
		return h(w, req)
	}
}

// readableSchema fails unless the request may read at least one subject
// that uses schema id (deleted versions included): ids are global, and a
// schema is only as readable as a subject it is registered under.
func (r *Registry) readableSchema(req *http.Request, id int) error {
	for _, u := range r.usesOf(id, true) {
		if r.authorized(req, Access{Op: OpRead, Subject: u.Subject}) {
			return nil
		}
	}
	if r.cfg.Authorize == nil {
		return nil
	}
	return errorf(codeForbidden, "User is denied operation Read on every subject of schema %d", id)
}
