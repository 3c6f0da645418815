package schemaregistry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	protobuf "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
)

// gateway is one registry on the shared store, served over loopback HTTP, as
// each Strata gateway serves it.
type gateway struct {
	reg *Registry
	url string
	sr  *sr.Client
}

// startGateways runs n registries on one NATS server's coordinator store.
func startGateways(t testing.TB, n int) []*gateway {
	t.Helper()
	js := testenv.NATS(t).JetStream(t)
	store, err := coordinator.Open(context.Background(), js, coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var gws []*gateway
	for range n {
		reg, err := New(Config{KV: store.Schemas(), MaxBodyBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = reg.Run(ctx)
		}()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case <-reg.Synced():
		case <-time.After(10 * time.Second):
			t.Fatal("registry did not sync")
		}
		srv := httptest.NewServer(reg)
		t.Cleanup(srv.Close)
		cl, err := sr.NewClient(sr.URLs(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		gws = append(gws, &gateway{reg: reg, url: srv.URL, sr: cl})
	}
	return gws
}

func errorCode(err error) int {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return 0
}

const (
	userV1 = `{"type":"record","name":"User","namespace":"example","fields":[{"name":"name","type":"string"}]}`
	// V2 adds a field with a default: BACKWARD and FORWARD compatible.
	userV2 = `{"type":"record","name":"User","namespace":"example","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`
	// V3 adds a field without a default: not BACKWARD compatible.
	userV3 = `{"type":"record","name":"User","namespace":"example","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0},{"name":"email","type":"string"}]}`
)

func TestRegisterAndEvolve(t *testing.T) {
	gws := startGateways(t, 2)
	a, b := gws[0].sr, gws[1].sr
	ctx := t.Context()

	s1, err := a.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Version != 1 || s1.ID < 1 {
		t.Fatalf("first registration: %+v", s1)
	}
	// The same schema again, differently spaced: the same id and version.
	again, err := a.CreateSchema(ctx, "users-value", sr.Schema{Schema: strings.ReplaceAll(userV1, ",", " , ")})
	if err != nil || again.ID != s1.ID || again.Version != 1 {
		t.Fatalf("registering again: %+v, %v", again, err)
	}
	// Another subject, the same schema: the same id, version 1 there.
	other, err := a.CreateSchema(ctx, "archive-value", sr.Schema{Schema: userV1})
	if err != nil || other.ID != s1.ID || other.Version != 1 {
		t.Fatalf("the same schema under another subject: %+v, %v", other, err)
	}
	// Gateway B sees what A registered.
	testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		got, err := b.SchemaByID(ctx, s1.ID)
		if err != nil {
			return err
		}
		if got.Schema != userV1 {
			return fmt.Errorf("schema %d reads %q", s1.ID, got.Schema)
		}
		return nil
	})

	// BACKWARD (the default): a field with a default is fine, one without
	// is refused with 409 and a message naming it.
	s2, err := b.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	if err != nil || s2.Version != 2 || s2.ID == s1.ID {
		t.Fatalf("compatible evolution: %+v, %v", s2, err)
	}
	_, err = a.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV3})
	if errorCode(err) != 409 {
		t.Fatalf("incompatible evolution: %v, want 409", err)
	}
	res, err := a.CheckCompatibility(ctx, "users-value", -1, sr.Schema{Schema: userV3})
	if err != nil || res.Is {
		t.Fatalf("compatibility check of an incompatible schema: %+v, %v", res, err)
	}
	// NONE lets it in.
	if r := a.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "users-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	s3, err := a.CreateSchema(ctx, "users-value", sr.Schema{Schema: userV3})
	if err != nil || s3.Version != 3 {
		t.Fatalf("with NONE: %+v, %v", s3, err)
	}
	// B sees A's registration once its watch delivers it.
	testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		versions, err := b.SubjectVersions(ctx, "users-value")
		if err != nil || !slices.Equal(versions, []int{1, 2, 3}) {
			return fmt.Errorf("versions %v, %v", versions, err)
		}
		return nil
	})
	subjects, err := b.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"archive-value", "users-value"}) {
		t.Fatalf("subjects %v, %v", subjects, err)
	}
	found, err := b.LookupSchema(ctx, "users-value", sr.Schema{Schema: userV2})
	if err != nil || found.Version != 2 || found.ID != s2.ID {
		t.Fatalf("lookup: %+v, %v", found, err)
	}
	if _, err := b.LookupSchema(ctx, "users-value", sr.Schema{Schema: `"string"`}); errorCode(err) != codeSchemaNotFound {
		t.Fatalf("lookup of an unregistered schema: %v, want 40403", err)
	}
	usages, err := b.SchemaUsagesByID(ctx, s1.ID)
	if err != nil || len(usages) != 2 {
		t.Fatalf("usages of %d: %+v, %v", s1.ID, usages, err)
	}
}

