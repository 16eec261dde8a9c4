package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/callvault/callvault"
)

// Stats counts what an import did.
type Stats struct {
	Records  int // stored: inserted or replaced
	Inserted int
	Replaced int
	Stale    int // skipped: the store holds a higher version
	Sessions int // sessions of the stored records
	Segments int
	Rows     int // report rows stored (new or replaced)
	Rejected int
}

// Rejection is one record an import refused, and why.
type Rejection struct {
	Source string // the file name, or "-" for standard input
	Line   int
	Err    error
}

func (r Rejection) Error() string { return fmt.Sprintf("%s:%d: %v", r.Source, r.Line, r.Err) }

// Importer stores the records of import streams for one tenant. Each record
// is stored whole or not at all; a rejected record does not stop the stream.
type Importer struct {
	Store  callvault.Store
	Tenant string
	// Kind is the report row type of the stream's objects (see ReportKinds),
	// or "" for call records. An object naming its type with "@odata.type"
	// is read as that type whatever Kind says.
	Kind     string
	OnReject func(Rejection)   // called for each rejected record
	OnRecord func(stats Stats) // called after each record, for progress
	norm     *Normalizer
	rows     []callvault.ReportRow
	rowKind  string
}

// rowBatch is how many report rows go to the store in one transaction.
const rowBatch = 500

// Import reads every record of src into the store and adds to stats. It
// returns an error only when the stream or the store fails, not for rejects.
func (im *Importer) Import(ctx context.Context, source string, src io.Reader, stats *Stats) error {
	if im.norm == nil {
		im.norm = NewNormalizer()
	}
	rd := NewReader(src)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, line, err := rd.Next()
		if err == io.EOF {
			return im.flush(ctx, stats)
		}
		var se *SyntaxError
		if errors.As(err, &se) {
			stats.Rejected++
			im.reject(Rejection{Source: source, Line: se.Line, Err: se})
			return im.flush(ctx, stats)
		} else if err != nil {
			return fmt.Errorf("read %s: %w", source, err)
		}
		kind := im.Kind
		if k, ok := ReportKind(raw); ok {
			kind = k
		}
		if kind != "" {
			if err := im.row(ctx, source, line, kind, raw, stats); err != nil {
				return err
			}
			continue
		}
		rec, err := im.norm.Record(im.Tenant, raw)
		if err != nil {
			stats.Rejected++
			im.reject(Rejection{Source: source, Line: line, Err: err})
			continue
		}
		outcome, err := im.Store.PutRecord(ctx, rec)
		if err != nil {
			if callvault.ErrorCode(err) == callvault.EINVALID {
				stats.Rejected++
				im.reject(Rejection{Source: source, Line: line, Err: err})
				continue
			}
			return fmt.Errorf("%s:%d: store record %s: %w", source, line, rec.ID, err)
		}
		switch outcome {
		case callvault.Inserted:
			stats.Inserted++
		case callvault.Replaced:
			stats.Replaced++
		case callvault.Stale:
			stats.Stale++
		}
		if outcome != callvault.Stale {
			stats.Records++
			stats.Sessions += len(rec.Sessions)
			for _, s := range rec.Sessions {
				stats.Segments += len(s.Segments)
			}
		}
		if im.OnRecord != nil {
			im.OnRecord(*stats)
		}
	}
}

// row validates a report row and queues it; rows go to the store in
// batches of one kind.
func (im *Importer) row(ctx context.Context, source string, line int, kind string, raw []byte, stats *Stats) error {
	row, err := im.norm.ReportRow(kind, raw)
	if err != nil {
		stats.Rejected++
		im.reject(Rejection{Source: source, Line: line, Err: err})
		return nil
	}
	if kind != im.rowKind || len(im.rows) >= rowBatch {
		if err := im.flush(ctx, stats); err != nil {
			return err
		}
	}
	im.rowKind = kind
	im.rows = append(im.rows, row)
	return nil
}

// flush stores the queued report rows.
func (im *Importer) flush(ctx context.Context, stats *Stats) error {
	if len(im.rows) == 0 {
		return nil
	}
	if _, err := im.Store.PutReportRows(ctx, im.Tenant, im.rowKind, im.rows); err != nil {
		return fmt.Errorf("store %d %s rows: %w", len(im.rows), im.rowKind, err)
	}
	stats.Rows += len(im.rows)
	im.rows = im.rows[:0]
	if im.OnRecord != nil {
		im.OnRecord(*stats)
	}
	return nil
}

func (im *Importer) reject(r Rejection) {
	if im.OnReject != nil {
		im.OnReject(r)
	}
}
