package postgres

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonrows"
	"github.com/callvault/callvault/internal/outboxsql"
	"github.com/jackc/pgx/v5"
)

var (
	_ callvault.SubscriptionStore = (*DB)(nil)
	_ callvault.Outbox            = (*DB)(nil)
)

const (
	// sqlInsertChange writes, in a record's transaction, the change for a
	// dispatcher to fan out, when some unexpired subscription of the tenant
	// asks for it. $1 tenant, $2 record id, $3 change, $4 now, $5 the seq.
	sqlInsertChange = `INSERT INTO notification_changes (seq, tenant, record_id, change, created)
		SELECT $5, $1, $2, $3, $4 WHERE EXISTS
			(SELECT 1 FROM subscriptions WHERE tenant = $1 AND expires > $4 AND (changes & $3) <> 0)`

	// sqlExpandChanges fans the oldest changes out to one notification for
	// each subscription that asked for it when it was committed, and
	// deletes them, in one statement; changes another replica is expanding
	// are skipped.
	sqlExpandChanges = `WITH c AS (
			DELETE FROM notification_changes WHERE seq IN
				(SELECT seq FROM notification_changes ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING seq, tenant, record_id, change, created)
		INSERT INTO notification_outbox (seq, tenant, subscription_id, record_id, change, created, due)
		SELECT c.seq + row_number() OVER (PARTITION BY c.seq ORDER BY s.id), c.tenant, s.id, c.record_id, c.change, c.created, c.created
		FROM c JOIN subscriptions AS s
			ON s.tenant = c.tenant AND s.created <= c.created AND s.expires > c.created AND (s.changes & c.change) <> 0`

	sqlClaimNotifications = `UPDATE notification_outbox SET due = $1, owner = $2
		WHERE seq IN (SELECT seq FROM notification_outbox WHERE due <= $3 ORDER BY due, seq LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING seq, tenant, subscription_id, record_id, change, created, attempts, deferred`
	sqlClaimLifecycle = `UPDATE subscriptions SET next_lifecycle = $1
		WHERE (tenant, id) IN (SELECT tenant, id FROM subscriptions
			WHERE next_lifecycle > 0 AND next_lifecycle <= $2 AND expires > $2
			ORDER BY next_lifecycle LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING body`
)

// expandBatch is how many changes a claim fans out at most.
const expandBatch = 1000

// queueNotifications queues the change of a record for its subscribers, in
// the record's transaction. Its seq is random with the low byte zero, so
// that the notifications it fans out to are numbered after it.
func queueNotifications(s *sender, tenant, recordID string, change callvault.ChangeTypes) {
	s.queue(0, sqlInsertChange, tenant, recordID, int64(change), time.Now().UnixNano(), rand.Int64()&^0xff)
}

