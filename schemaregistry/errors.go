package schemaregistry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// apiError is an error with Confluent's numeric code; the HTTP status is the
// code's first three digits (40401 is a 404).
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

func (e *apiError) status() int {
	s := e.Code
	for s >= 1000 {
		s /= 10
	}
	return s
}

// Confluent's error codes (io.confluent.kafka.schemaregistry.rest.exceptions).
const (
	codeSubjectNotFound       = 40401
	codeVersionNotFound       = 40402
	codeSchemaNotFound        = 40403
	codeSubjectSoftDeleted    = 40404
	codeSubjectNotSoftDeleted = 40405
	codeVersionSoftDeleted    = 40406
	codeVersionNotSoftDeleted = 40407
	codeSubjectLevelNoConfig  = 40408
	codeSubjectLevelNoMode    = 40409
	codeIncompatible          = 409
	codeInvalidSchema         = 42201
	codeInvalidVersion        = 42202
	codeInvalidCompatibility  = 42203
	codeInvalidMode           = 42204
	codeOperationNotPermitted = 42205
	codeReferenceExists       = 42206
	codeInvalidSubject        = 42208
	codeBadRequest            = 400
	codeTooLarge              = 413
	codeStoreError            = 50001
	codeSchemaIDConflict      = 42207
	defaultCompatibility      = "BACKWARD"
	defaultMode               = "READWRITE"
	contentType               = "application/vnd.schemaregistry.v1+json"
	maxReferenceDepth         = 64
	maxSubjectLength          = 1 << 10
)

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError answers err: an apiError as itself, anything else (the store
// failed) as 50001, Confluent's "Error in the backend data store".
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(codeStoreError, "Error in the backend data store: %v", err)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(ae.status())
	_ = json.NewEncoder(w).Encode(ae)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(v)
}
