package callvault

import (
	"context"
	"math"
	"time"
)

// MirrorItem is a call record a mirror has yet to fetch from its source.
type MirrorItem struct {
	RecordID  string
	Attempts  int    // fetches of it that failed so far
	LastError string // why the last one failed
}

// MirrorSettlement is what became of a claimed MirrorItem.
type MirrorSettlement struct {
	RecordID string
	Done     bool      // fetched and stored: removed from the queue
	RetryAt  time.Time // when not Done: when it may be claimed again; Parked for never
	// Error says why, when not Done. An item settled not Done with no
	// Error is released: claimed but never tried (its mirror was
	// stopping), so its attempts are not counted.
	Error string
}

// Parked is the RetryAt of an item the mirror gave up on: it stays in the
// queue, counted as failed, until an operator asks for it again.
var Parked = time.Unix(0, math.MaxInt64).UTC() // the latest time the stores hold: in 2262

// MirrorStore keeps a mirror's progress, so that a mirror killed at any
// point resumes without losing a record, and several mirror processes on
// one database share the work without fetching a record twice. It is an
// optional capability of a Store; without it callvault mirror refuses to
// run. Both stores of callvault have it. A source is named by its base
// URL; every method is scoped to one tenant and source.
type MirrorStore interface {
	// EnqueueMirror queues record ids to fetch at due; an id already queued
	// and not leased keeps the earlier of its due and this one.
	EnqueueMirror(ctx context.Context, tenant, source string, ids []string, due time.Time) error
	// ClaimMirror leases to owner, until now+lease, at most limit items
	// due at now.
	ClaimMirror(ctx context.Context, tenant, source, owner string, now time.Time, lease time.Duration, limit int) ([]MirrorItem, error)
	// SettleMirror records what became of items owner claimed.
	SettleMirror(ctx context.Context, tenant, source, owner string, settled []MirrorSettlement) error
	// MirrorBacklog counts the items waiting (parked ones apart) and parked.
	MirrorBacklog(ctx context.Context, tenant, source string) (queued, parked int64, err error)
	// UnparkMirror makes the parked items due at now again; it returns how many.
	UnparkMirror(ctx context.Context, tenant, source string, now time.Time) (int64, error)
	// MirrorState returns a named piece of progress, nil when there is none;
	// SetMirrorState stores one.
	MirrorState(ctx context.Context, tenant, source, name string) ([]byte, error)
	SetMirrorState(ctx context.Context, tenant, source, name string, value []byte) error
}

// MirrorNotifyStateName names the MirrorState of a mirror's subscription on
// its source: the mirror writes it, serve's mirror inbox reads it to tell
// the source's notifications from forgeries.
const MirrorNotifyStateName = "notify"

// MirrorNotifyState is a mirror's subscription on its source, as JSON in
// MirrorState.
type MirrorNotifyState struct {
	SubscriptionID string    `json:"subscriptionId,omitempty"` // "" until the source created it
	ClientState    string    `json:"clientState"`              // random; what the source sends back
	Expires        time.Time `json:"expires"`
}