// CreateSubscription stores s unless the tenant has quota subscriptions.
// The count and the insert are serialised per tenant by locking the
// tenant's rows, so two servers cannot both create the hundred-and-first.
func (db *DB) CreateSubscription(ctx context.Context, s *callvault.Subscription, quota int, now time.Time) (err error) {
	body, err := outboxsql.Prepare(s)
	if err != nil {
		return err
	}
	defer wrap(&err, "postgres: create subscription %s", s.ID)
	return db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT expires FROM subscriptions WHERE tenant = $1 FOR UPDATE`, s.Tenant)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var expires int64
			if err := rows.Scan(&expires); err != nil {
				rows.Close()
				return err
			}
			if expires > now.UnixNano() {
				n++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n >= quota {
			return callvault.SubscriptionQuotaError(quota)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM notification_outbox WHERE tenant = $1 AND subscription_id = $2`, s.Tenant, s.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO subscriptions (tenant, id, created, expires, changes, next_lifecycle, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant, id) DO UPDATE SET created = EXCLUDED.created, expires = EXCLUDED.expires,
				changes = EXCLUDED.changes, next_lifecycle = EXCLUDED.next_lifecycle, body = EXCLUDED.body`,
			s.Tenant, s.ID, now.UnixNano(), s.ExpirationDateTime.UnixNano(), int64(s.ChangeTypes), outboxsql.Nanos(s.NextLifecycle), body)
		return err
	})
}

// GetSubscription returns one unexpired subscription.
func (db *DB) GetSubscription(ctx context.Context, tenant, id string, now time.Time) (_ *callvault.Subscription, err error) {
	if err := callvault.CheckSubscriptionKey(tenant, id); err != nil {
		return nil, err
	}
	defer wrap(&err, "postgres: get subscription %s", id)
	return outboxsql.Get(ctx, db.query, id, `SELECT body FROM subscriptions WHERE tenant = $1 AND id = $2 AND expires > $3`, tenant, id, now.UnixNano())
}

// ListSubscriptions returns a tenant's unexpired subscriptions.
func (db *DB) ListSubscriptions(ctx context.Context, tenant string, now time.Time) (_ []*callvault.Subscription, err error) {
	if tenant == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "postgres: list subscriptions")
	return jsonrows.Bodies[callvault.Subscription](ctx, db.query, `SELECT body FROM subscriptions WHERE tenant = $1 AND expires > $2 ORDER BY created, id`, tenant, now.UnixNano())
}

func scanSubscriptions(rows pgx.Rows) ([]*callvault.Subscription, error) {
	defer rows.Close()
	return jsonrows.Decode[callvault.Subscription](rows)
}

// UpdateSubscription replaces a stored, unexpired subscription.
func (db *DB) UpdateSubscription(ctx context.Context, s *callvault.Subscription, now time.Time) (err error) {
	body, err := outboxsql.Prepare(s)
	if err != nil {
		return err
	}
	defer wrap(&err, "postgres: update subscription %s", s.ID)
	tag, err := db.pool.Exec(ctx, `UPDATE subscriptions SET expires = $1, changes = $2, next_lifecycle = $3, body = $4
		WHERE tenant = $5 AND id = $6 AND expires > $7`,
		s.ExpirationDateTime.UnixNano(), int64(s.ChangeTypes), outboxsql.Nanos(s.NextLifecycle), body, s.Tenant, s.ID, now.UnixNano())
	if err != nil {
		return err
	} else if tag.RowsAffected() == 0 {
		return callvault.SubscriptionNotFound(s.ID)
	}
	return nil
}

// DeleteSubscription deletes a subscription and its undelivered
// notifications.
func (db *DB) DeleteSubscription(ctx context.Context, tenant, id string) (err error) {
	if err := callvault.CheckSubscriptionKey(tenant, id); err != nil {
		return err
	}
	defer wrap(&err, "postgres: delete subscription %s", id)
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE tenant = $1 AND id = $2`, tenant, id)
		if err != nil {
			return err
		} else if tag.RowsAffected() == 0 {
			return callvault.SubscriptionNotFound(id)
		}
		_, err = tx.Exec(ctx, `DELETE FROM notification_outbox WHERE tenant = $1 AND subscription_id = $2`, tenant, id)
		return err
	})
}

// ClaimNotifications leases due notifications to owner. Rows another
// replica holds locked are skipped, not waited for.
func (db *DB) ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (out []*callvault.Notification, err error) {
	defer wrap(&err, "postgres: claim notifications")
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, sqlExpandChanges, expandBatch); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sqlClaimNotifications, now.Add(lease).UnixNano(), owner, now.UnixNano(), limit)
		if err != nil {
			return err
		}
		claimed, err := outboxsql.ReadClaimed(rows)
		rows.Close()
		if err != nil {
			return err
		}
		var orphans []int64
		out, orphans, err = outboxsql.Resolve(claimed, func(tenant, id string) ([]byte, error) {
			rows, err := tx.Query(ctx, `SELECT body FROM subscriptions WHERE tenant = $1 AND id = $2`, tenant, id)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			return outboxsql.Body(rows)
		})
		if err != nil {
			return err
		}
		if len(orphans) > 0 {
			_, err = tx.Exec(ctx, `DELETE FROM notification_outbox WHERE seq = ANY($1)`, orphans)
		}
		return err
	})
	return out, err
}

