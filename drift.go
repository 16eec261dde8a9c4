package callvault

import (
	"context"
	"time"
)

// SchemaDrift is a name a record used that callvault's schema does not
// declare: a property of a structured type, or a member of an enum type.
// Graph's schema grows every few months; an import that is lenient (the
// mirror's) keeps such values rather than refuse the record, and serves
// them back (schema.WithDrift).
type SchemaDrift struct {
	Kind string // "property" or "member"
	Type string // the qualified type that lacks it
	Name string
}

// Drift kinds.
const (
	DriftProperty = "property"
	DriftMember   = "member"
)

// DriftSeen is how often, and where last, a SchemaDrift was seen.
type DriftSeen struct {
	SchemaDrift
	Count               int64
	FirstSeen, LastSeen time.Time
	Tenant, RecordID    string // a record that holds it, the last one seen
}

// DriftStore keeps the schema drift that lenient imports kept, so that
// serve writes the kept values back and operators can list them
// (callvault schema drift). It is an optional capability of a Store;
// without it a lenient import refuses drift as a strict one does. Both
// stores of callvault have it.
type DriftStore interface {
	// NoteDrift adds the counts of seen to what is kept, keeping the
	// earliest FirstSeen and the latest LastSeen and record of each name.
	NoteDrift(ctx context.Context, seen []DriftSeen) error
	// Drift returns every name kept, ordered by kind, type and name.
	Drift(ctx context.Context) ([]DriftSeen, error)
}
