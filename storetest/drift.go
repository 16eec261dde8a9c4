package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// RunDrift runs the conformance suite of the optional callvault.DriftStore
// capability. Drift is kept per schema, not per tenant, so the suite uses
// type names of its own and may share a database with other runs.
func RunDrift(t *testing.T, open func(t *testing.T) callvault.Store) {
	st := open(t)
	t.Cleanup(func() { st.Close() })
	ds, ok := st.(callvault.DriftStore)
	if !ok {
		t.Skip("the store keeps no schema drift")
	}
	ctx := context.Background()
	typ := fmt.Sprintf("test.drift%d.endpoint", time.Now().UnixNano())
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	prop := callvault.SchemaDrift{Kind: callvault.DriftProperty, Type: typ, Name: "satelliteLink"}
	member := callvault.SchemaDrift{Kind: callvault.DriftMember, Type: typ, Name: "satellite"}
	if err := ds.NoteDrift(ctx, []callvault.DriftSeen{
		{SchemaDrift: prop, Count: 1, FirstSeen: t0, LastSeen: t0, Tenant: "a", RecordID: "r1"},
		{SchemaDrift: member, Count: 2, FirstSeen: t0, LastSeen: t0, Tenant: "a", RecordID: "r1"},
	}); err != nil {
		t.Fatal(err)
	}
	// Seen again, later, and once out of order (earlier than the last).
	if err := ds.NoteDrift(ctx, []callvault.DriftSeen{{SchemaDrift: prop, Count: 3, FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(time.Hour), Tenant: "b", RecordID: "r2"}}); err != nil {
		t.Fatal(err)
	}
	if err := ds.NoteDrift(ctx, []callvault.DriftSeen{{SchemaDrift: prop, Count: 1, FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(-time.Hour), Tenant: "c", RecordID: "r0"}}); err != nil {
		t.Fatal(err)
	}
	all, err := ds.Drift(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []callvault.DriftSeen
	for _, d := range all {
		if d.Type == typ {
			got = append(got, d)
		}
	}
	want := []callvault.DriftSeen{
		{SchemaDrift: member, Count: 2, FirstSeen: t0, LastSeen: t0, Tenant: "a", RecordID: "r1"},
		{SchemaDrift: prop, Count: 5, FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(time.Hour), Tenant: "b", RecordID: "r2"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("drift kept:\n got %v\nwant %v", got, want)
	}
}
