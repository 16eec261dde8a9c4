// Package outboxsql is the logic of callvault.SubscriptionStore and
// callvault.Outbox that both stores share: a subscription read by its key,
// the claimed notifications matched with their subscriptions, the
// settlements parted. Each store keeps its own SQL and transactions, and
// hands its rows and lookups to these.
package outboxsql

import (
	"context"
	"encoding/json"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonrows"
)

// Rows is what *sql.Rows and pgx.Rows have in common.
type Rows = jsonrows.Rows

// Get returns the subscription id that query reads with q (its one column
// the body), or callvault.SubscriptionNotFound when it reads none.
func Get(ctx context.Context, q jsonrows.Query, id, query string, args ...any) (*callvault.Subscription, error) {
	rows, closeRows, err := q(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer closeRows()
	return One(rows, id)
}

// Attempts lists a tenant's delivery attempts with q: by the statement
// all, or by one when subscriptionID names a subscription (AttemptsQuery).
func Attempts(ctx context.Context, q jsonrows.Query, all, one, tenant, subscriptionID string, limit int) ([]*callvault.DeliveryAttempt, error) {
	query, args, err := AttemptsQuery(all, one, tenant, subscriptionID, limit)
	if err != nil {
		return nil, err
	}
	return jsonrows.Bodies[callvault.DeliveryAttempt](ctx, q, query, args...)
}

// Prepare checks the key of a subscription about to be stored and returns
// its body as the stores keep it (callvault.DecodeSubscription reads it).
func Prepare(s *callvault.Subscription) (body []byte, err error) {
	if err := callvault.CheckSubscriptionKey(s.Tenant, s.ID); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// Body returns the body of the first of rows of one column, or nil when
// there is none. The caller closes rows.
func Body(rows Rows) ([]byte, error) {
	var body []byte
	if rows.Next() {
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if body == nil {
			body = []byte{}
		}
	}
	return body, rows.Err()
}

// One returns the subscription id whose body is the first of rows, or
// callvault.SubscriptionNotFound when there is none. The caller closes
// rows.
func One(rows Rows, id string) (*callvault.Subscription, error) {
	body, err := Body(rows)
	if err != nil {
		return nil, err
	} else if body == nil {
		return nil, callvault.SubscriptionNotFound(id)
	}
	return callvault.DecodeSubscription(body)
}

// Nanos is the column of a time that may be zero (a subscription's next
// lifecycle notification): 0 for none.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Claimed is a row of a claim of notifications, before its subscription
// is found.
type Claimed struct {
	n                         callvault.Notification
	tenant, subscription      string
	change, created, attempts int64
}

// ReadClaimed reads the rows of a claim, of the columns seq, tenant,
// subscription_id, record_id, change, created, attempts, deferred. The
// caller closes rows.
func ReadClaimed(rows Rows) ([]Claimed, error) {
	var got []Claimed
	for rows.Next() {
		var c Claimed
		if err := rows.Scan(&c.n.Seq, &c.tenant, &c.subscription, &c.n.RecordID, &c.change, &c.created, &c.attempts, &c.n.Deferred); err != nil {
			return nil, err
		}
		got = append(got, c)
	}
	return got, rows.Err()
}

// Resolve turns claimed rows into notifications, finding the
// subscription of each with lookup (its stored body, nil when it is gone),
// once a subscription. The notifications whose subscription is gone
// (deleted since: nobody to tell) are left out, and their seqs returned in
// orphans, for the caller to delete in the claim's transaction.
func Resolve(claimed []Claimed, lookup func(tenant, id string) ([]byte, error)) (out []*callvault.Notification, orphans []int64, err error) {
	subs := map[[2]string]*callvault.Subscription{}
	for _, c := range claimed {
		key := [2]string{c.tenant, c.subscription}
		s, ok := subs[key]
		if !ok {
			body, err := lookup(c.tenant, c.subscription)
			if err != nil {
				return nil, nil, err
			}
			if body != nil {
				if s, err = callvault.DecodeSubscription(body); err != nil {
					return nil, nil, err
				}
			}
			subs[key] = s
		}
		if s == nil {
			orphans = append(orphans, c.n.Seq)
			continue
		}
		n := c.n
		n.Subscription = *s
		n.Change = callvault.ChangeTypes(c.change)
		n.Created = time.Unix(0, c.created).UTC()
		n.Attempts = int(c.attempts)
		out = append(out, &n)
	}
	return out, orphans, nil
}

// Part parts settlements into the seqs of the notifications delivered or
// dropped, which are deleted, and the others, which are scheduled again.
func Part(settled []callvault.Settlement) (done []int64, retry []callvault.Settlement) {
	for _, s := range settled {
		if s.Done {
			done = append(done, s.Seq)
		} else {
			retry = append(retry, s)
		}
	}
	return done, retry
}

// Attempted is the column value that a retry adds to a notification's
// attempts: 1 when a POST was made.
func Attempted(s callvault.Settlement) int64 {
	if s.Attempted {
		return 1
	}
	return 0
}

// AttemptsQuery picks the statement that lists a tenant's delivery
// attempts, of all its subscriptions or of one, and its arguments: the
// tenant, the subscription when there is one, the limit. An empty tenant
// is an EINVALID error.
func AttemptsQuery(all, one, tenant, subscriptionID string, limit int) (string, []any, error) {
	switch {
	case tenant == "":
		return "", nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	case subscriptionID == "":
		return all, []any{tenant, limit}, nil
	}
	return one, []any{tenant, subscriptionID, limit}, nil
}
