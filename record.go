// Package callvault holds the domain of a Microsoft Graph callRecords server:
// call records in their stored form, the Store that keeps them, and the Error
// type every layer returns. It imports no driver and no HTTP code.
package callvault

import (
	"context"
	"math/rand/v2"
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
	// Quality is the record's classified streams (package quality), which a
	// QualityStore writes with it; nil when nobody classified it.
	Quality *RecordQuality
	// Drift lists the names the record used that the schema does not
	// declare, kept because its import was lenient (SchemaDrift); nil for
	// nearly every record.
	Drift []SchemaDrift
}

// Session is one session of a record, with its segments.
type Session struct {
	ID       string
	Body     []byte
	Render   []byte // Body's render scripts (odata.CompileAll); nil when it has none
	Segments []Segment
}

// Segment is one segment of a session.
type Segment struct {
	ID     string
	Body   []byte
	Render []byte // as Session.Render
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
	EndDateTime   time.Time
	Body          []byte
	Organizer     []byte // organizer_v2; nil when the record has none
	Sessions      int    // how many sessions the record has
	Participants  int    // how many participants_v2 the record has
}

// SessionQuery asks for one page of a record's sessions, in their stable
// order (the order they had in the imported record).
type SessionQuery struct {
	Tenant   string
	RecordID string
	After    int64 // the Seq of the last session already returned; 0 for the first page
	Limit    int   // at most this many sessions (1 or more)
	Segments bool  // load each session's segments too
	// Arena, when not nil, is spare memory the store may append the page's
	// bodies and render scripts to (from its length on), instead of
	// allocating each; SessionPage.Arena returns it, grown. The page's
	// slices point into it: the caller may reuse it only when done with them.
	Arena []byte
	// Known, when not 0, is the record's stamp (SessionPage.Stamp) when the
	// caller read this page before: if the record still has it, the store
	// reads no session and the page says Unchanged.
	Known int64
}

// CheckPage refuses a keyset page query's size and position when no store
// could answer it: at least one row, a position of 0 or more.
func CheckPage(limit int, after int64) error {
	if limit < 1 {
		return Errorf(EINVALID, "The page size must be 1 or more.")
	} else if after < 0 {
		return Errorf(EINVALID, "The cursor position must not be negative.")
	}
	return nil
}

// SessionRow is a stored session. Seq is its 1-based position in the record,
// the keyset cursor's key.
type SessionRow struct {
	Seq      int64
	ID       string
	Body     []byte
	Render   []byte    // as Session.Render
	Segments []Segment // only when the query asked for them
}

// SessionPage is one page of sessions; More is true when sessions follow.
type SessionPage struct {
	Sessions []SessionRow
	More     bool
	Arena    []byte // SessionQuery.Arena after the store appended to it; nil if it did not
	// Stamp is the record's stamp, read with the page: every write of the
	// record gives it a new one (NewStamp), so the same record id and stamp
	// mean the same content. 0 is the stamp of records stored before stamps
	// were kept, which no write gives.
	Stamp int64
	// Unchanged is true when the stamp is SessionQuery.Known: then
	// Sessions is empty and More false, and the caller's copy stands.
	Unchanged bool
}

// TimeRange bounds a time from either side; a zero bound is open. A bound
// a client gives is set with AtLeast and AtMost, which keep a bound at the
// zero instant from reading as none.
type TimeRange struct {
	From, To                   time.Time
	FromInclusive, ToInclusive bool
}

// AtLeast sets the lower bound to t, inclusive or not. The zero instant
// (0001-01-01T00:00:00Z, which Graph writes for "no date" and a .NET
// client sends for a default DateTimeOffset) is held as the nanosecond
// beside it that bounds the same times, since a zero From is no bound.
func (r *TimeRange) AtLeast(t time.Time, inclusive bool) {
	if t.IsZero() && inclusive {
		t, inclusive = t.Add(-1), false // at or after zero: after the instant before it
	} else if t.IsZero() {
		t, inclusive = t.Add(1), true // after zero: at or after the instant after it
	}
	r.From, r.FromInclusive = t, inclusive
}

// AtMost sets the upper bound to t, inclusive or not, holding the zero
// instant as AtLeast does.
func (r *TimeRange) AtMost(t time.Time, inclusive bool) {
	if t.IsZero() && inclusive {
		t, inclusive = t.Add(1), false // at or before zero: before the instant after it
	} else if t.IsZero() {
		t, inclusive = t.Add(-1), true // before zero: at or before the instant before it
	}
	r.To, r.ToInclusive = t, inclusive
}

// Contains reports whether t lies in the range.
func (r TimeRange) Contains(t time.Time) bool {
	switch {
	case !r.From.IsZero() && (t.Before(r.From) || (!r.FromInclusive && t.Equal(r.From))):
		return false
	case !r.To.IsZero() && (t.After(r.To) || (!r.ToInclusive && t.Equal(r.To))):
		return false
	}
	return true
}

// RecordKey is the position of a record in list order: by start time, then
// id. It is the keyset cursor of ListRecords.
type RecordKey struct {
	StartDateTime time.Time
	ID            string
}

