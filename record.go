// Package callvault holds the domain of a Microsoft Graph callRecords server:
// call records in their stored form, the Store that keeps them, and the Error
// type every layer returns. It imports no driver and no HTTP code.
package callvault

import (
	"context"
	"time"
)

// Record is a call record in callvault's stored form. Every Body is the
// canonical JSON of one object, as package ingest writes it: the beta shape
// (the superset of v1.0), declared properties in schema order with nulls
// left out, "@odata.type" first where the runtime type differs from the
// declared one, then the dynamic properties of open types. Navigation
// properties are not in a Body: they are rows of their own.
type Record struct {
	Tenant        string
	ID            string
	Version       int64
	StartDateTime time.Time
	EndDateTime   time.Time
	Body          []byte // the callRecord's own properties
	Sessions      []Session
	Participants  []Participant // participants_v2
	Organizer     []byte        // organizer_v2; nil when the record has none
}

// Session is one session of a record, with its segments.
type Session struct {
	ID       string
	Body     []byte
	Segments []Segment
}

// Segment is one segment of a session.
type Segment struct {
	ID   string
	Body []byte
}

// Participant is one entry of a record's participants_v2.
type Participant struct {
	ID   string
	Body []byte
}

// PutOutcome says what PutRecord did with a record.
type PutOutcome int

const (
	Inserted PutOutcome = iota + 1 // no record had that id
	Replaced                       // a record with a lower or equal version was replaced whole
	Stale                          // a record with a higher version is kept; nothing was written
)

func (o PutOutcome) String() string {
	switch o {
	case Inserted:
		return "inserted"
	case Replaced:
		return "replaced"
	case Stale:
		return "stale"
	}
	return "unknown"
}

// RecordHeader is what a store knows of a record without reading its rows.
type RecordHeader struct {
	ID            string
	Version       int64
	StartDateTime time.Time
	Body          []byte
	Sessions      int // how many sessions the record has
}

// SessionQuery asks for one page of a record's sessions, in their stable
// order (the order they had in the imported record).
type SessionQuery struct {
	Tenant   string
	RecordID string
	After    int64 // the Seq of the last session already returned; 0 for the first page
	Limit    int   // at most this many sessions (1 or more)
	Segments bool  // load each session's segments too
}

// SessionRow is a stored session. Seq is its 1-based position in the record,
// the keyset cursor's key.
type SessionRow struct {
	Seq      int64
	ID       string
	Body     []byte
	Segments []Segment // only when the query asked for them
}

// SessionPage is one page of sessions; More is true when sessions follow.
type SessionPage struct {
	Sessions []SessionRow
	More     bool
}

// Store keeps call records. Every method is scoped to one tenant: no call
// ever reads or writes another tenant's rows.
type Store interface {
	// PutRecord stores r whole or not at all. A record with the same tenant and
	// id is replaced when r.Version is higher or equal, and kept (Stale) when
	// its version is higher.
	PutRecord(ctx context.Context, r *Record) (PutOutcome, error)

	// GetRecord returns the header of a record, or an ENOTFOUND *Error.
	GetRecord(ctx context.Context, tenant, id string) (*RecordHeader, error)

	// ListSessions returns one page of a record's sessions, reading those rows
	// and no more (keyset on Seq). It returns an ENOTFOUND *Error when the
	// tenant has no such record.
	ListSessions(ctx context.Context, q SessionQuery) (*SessionPage, error)

	Close() error
}
