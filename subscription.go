package callvault

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// ChangeTypes is a set of the changes a subscription asks to be told of.
type ChangeTypes uint8

// The changes of a call record that Graph notifies: created once, updated
// when a higher version replaces it.
const (
	ChangeCreated ChangeTypes = 1 << iota
	ChangeUpdated
)

// String returns the change a single-valued set names, as Graph writes it
// in a notification's changeType: "created" or "updated".
func (c ChangeTypes) String() string {
	switch c {
	case ChangeCreated:
		return "created"
	case ChangeUpdated:
		return "updated"
	case ChangeCreated | ChangeUpdated:
		return "created,updated"
	}
	return ""
}

// Subscription is a change-notification subscription to a tenant's call
// records (POST /subscriptions). Its fields are Graph's subscription
// resource as callvault keeps it; the wire shape is package graph's.
type Subscription struct {
	ID            string
	Tenant        string
	ApplicationID string // the app that created it (the token's appid)
	CreatorID     string // for app-only tokens, the service principal (the token's oid)

	Resource    string      // as the client wrote it: "/communications/callRecords" or without the slash
	ChangeType  string      // as the client wrote it, e.g. "created,updated"
	ChangeTypes ChangeTypes // what ChangeType names

	NotificationURL           string
	LifecycleNotificationURL  string // "" when none
	ClientState               string // "" when none; never logged
	ExpirationDateTime        time.Time
	LatestSupportedTLSVersion string // v1_0 … v1_3; "" means Graph's default, v1_2
	NotificationURLAppID      string
	IncludeResourceData       *bool // echoed; callRecords has no rich notifications
	EncryptionCertificate     string
	EncryptionCertificateID   string

	// NextLifecycle is when the next reauthorizationRequired lifecycle
	// notification is due; zero when the subscription has no
	// LifecycleNotificationURL.
	NextLifecycle time.Time
}

// SubscriptionQuota is how many callRecords subscriptions a tenant may have
// at once, as on Graph.
const SubscriptionQuota = 100

// SubscriptionStore keeps subscriptions. It is an optional capability of a
// Store: without it, callvault serves no /subscriptions and records no
// notifications. Both stores of callvault have it.
//
// A subscription whose ExpirationDateTime has passed is gone: the store
// neither returns it nor records notifications for it, and deletes it when
// the outbox is pruned.
type SubscriptionStore interface {
	// CreateSubscription stores s, unless the tenant already has quota
	// unexpired subscriptions: then it returns an EFORBIDDEN *Error.
	CreateSubscription(ctx context.Context, s *Subscription, quota int, now time.Time) error
	// GetSubscription returns one unexpired subscription, or ENOTFOUND.
	GetSubscription(ctx context.Context, tenant, id string, now time.Time) (*Subscription, error)
	// ListSubscriptions returns a tenant's unexpired subscriptions, in the
	// order they were created.
	ListSubscriptions(ctx context.Context, tenant string, now time.Time) ([]*Subscription, error)
	// UpdateSubscription replaces a stored, unexpired subscription with s
	// (same tenant and id), or returns ENOTFOUND.
	UpdateSubscription(ctx context.Context, s *Subscription, now time.Time) error
	// DeleteSubscription deletes a subscription and the notifications it has
	// not delivered, or returns ENOTFOUND.
	DeleteSubscription(ctx context.Context, tenant, id string) error
}

// Notification is a change notification waiting in a store's outbox. The
// store writes the change in the transaction that stores the record (one
// row, whatever the number of subscriptions), and ClaimNotifications fans it
// out to one Notification for each subscription of the tenant that asked
// for that change when it was committed.
type Notification struct {
	Seq          int64 // the outbox's key
	Subscription Subscription
	RecordID     string
	Change       ChangeTypes // ChangeCreated or ChangeUpdated
	Created      time.Time   // when the record was committed
	Attempts     int         // POSTs of it so far
	Deferred     bool        // it was held back once already (a delay, a slow endpoint)
}

// Settlement is what became of a claimed notification.
type Settlement struct {
	Seq       int64
	Done      bool      // delivered, or dropped: removed from the outbox
	RetryAt   time.Time // when not Done: when it may be claimed again
	Attempted bool      // when not Done: a POST was made (Attempts grows)
}

// DeliveryAttempt is one POST to a subscriber's URL, as the diagnostics
// endpoint shows it to the tenant.
type DeliveryAttempt struct {
	Time           time.Time
	Tenant         string
	SubscriptionID string
	Kind           string // "notification", "lifecycle" or "validation"
	URL            string // scheme, host and path: the query may hold secrets
	Notifications  int    // how many notifications of this subscription the POST carried
	Attempt        int    // 1 for a first POST, more for retries
	Status         int    // the HTTP status; 0 when there was no answer
	Error          string // why it failed, when it did
	Latency        time.Duration
	Outcome        string // "delivered", "retry", "dropped"
}

// Outbox is the store's side of change notifications: what the records'
// transactions wrote, leased to one dispatcher at a time, and the log of
// deliveries. It is an optional capability, present when SubscriptionStore
// is. Several dispatchers (replicas on one database) may claim at once:
// each notification is leased to one of them until it is settled or its
// lease runs out, after which another may take it over.
type Outbox interface {
	// ClaimNotifications fans out the changes committed since the last
	// claim, then leases to owner, until now+lease, at most limit
	// notifications that are due at now, oldest first.
	ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Notification, error)
	// SettleNotifications records what became of notifications owner
	// claimed; one whose lease owner lost is left to its new owner.
	SettleNotifications(ctx context.Context, owner string, settled []Settlement) error
	// ClaimLifecycle leases to owner, until now+lease, at most limit
	// unexpired subscriptions whose NextLifecycle is due at now.
	ClaimLifecycle(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Subscription, error)
	// SetNextLifecycle sets when a subscription's next lifecycle
	// notification is due (zero: none).
	SetNextLifecycle(ctx context.Context, tenant, id string, next time.Time) error
	// AddDeliveryAttempts logs attempts.
	AddDeliveryAttempts(ctx context.Context, attempts []DeliveryAttempt) error
	// ListDeliveryAttempts returns a tenant's most recent attempts, newest
	// first, of one subscription when subscriptionID is not "".
	ListDeliveryAttempts(ctx context.Context, tenant, subscriptionID string, limit int) ([]*DeliveryAttempt, error)
	// PruneOutbox deletes expired subscriptions with their notifications,
	// and delivery attempts older than before.
	PruneOutbox(ctx context.Context, now, before time.Time) error
}

// SubscriptionNotFound is the error of a store that has no unexpired
// subscription id for the tenant.
func SubscriptionNotFound(id string) error {
	return Errorf(ENOTFOUND, "Subscription %s was not found.", id)
}

// SubscriptionQuotaError is the error of a store asked to create a
// subscription beyond the tenant's quota.
func SubscriptionQuotaError(quota int) error {
	return Errorf(EFORBIDDEN, "The tenant has reached its limit of %d subscriptions to communications/callRecords: delete one before creating another.", quota)
}

// CheckSubscriptionKey refuses a tenant or subscription id that no store
// can key.
func CheckSubscriptionKey(tenant, id string) error {
	if tenant == "" {
		return Errorf(EINVALID, "A tenant is required.")
	} else if strings.TrimSpace(id) == "" {
		return Errorf(EINVALID, "A subscription id is required.")
	}
	return nil
}

// DecodeSubscription reads a subscription as the stores keep it: the JSON
// of the struct.
func DecodeSubscription(body []byte) (*Subscription, error) {
	var s Subscription
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
