package callvault

// Validation of the store's inputs, once for every store (as wtf's
// dial.go has Validate on its types): a store calls these first, and adds
// only what its own columns cannot hold. The messages are the caller's:
// graph answers them as 400s.

// ValidateKey checks the tenant and call record id that every read and
// write of one record needs.
func ValidateKey(tenant, recordID string) error {
	if tenant == "" {
		return Errorf(EINVALID, "A tenant is required.")
	} else if recordID == "" {
		return Errorf(EINVALID, "A call record id is required.")
	}
	return nil
}

// ValidateSessionKey checks the key of one session of a record.
func ValidateSessionKey(tenant, recordID, sessionID string) error {
	if err := ValidateKey(tenant, recordID); err != nil {
		return err
	} else if sessionID == "" {
		return Errorf(EINVALID, "A session id is required.")
	}
	return nil
}

// ValidateParticipantKey checks the key of one participant of a record.
func ValidateParticipantKey(tenant, recordID, participantID string) error {
	if err := ValidateKey(tenant, recordID); err != nil {
		return err
	} else if participantID == "" {
		return Errorf(EINVALID, "A participant id is required.")
	}
	return nil
}

// Validate checks the record's key and the page's size and position.
func (q *SessionQuery) Validate() error {
	if err := ValidateKey(q.Tenant, q.RecordID); err != nil {
		return err
	}
	return CheckPage(q.Limit, q.After)
}

// Validate checks the record's key and the page's size and position.
func (q *ParticipantQuery) Validate() error {
	if err := ValidateKey(q.Tenant, q.RecordID); err != nil {
		return err
	}
	return CheckPage(q.Limit, q.After)
}

// Validate checks a query of a page of records: a tenant, a page size, a
// cursor that names a record. Its times are checked by TimeKey.
func (q *RecordQuery) Validate() error {
	if err := q.ValidateCount(); err != nil {
		return err
	} else if q.Limit < 1 {
		return Errorf(EINVALID, "The page size must be 1 or more.")
	} else if q.After != nil && q.After.ID == "" {
		return Errorf(EINVALID, "The cursor must name a call record.")
	}
	return nil
}

// ValidateCount checks a query of how many records match, which has no
// page: a tenant.
func (q *RecordQuery) ValidateCount() error {
	if q.Tenant == "" {
		return Errorf(EINVALID, "A tenant is required.")
	}
	return nil
}

// Validate checks a query of a page of report rows.
func (q *ReportQuery) Validate() error {
	if err := ValidateReportKind(q.Tenant, q.Kind); err != nil {
		return err
	} else if q.Limit < 1 {
		return Errorf(EINVALID, "The page size must be 1 or more.")
	} else if q.Offset < 0 {
		return Errorf(EINVALID, "The number of rows to skip must not be negative.")
	}
	return nil
}

// ValidateReportKind checks the tenant and kind of report rows.
func ValidateReportKind(tenant, kind string) error {
	if tenant == "" {
		return Errorf(EINVALID, "A tenant is required.")
	} else if kind == "" {
		return Errorf(EINVALID, "A report row kind is required.")
	}
	return nil
}

// ValidateReportRows checks report rows to store, each with a key and a
// time a key holds, and returns their times as keys.
func ValidateReportRows(tenant, kind string, rows []ReportRow) (times []int64, err error) {
	if err := ValidateReportKind(tenant, kind); err != nil {
		return nil, err
	}
	times = make([]int64, len(rows))
	for i, r := range rows {
		if r.Key == "" {
			return nil, Errorf(EINVALID, "Report row %d has no key.", i+1)
		} else if times[i], err = TimeKey(r.Time); err != nil {
			return nil, err
		}
	}
	return times, nil
}
