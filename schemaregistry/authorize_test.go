package schemaregistry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
)

// Each subject's operations are decided by Config.Authorize; listings leave
// out what the caller may not read, and a schema id is readable only through
// a subject the caller may read. The caller is the basic-auth user name here,
// which the test's policy trusts (the gateway authenticates it first).
func TestAuthorizeBySubject(t *testing.T) {
	js := testenv.NATS(t).JetStream(t)
	store, err := coordinator.Open(context.Background(), js, coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	grants := map[string][]Access{
		"alice": {{OpRead, "orders-value"}, {OpWrite, "orders-value"}, {OpReadConfig, "orders-value"}},
		"bob":   {{OpRead, "orders-value"}},
	}
	reg, err := New(Config{KV: store.Schemas(), Authorize: func(req *http.Request, a Access) bool {
		user, _, _ := req.BasicAuth()
		return user == "admin" || slices.Contains(grants[user], a)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-reg.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("registry did not sync")
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	client := func(user string) *sr.Client {
		cl, err := sr.NewClient(sr.URLs(srv.URL), sr.BasicAuth(user, "unused"))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	admin, alice, bob, eve := client("admin"), client("alice"), client("bob"), client("eve")

	payments, err := admin.CreateSchema(ctx, "payments-value", sr.Schema{Schema: userV1})
	if err != nil {
		t.Fatal(err)
	}
	orders, err := alice.CreateSchema(ctx, "orders-value", sr.Schema{Schema: userV2})
	if err != nil {
		t.Fatalf("alice registers under orders-value: %v", err)
	}
	denied := func(what string, err error) {
		t.Helper()
		if errorCode(err) != codeForbidden {
			t.Errorf("%s: %v, want error code %d", what, err, codeForbidden)
		}
	}
	_, err = alice.CreateSchema(ctx, "payments-value", sr.Schema{Schema: userV1})
	denied("alice registers under payments-value", err)
	_, err = bob.CreateSchema(ctx, "orders-value", sr.Schema{Schema: userV3})
	denied("bob registers under orders-value", err)
	_, err = bob.SchemaByID(ctx, payments.ID)
	denied("bob reads payments' schema by id", err)
	if got, err := bob.SchemaByID(ctx, orders.ID); err != nil || got.Schema != userV2 {
		t.Errorf("bob reads orders' schema by id: %+v, %v", got, err)
	}
	_, err = bob.DeleteSubject(ctx, "orders-value", sr.SoftDelete)
	denied("bob deletes orders-value", err)
	set := alice.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone})
	denied("alice sets the global compatibility", set[0].Err)
	_, err = eve.SubjectVersions(ctx, "orders-value")
	denied("eve lists orders-value's versions", err)

	for user, want := range map[*sr.Client][]string{admin: {"orders-value", "payments-value"}, bob: {"orders-value"}, eve: {}} {
		got, err := user.Subjects(ctx)
		if err != nil || !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("subjects: %v, %v; want %v", got, err, want)
		}
	}
	all, err := bob.AllSchemas(ctx)
	if err != nil || len(all) != 1 || all[0].Subject != "orders-value" {
		t.Errorf("bob's GET /schemas: %+v, %v", all, err)
	}
}
