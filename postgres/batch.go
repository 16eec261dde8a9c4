package postgres

import (
	"context"
	"fmt"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// PutRecords stores many records in one transaction, as PutRecord would
// each: one commit, and its flush to disk, for the whole batch instead of
// one a record, which is what makes a bulk import fast (ingest.BatchStore).
//
// errs[i] says why records[i] was refused: every record is checked before
// the transaction begins, and what PostgreSQL could refuse of a record (a
// key it cannot hold, a time out of range) is checked there, so a refused
// record writes nothing and the others go on. err is a failure of the whole
// batch, of which nothing is then stored.
func (db *DB) PutRecords(ctx context.Context, records []*callvault.Record) (outcomes []callvault.PutOutcome, errs []error, err error) {
	if len(records) == 0 {
		return nil, nil, nil
	}
	puts := make([]*recordPut, len(records))
	errs = make([]error, len(records))
	for i, r := range records {
		puts[i], errs[i] = preparePut(r)
	}
	defer wrap(&err, "postgres: put %d records", len(records))
	if db.parts.on {
		for _, p := range puts {
			if p == nil {
				continue
			}
			if err := db.ensurePartitions(ctx, "", p.start); err != nil {
				return nil, nil, err
			}
		}
	}
	outcomes = make([]callvault.PutOutcome, len(records))
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		clear(outcomes)
		for i, p := range puts {
			if p == nil {
				continue
			}
			o, err := p.put(ctx, tx, db.parts.on)
			if err != nil {
				return fmt.Errorf("record %s: %w", p.r.ID, err)
			}
			outcomes[i] = o
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range puts {
		if p != nil {
			db.replicas.wrote(p.r.Tenant)
		}
	}
	return outcomes, errs, nil
}
