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
	Store    callvault.Store
	Tenant   string
	OnReject func(Rejection)   // called for each rejected record
	OnRecord func(stats Stats) // called after each record, for progress
	norm     *Normalizer
}

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
			return nil
		}
		var se *SyntaxError
		if errors.As(err, &se) {
			stats.Rejected++
			im.reject(Rejection{Source: source, Line: se.Line, Err: se})
			return nil
		} else if err != nil {
			return fmt.Errorf("read %s: %w", source, err)
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

func (im *Importer) reject(r Rejection) {
	if im.OnReject != nil {
		im.OnReject(r)
	}
}