// SettleNotifications deletes the delivered and dropped notifications and
// schedules the others again, in one transaction.
func (db *DB) SettleNotifications(ctx context.Context, owner string, settled []callvault.Settlement) (err error) {
	if len(settled) == 0 {
		return nil
	}
	defer wrap(&err, "postgres: settle %d notifications", len(settled))
	done, rest := outboxsql.Part(settled)
	var retry, due, attempted []int64
	for _, s := range rest {
		retry, due, attempted = append(retry, s.Seq), append(due, s.RetryAt.UnixNano()), append(attempted, outboxsql.Attempted(s))
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM notification_outbox WHERE seq = ANY($1) AND owner = $2`, done, owner); err != nil {
				return err
			}
		}
		if len(retry) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE notification_outbox AS n SET due = u.due, owner = NULL, attempts = n.attempts + u.attempted, deferred = TRUE
				FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS u(seq, due, attempted)
				WHERE n.seq = u.seq AND n.owner = $4`, retry, due, attempted, owner); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClaimLifecycle leases the subscriptions whose lifecycle notification is
// due.
func (db *DB) ClaimLifecycle(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (_ []*callvault.Subscription, err error) {
	defer wrap(&err, "postgres: claim lifecycle notifications")
	rows, err := db.pool.Query(ctx, sqlClaimLifecycle, now.Add(lease).UnixNano(), now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	return scanSubscriptions(rows)
}

// SetNextLifecycle sets when a subscription's next lifecycle notification
// is due.
func (db *DB) SetNextLifecycle(ctx context.Context, tenant, id string, next time.Time) (err error) {
	defer wrap(&err, "postgres: schedule lifecycle of subscription %s", id)
	_, err = db.pool.Exec(ctx, `UPDATE subscriptions SET next_lifecycle = $1 WHERE tenant = $2 AND id = $3`, outboxsql.Nanos(next), tenant, id)
	return err
}

// AddDeliveryAttempts logs delivery attempts.
func (db *DB) AddDeliveryAttempts(ctx context.Context, attempts []callvault.DeliveryAttempt) (err error) {
	if len(attempts) == 0 {
		return nil
	}
	defer wrap(&err, "postgres: log delivery attempts")
	b := &pgx.Batch{}
	for i := range attempts {
		a := &attempts[i]
		body, err := json.Marshal(a)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO delivery_attempts (seq, tenant, subscription_id, time, body) VALUES ($1, $2, $3, $4, $5)`,
			rand.Int64(), a.Tenant, a.SubscriptionID, a.Time.UnixNano(), body)
	}
	return db.pool.SendBatch(ctx, b).Close()
}

// ListDeliveryAttempts returns a tenant's latest delivery attempts.
func (db *DB) ListDeliveryAttempts(ctx context.Context, tenant, subscriptionID string, limit int) (_ []*callvault.DeliveryAttempt, err error) {
	defer wrap(&err, "postgres: list delivery attempts")
	return outboxsql.Attempts(ctx, db.query, `SELECT body FROM delivery_attempts WHERE tenant = $1 ORDER BY time DESC, seq DESC LIMIT $2`,
		`SELECT body FROM delivery_attempts WHERE tenant = $1 AND subscription_id = $2 ORDER BY time DESC, seq DESC LIMIT $3`, tenant, subscriptionID, limit)
}

// PruneOutbox deletes expired subscriptions, their notifications, and old
// delivery attempts.
func (db *DB) PruneOutbox(ctx context.Context, now, before time.Time) (err error) {
	defer wrap(&err, "postgres: prune outbox")
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM notification_outbox WHERE (tenant, subscription_id) IN
			(SELECT tenant, id FROM subscriptions WHERE expires <= $1)`, now.UnixNano()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE expires <= $1`, now.UnixNano()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM delivery_attempts WHERE time < $1`, before.UnixNano())
		return err
	})
}