func TestTransitiveLevels(t *testing.T) {
	gws := startGateways(t, 1)
	c := gws[0].sr
	ctx := t.Context()
	if r := c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}, "t-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	v1 := `{"type":"record","name":"T","fields":[{"name":"a","type":"int","default":1}]}`
	v2 := `{"type":"record","name":"T","fields":[]}`
	// v3 re-adds a as a string: compatible with v2 (which lacks it) but
	// not with v1, which FULL_TRANSITIVE also checks.
	v3 := `{"type":"record","name":"T","fields":[{"name":"a","type":"string","default":"x"}]}`
	for i, s := range []string{v1, v2} {
		if _, err := c.CreateSchema(ctx, "t-value", sr.Schema{Schema: s}); err != nil {
			t.Fatalf("v%d: %v", i+1, err)
		}
	}
	if _, err := c.CreateSchema(ctx, "t-value", sr.Schema{Schema: v3}); errorCode(err) != 409 {
		t.Fatalf("v3 under FULL_TRANSITIVE: %v, want 409", err)
	}
	if r := c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "t-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if _, err := c.CreateSchema(ctx, "t-value", sr.Schema{Schema: v3}); err != nil {
		t.Fatalf("v3 under FULL: %v", err)
	}
}

func TestDeletesAndModes(t *testing.T) {
	gws := startGateways(t, 1)
	c := gws[0].sr
	ctx := t.Context()
	if _, err := c.CreateSchema(ctx, "d-value", sr.Schema{Schema: userV1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSchema(ctx, "d-value", sr.Schema{Schema: userV2}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSchema(ctx, "d-value", 1, sr.HardDelete); errorCode(err) != codeVersionNotSoftDeleted {
		t.Fatalf("hard delete before soft: %v, want 40407", err)
	}
	if err := c.DeleteSchema(ctx, "d-value", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSchema(ctx, "d-value", 1, sr.SoftDelete); errorCode(err) != codeVersionSoftDeleted {
		t.Fatalf("soft delete twice: %v, want 40406", err)
	}
	if _, err := c.DeleteSubject(ctx, "d-value", sr.HardDelete); errorCode(err) != codeSubjectNotSoftDeleted {
		t.Fatalf("hard delete of a live subject: %v, want 40405", err)
	}
	if r := c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "d-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if vs, err := c.DeleteSubject(ctx, "d-value", sr.SoftDelete); err != nil || !slices.Equal(vs, []int{1, 2}) {
		t.Fatalf("soft delete of the subject: %v, %v", vs, err)
	}
	// The subject's compatibility level went with it.
	if r := c.Compatibility(ctx, "d-value"); errorCode(r[0].Err) != codeSubjectLevelNoConfig {
		t.Fatalf("level of a deleted subject: %+v, want 40408", r[0])
	}
	if _, err := c.DeleteSubject(ctx, "d-value", sr.SoftDelete); errorCode(err) != codeSubjectSoftDeleted {
		t.Fatalf("soft delete of a soft-deleted subject: %v, want 40404", err)
	}
	if _, err := c.SubjectVersions(ctx, "d-value"); errorCode(err) != codeSubjectNotFound {
		t.Fatalf("versions of a soft-deleted subject: %v, want 40401", err)
	}
	if _, err := c.DeleteSubject(ctx, "d-value", sr.HardDelete); err != nil {
		t.Fatal(err)
	}
	// The ids outlive the subject.
	if _, err := c.SchemaByID(ctx, 1); err != nil {
		t.Fatalf("schema 1 after its subject went: %v", err)
	}

	// READONLY refuses registrations; IMPORT takes ids and versions.
	if r := c.SetMode(ctx, sr.ModeReadOnly, "ro-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if _, err := c.CreateSchema(ctx, "ro-value", sr.Schema{Schema: userV1}); errorCode(err) != codeOperationNotPermitted {
		t.Fatalf("register in READONLY: %v, want 42205", err)
	}
	if r := c.SetMode(ctx, sr.ModeImport, "imp-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	s, err := c.CreateSchemaWithIDAndVersion(ctx, "imp-value", sr.Schema{Schema: `"long"`}, 1000, 7)
	if err != nil || s.ID != 1000 || s.Version != 7 {
		t.Fatalf("import: %+v, %v", s, err)
	}
	if _, err := c.CreateSchemaWithIDAndVersion(ctx, "rw-value", sr.Schema{Schema: `"long"`}, 1001, 1); errorCode(err) != codeOperationNotPermitted {
		t.Fatalf("an id outside IMPORT mode: %v, want 42205", err)
	}
}

func TestBadInput(t *testing.T) {
	gws := startGateways(t, 1)
	url := gws[0].url
	for _, c := range []struct {
		name, method, path, body string
		code                     int
	}{
		{"malformed JSON", "POST", "/subjects/x/versions", `{"schema":`, codeBadRequest},
		{"schema that does not parse", "POST", "/subjects/x/versions", `{"schema":"{\"type\":\"recrod\"}"}`, codeInvalidSchema},
		{"unknown type", "POST", "/subjects/x/versions", `{"schema":"\"int\"","schemaType":"XML"}`, codeInvalidSchema},
		{"missing reference", "POST", "/subjects/x/versions", `{"schema":"\"int\"","references":[{"name":"a.B","subject":"nope","version":1}]}`, codeInvalidSchema},
		{"empty schema", "POST", "/subjects/x/versions", `{"schema":""}`, codeInvalidSchema},
		{"body over the cap", "POST", "/subjects/x/versions", `{"schema":"` + strings.Repeat("x", 2<<20) + `"}`, codeTooLarge},
		{"bad version", "GET", "/subjects/x/versions/zero", "", codeSubjectNotFound},
		{"bad level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, codeInvalidCompatibility},
		{"bad mode", "PUT", "/mode", `{"mode":"WRITEONLY"}`, codeInvalidMode},
		{"unknown id", "GET", "/schemas/ids/424242", "", codeSchemaNotFound},
		{"subject config not set", "GET", "/config/x", "", codeSubjectLevelNoConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, url+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiError
			if err := decodeBody(resp, &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != c.code || resp.StatusCode != e.status() {
				t.Fatalf("error code %d (HTTP %d), want %d", e.Code, resp.StatusCode, c.code)
			}
		})
	}
	if resp, err := http.Get(url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Nothing was registered by any of it.
	subjects, err := gws[0].sr.Subjects(t.Context())
	if err != nil || len(subjects) != 0 {
		t.Fatalf("subjects after bad input: %v, %v", subjects, err)
	}
}

func decodeBody(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestFormats: GET /schemas/ids/{id} and the subject version endpoint give
// an Avro schema with its references resolved in place, a Protobuf schema
// as its serialized descriptor, and the highest id with fetchMaxId.
func TestFormats(t *testing.T) {
	gws := startGateways(t, 1)
	c, url := gws[0].sr, gws[0].url
	ctx := t.Context()
	inner, err := c.CreateSchema(ctx, "inner", sr.Schema{Schema: `{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	outer, err := c.CreateSchema(ctx, "outer", sr.Schema{
		Schema:     `{"type":"record","name":"Outer","fields":[{"name":"i","type":"Inner"}]}`,
		References: []sr.SchemaReference{{Name: "Inner", Subject: "inner", Version: inner.Version}},
	})
	if err != nil {
		t.Fatal(err)
	}
	proto, err := c.CreateSchema(ctx, "proto", sr.Schema{Type: sr.TypeProtobuf, Schema: `syntax = "proto3"; package p; message M { string s = 1; }`})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, code int) map[string]any {
		t.Helper()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := decodeBody(resp, &body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != code {
			t.Fatalf("%s: HTTP %d %v, want %d", path, resp.StatusCode, body, code)
		}
		return body
	}
	for _, path := range []string{fmt.Sprintf("/schemas/ids/%d?format=resolved", outer.ID), "/subjects/outer/versions/1?format=resolved"} {
		resolved := get(path, http.StatusOK)["schema"].(string)
		if !strings.Contains(resolved, `"name":"Inner","type":"record"`) {
			t.Fatalf("%s: %s does not hold Inner's definition", path, resolved)
		}
		if _, err := avro.Parse(resolved); err != nil {
			t.Fatalf("%s: the resolved schema does not parse alone: %v", path, err)
		}
	}
	serialized := get(fmt.Sprintf("/schemas/ids/%d?format=serialized", proto.ID), http.StatusOK)["schema"].(string)
	raw, err := base64.StdEncoding.DecodeString(serialized)
	if err != nil {
		t.Fatal(err)
	}
	var fdp descriptorpb.FileDescriptorProto
	if err := protobuf.Unmarshal(raw, &fdp); err != nil || fdp.GetPackage() != "p" || fdp.GetMessageType()[0].GetName() != "M" {
		t.Fatalf("serialized descriptor: %v, %v", &fdp, err)
	}
	if e := get(fmt.Sprintf("/schemas/ids/%d?format=serialized", outer.ID), http.StatusBadRequest); e["error_code"] != float64(codeBadRequest) {
		t.Fatalf("a Protobuf format for an Avro schema: %v", e)
	}
	if got := get(fmt.Sprintf("/schemas/ids/%d?fetchMaxId=true", inner.ID), http.StatusOK)["maxId"]; got != float64(proto.ID) {
		t.Fatalf("maxId %v, want %d", got, proto.ID)
	}
}
