package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonrows"
	"github.com/callvault/callvault/internal/outboxsql"
)

var (
	_ callvault.SubscriptionStore = (*DB)(nil)
	_ callvault.Outbox            = (*DB)(nil)
)

// sqlInsertChange writes, in a record's transaction, the change for the
// dispatcher to fan out, when some unexpired subscription of the tenant
// asks for it. Arguments: tenant, record id, change, now, tenant, now,
// change.
const sqlInsertChange = `INSERT INTO notification_changes (tenant, record_id, change, created)
	SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM subscriptions WHERE tenant = ? AND expires > ? AND (changes & ?) != 0)`

// expandBatch is how many changes a claim fans out at most.
const expandBatch = 1000

// notifyChange records a change of a record for its subscribers. It runs in
// the record's transaction: the notifications commit with the record or
// not at all. Whatever the number of subscriptions, it writes one row.
func notifyChange(ctx context.Context, tx *sql.Tx, s *statements, tenant, recordID string, change callvault.ChangeTypes) error {
	now := time.Now().UnixNano()
	_, err := tx.StmtContext(ctx, s.insertNotifications).ExecContext(ctx, tenant, recordID, int64(change), now, tenant, now, int64(change))
	return err
}

// expandChanges fans the oldest changes out to one notification for each
// subscription that asked for it when it was committed, and deletes them.
func expandChanges(ctx context.Context, tx *sql.Tx) error {
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(seq) FROM (SELECT seq FROM notification_changes ORDER BY seq LIMIT ?)`, expandBatch).Scan(&last); err != nil || !last.Valid {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notification_outbox (tenant, subscription_id, record_id, change, created, due)
		SELECT c.tenant, s.id, c.record_id, c.change, c.created, c.created
		FROM notification_changes AS c JOIN subscriptions AS s
			ON s.tenant = c.tenant AND s.created <= c.created AND s.expires > c.created AND (s.changes & c.change) != 0
		WHERE c.seq <= ? ORDER BY c.seq, s.id`, last.Int64); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM notification_changes WHERE seq <= ?`, last.Int64)
	return err
}

// recordChange says which change storing a record over a stored version
// is: created when there was none, updated when the version grew, none
// (0) when the same version was stored again.
func recordChange(outcome callvault.PutOutcome, stored, version int64) callvault.ChangeTypes {
	switch {
	case outcome == callvault.Inserted:
		return callvault.ChangeCreated
	case outcome == callvault.Replaced && version > stored:
		return callvault.ChangeUpdated
	}
	return 0
}

// CreateSubscription stores s unless the tenant has quota subscriptions.
func (db *DB) CreateSubscription(ctx context.Context, s *callvault.Subscription, quota int, now time.Time) (err error) {
	body, err := outboxsql.Prepare(s)
	if err != nil {
		return err
	}
	defer wrap(&err, "sqlite: create subscription %s", s.ID)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscriptions WHERE tenant = ? AND expires > ?`, s.Tenant, now.UnixNano()).Scan(&n); err != nil {
		return err
	}
	if n >= quota {
		return callvault.SubscriptionQuotaError(quota)
	}
	// An expired subscription of the same id may linger until pruned.
	if err := deleteSubscription(ctx, tx, s.Tenant, s.ID); err != nil && callvault.ErrorCode(err) != callvault.ENOTFOUND {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (tenant, id, created, expires, changes, next_lifecycle, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.Tenant, s.ID, now.UnixNano(), s.ExpirationDateTime.UnixNano(), int64(s.ChangeTypes), outboxsql.Nanos(s.NextLifecycle), body); err != nil {
		return err
	}
	return tx.Commit()
}

// GetSubscription returns one unexpired subscription.
func (db *DB) GetSubscription(ctx context.Context, tenant, id string, now time.Time) (_ *callvault.Subscription, err error) {
	if err := callvault.CheckSubscriptionKey(tenant, id); err != nil {
		return nil, err
	}
	defer wrap(&err, "sqlite: get subscription %s", id)
	return outboxsql.Get(ctx, db.query, id, `SELECT body FROM subscriptions WHERE tenant = ? AND id = ? AND expires > ?`, tenant, id, now.UnixNano())
}

// ListSubscriptions returns a tenant's unexpired subscriptions.
func (db *DB) ListSubscriptions(ctx context.Context, tenant string, now time.Time) (_ []*callvault.Subscription, err error) {
	if tenant == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	defer wrap(&err, "sqlite: list subscriptions")
	return jsonrows.Bodies[callvault.Subscription](ctx, db.query, `SELECT body FROM subscriptions WHERE tenant = ? AND expires > ? ORDER BY created, id`, tenant, now.UnixNano())
}

// UpdateSubscription replaces a stored, unexpired subscription.
func (db *DB) UpdateSubscription(ctx context.Context, s *callvault.Subscription, now time.Time) (err error) {
	body, err := outboxsql.Prepare(s)
	if err != nil {
		return err
	}
	defer wrap(&err, "sqlite: update subscription %s", s.ID)
	res, err := db.write.ExecContext(ctx, `UPDATE subscriptions SET expires = ?, changes = ?, next_lifecycle = ?, body = ?
		WHERE tenant = ? AND id = ? AND expires > ?`,
		s.ExpirationDateTime.UnixNano(), int64(s.ChangeTypes), outboxsql.Nanos(s.NextLifecycle), body, s.Tenant, s.ID, now.UnixNano())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
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
	defer wrap(&err, "sqlite: delete subscription %s", id)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteSubscription(ctx, tx, tenant, id); err != nil {
		return err
	}
	return tx.Commit()
}

