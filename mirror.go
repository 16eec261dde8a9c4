package callvault

import (
	"context"
	"math"
	"time"
)

// MirrorItem is a call record a mirror has yet to fetch from its source.
type MirrorItem struct {
	RecordID string
	// Listed says that the record was queued by a listing, at Version and
	// LastModified (the latest of its listings, by version then time): a
	// store that holds the record at that version need not fetch it.
	// Queued by an id alone (a change notification, a store without
	// MirrorListingStore), it is false, and the record is fetched.
	Listed       bool
	Version      int64
	LastModified time.Time
	Attempts     int    // fetches of it that failed so far
	LastError    string // why the last one failed
}

// MirrorListing is what a sweep's list page says of a record: its id, and
// the version and lastModifiedDateTime the source has.
type MirrorListing struct {
	RecordID     string
	Version      int64
	LastModified time.Time
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

// MirrorListingStore is a MirrorStore that keeps with each queued id the
// version its listing named, so that two mirrors on one store never both
// fetch a record. A mirror checks its store before it queues a listed
// record; another mirror can store and settle the record between that
// check and the enqueue, which queues it again. With the version in the
// queue, the mirror that claims it checks again, after the claim, and
// settles it without a fetch when the store holds it at that version; a
// record listed again at a newer version is still fetched.
//
// Without it the mirror queues ids with EnqueueMirror and fetches every
// record it claims: two mirrors on one store may then fetch a record twice
// (stored twice at one version: idempotent, a request wasted). Both stores
// of callvault have it.
type MirrorListingStore interface {
	MirrorStore
	// EnqueueMirrorListed queues listed records as EnqueueMirror queues
	// ids, with the version and time each listing names. An item already
	// queued keeps the later listing (by version, then time); an id queued
	// without one (EnqueueMirror) must be fetched whatever the listings
	// say, and stays so until it is settled done.
	//
	// The stores of this capability also keep, for SettleMirror, whether an
	// item was queued again (by either method) while claimed: settled Done,
	// such an item is not removed but due again at that enqueue's due, so
	// that the claim that follows decides again with the latest listing
	// (the fetch in hand may have read the record before the change its new
	// listing or notification is about).
	EnqueueMirrorListed(ctx context.Context, tenant, source string, listed []MirrorListing, due time.Time) error
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