// RecordQuery asks for one page of a tenant's call records, in list order
// (StartDateTime, then ID, ascending).
type RecordQuery struct {
	Tenant        string
	Start         TimeRange // on startDateTime
	ParticipantID string    // only records with a participants_v2 entry of this id
	NotBefore     time.Time // retention: records that ended before this are gone; zero keeps all
	// EndedBy leaves out records that ended after it: not there yet (the
	// faults' notYetThere, Graph's first-version latency); zero keeps all.
	EndedBy time.Time
	After   *RecordKey // the last record already returned; nil for the first page
	Limit   int
}

// RecordPage is one page of records; More is true when records follow.
type RecordPage struct {
	Records []RecordHeader
	More    bool
}

// ParticipantQuery asks for one page of a record's participants_v2, in the
// order they were imported.
type ParticipantQuery struct {
	Tenant   string
	RecordID string
	After    int64 // the Seq of the last participant already returned; 0 for the first page
	Limit    int
}

// ParticipantRow is a stored participant; Seq is its 1-based position.
type ParticipantRow struct {
	Seq  int64
	ID   string
	Body []byte
}

// ParticipantPage is one page of participants; More is true when more follow.
type ParticipantPage struct {
	Participants []ParticipantRow
	More         bool
}

// ReportRow is one row of a report function (getPstnCalls,
// getDirectRoutingCalls, getSmsLog, getPstnBlockedUsersLog,
// getPstnOnlineMeetingDialoutReport), in canonical form.
type ReportRow struct {
	Key  string    // unique per tenant and kind: the row's id, or a digest of its body when it has none
	Time time.Time // what the function's date range selects on (startDateTime, sentDateTime, …)
	Body []byte
}

// ReportQuery asks for one page of a report: rows of one kind whose Time
// lies in Range, in (Time, Key) order, from Offset.
type ReportQuery struct {
	Tenant string
	Kind   string // the row type's short name, e.g. "pstnCallLogRow"
	Range  TimeRange
	Offset int
	Limit  int
}

// ReportPage is one page of report rows, and the number of rows the whole
// query matches.
type ReportPage struct {
	Rows  [][]byte
	More  bool
	Total int64
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

	// ListRecords returns one page of a tenant's records (keyset on
	// RecordKey), and CountRecords how many the query matches in all.
	ListRecords(ctx context.Context, q RecordQuery) (*RecordPage, error)
	CountRecords(ctx context.Context, q RecordQuery) (int64, error)

	// GetSession returns one session of a record, with its segments when
	// asked, or an ENOTFOUND *Error when the record or the session is not
	// there.
	GetSession(ctx context.Context, tenant, recordID, sessionID string, segments bool) (*SessionRow, error)

	// ListParticipants returns one page of a record's participants_v2
	// (keyset on Seq), or an ENOTFOUND *Error when the record is not there.
	ListParticipants(ctx context.Context, q ParticipantQuery) (*ParticipantPage, error)

	// GetParticipant returns one participant of a record, or ENOTFOUND.
	GetParticipant(ctx context.Context, tenant, recordID, participantID string) (*ParticipantRow, error)

	// PutReportRows stores report rows of one kind, each replacing a stored
	// row with the same key, all in one transaction; it returns how many
	// rows were new.
	PutReportRows(ctx context.Context, tenant, kind string, rows []ReportRow) (int, error)

	// ListReportRows returns one page of report rows and the total count.
	ListReportRows(ctx context.Context, q ReportQuery) (*ReportPage, error)

	// ListSessions returns one page of a record's sessions, reading those rows
	// and no more (keyset on Seq). It returns an ENOTFOUND *Error when the
	// tenant has no such record.
	ListSessions(ctx context.Context, q SessionQuery) (*SessionPage, error)

	Close() error
}

// ScriptFunc decides the render scripts of one stored body: kind is
// "session" or "segment", render the scripts stored now (nil for none).
// It returns the scripts to store and whether they differ from render.
// Stores call it from one goroutine.
type ScriptFunc func(kind string, body, render []byte) (scripts []byte, changed bool)

// ScriptStats counts what a store's CompileScripts did.
type ScriptStats struct {
	Rows    int64 // sessions and segments read
	Changed int64 // rows whose scripts were written
}

// SessionVisitor receives a page of sessions as a store reads it: Stamp
// once, with the record's stamp (SessionPage.Stamp), before anything else;
// then Session for each session in order, then Segment for each of that
// session's segments when the query asked for them. When the stamp is the
// query's Known, nothing follows Stamp. body and render are the store's
// memory, valid only during the call.
type SessionVisitor interface {
	Stamp(stamp int64)
	Session(seq int64, body, render []byte) error
	Segment(body, render []byte) error
}

// NewStamp returns a stamp for a write of a record (SessionPage.Stamp): a
// random number of 63 bits, never 0. Random rather than counted, so that
// writers do not queue on one counter (PostgreSQL serves many at once):
// two writes of one record share a stamp with a chance of 1 in 2^63.
func NewStamp() int64 {
	for {
		if n := rand.Int64(); n != 0 {
			return n
		}
	}
}