func deleteSubscription(ctx context.Context, tx *sql.Tx, tenant, id string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM subscriptions WHERE tenant = ? AND id = ?`, tenant, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return callvault.SubscriptionNotFound(id)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM notification_outbox WHERE tenant = ? AND subscription_id = ?`, tenant, id)
	return err
}

// ClaimNotifications leases due notifications to owner.
func (db *DB) ClaimNotifications(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (_ []*callvault.Notification, err error) {
	defer wrap(&err, "sqlite: claim notifications")
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := expandChanges(ctx, tx); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `UPDATE notification_outbox SET due = ?, owner = ?
		WHERE seq IN (SELECT seq FROM notification_outbox WHERE due <= ? ORDER BY due, seq LIMIT ?)
		RETURNING seq, tenant, subscription_id, record_id, change, created, attempts, deferred`,
		now.Add(lease).UnixNano(), owner, now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	claimed, err := outboxsql.ReadClaimed(rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	out, orphans, err := outboxsql.Resolve(claimed, func(tenant, id string) ([]byte, error) {
		rows, err := tx.QueryContext(ctx, `SELECT body FROM subscriptions WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return outboxsql.Body(rows)
	})
	if err != nil {
		return nil, err
	}
	for _, seq := range orphans {
		if _, err := tx.ExecContext(ctx, `DELETE FROM notification_outbox WHERE seq = ?`, seq); err != nil {
			return nil, err
		}
	}
	return out, tx.Commit()
}

// SettleNotifications deletes the delivered and dropped notifications and
// schedules the others again.
func (db *DB) SettleNotifications(ctx context.Context, owner string, settled []callvault.Settlement) (err error) {
	if len(settled) == 0 {
		return nil
	}
	defer wrap(&err, "sqlite: settle %d notifications", len(settled))
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	done, retry := outboxsql.Part(settled)
	for _, s := range retry {
		if _, err := tx.ExecContext(ctx, `UPDATE notification_outbox SET due = ?, owner = NULL, attempts = attempts + ?, deferred = 1
			WHERE seq = ? AND owner = ?`, s.RetryAt.UnixNano(), outboxsql.Attempted(s), s.Seq, owner); err != nil {
			return err
		}
	}
	if len(done) > 0 {
		// One statement for the whole batch, its seqs as a JSON array.
		seqs, err := json.Marshal(done)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notification_outbox WHERE owner = ? AND seq IN (SELECT value FROM json_each(?))`, owner, string(seqs)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ClaimLifecycle leases the subscriptions whose lifecycle notification is
// due.
func (db *DB) ClaimLifecycle(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) (_ []*callvault.Subscription, err error) {
	defer wrap(&err, "sqlite: claim lifecycle notifications")
	rows, err := db.write.QueryContext(ctx, `UPDATE subscriptions SET next_lifecycle = ?
		WHERE rowid IN (SELECT rowid FROM subscriptions WHERE next_lifecycle > 0 AND next_lifecycle <= ? AND expires > ? ORDER BY next_lifecycle LIMIT ?)
		RETURNING body`, now.Add(lease).UnixNano(), now.UnixNano(), now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	return scanSubscriptions(rows)
}

// SetNextLifecycle sets when a subscription's next lifecycle notification
// is due.
func (db *DB) SetNextLifecycle(ctx context.Context, tenant, id string, next time.Time) (err error) {
	defer wrap(&err, "sqlite: schedule lifecycle of subscription %s", id)
	_, err = db.write.ExecContext(ctx, `UPDATE subscriptions SET next_lifecycle = ? WHERE tenant = ? AND id = ?`, outboxsql.Nanos(next), tenant, id)
	return err
}

// AddDeliveryAttempts logs delivery attempts.
func (db *DB) AddDeliveryAttempts(ctx context.Context, attempts []callvault.DeliveryAttempt) (err error) {
	if len(attempts) == 0 {
		return nil
	}
	defer wrap(&err, "sqlite: log delivery attempts")
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i := range attempts {
		a := &attempts[i]
		body, err := json.Marshal(a)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (tenant, subscription_id, time, body) VALUES (?, ?, ?, ?)`,
			a.Tenant, a.SubscriptionID, a.Time.UnixNano(), body); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ListDeliveryAttempts returns a tenant's latest delivery attempts.
func (db *DB) ListDeliveryAttempts(ctx context.Context, tenant, subscriptionID string, limit int) (_ []*callvault.DeliveryAttempt, err error) {
	defer wrap(&err, "sqlite: list delivery attempts")
	return outboxsql.Attempts(ctx, db.query, `SELECT body FROM delivery_attempts WHERE tenant = ? ORDER BY seq DESC LIMIT ?`,
		`SELECT body FROM delivery_attempts WHERE tenant = ? AND subscription_id = ? ORDER BY seq DESC LIMIT ?`, tenant, subscriptionID, limit)
}

// PruneOutbox deletes expired subscriptions, their notifications, and old
// delivery attempts.
func (db *DB) PruneOutbox(ctx context.Context, now, before time.Time) (err error) {
	defer wrap(&err, "sqlite: prune outbox")
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM notification_outbox WHERE (tenant, subscription_id) IN (SELECT tenant, id FROM subscriptions WHERE expires <= ?)`,
		`DELETE FROM subscriptions WHERE expires <= ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, now.UnixNano()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM delivery_attempts WHERE time < ?`, before.UnixNano()); err != nil {
		return err
	}
	return tx.Commit()
}

// scanSubscriptions reads rows of subscription bodies and closes them.
func scanSubscriptions(rows *sql.Rows) ([]*callvault.Subscription, error) {
	defer rows.Close()
	return jsonrows.Decode[callvault.Subscription](rows)
}
