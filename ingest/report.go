package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/schema"
)

// ReportKinds maps the row types of the report functions (getPstnCalls,
// getDirectRoutingCalls, getSmsLog, getPstnBlockedUsersLog,
// getPstnOnlineMeetingDialoutReport) to the property their date range
// selects on; the dial-out report's rows have none.
var ReportKinds = map[string]string{
	"pstnCallLogRow":                 "startDateTime",
	"directRoutingLogRow":            "startDateTime",
	"smsLogRow":                      "sentDateTime",
	"pstnBlockedUsersLogRow":         "blockDateTime",
	"pstnOnlineMeetingDialoutReport": "",
}

// ReportKind returns the row type a raw object names with "@odata.type",
// when it names a report row type.
func ReportKind(raw []byte) (string, bool) {
	if !json.Valid(raw) {
		return "", false
	}
	return reportKind(raw)
}

// reportKind is ReportKind for raw that is valid JSON.
func reportKind(raw []byte) (string, bool) {
	o, ok := jsonx.NewObject(raw)
	if !ok {
		return "", false
	}
	for m, ok := o.Next(); ok; m, ok = o.Next() {
		if string(m.Key) == "@odata.type" {
			name := strings.TrimPrefix(strings.TrimPrefix(unquote(m.Value), "#"), schema.CallRecordsNamespace+".")
			_, isReport := ReportKinds[name]
			return name, isReport
		}
	}
	return "", false
}

// ReportRow validates one row of a report and returns it in stored form.
// Its key is its id, or a digest of its canonical body when it has none.
func (n *Normalizer) ReportRow(kind string, raw []byte) (callvault.ReportRow, error) {
	timeProp, ok := ReportKinds[kind]
	t := n.model.Type(schema.CallRecordsNamespace + "." + kind)
	if !ok || t == nil {
		return callvault.ReportRow{}, (&Error{Reason: "'" + kind + "' is not a report row type"}).finish()
	}
	if err := checkSyntax(raw); err != nil {
		return callvault.ReportRow{}, err
	}
	return n.reportRow(kind, t, timeProp, raw)
}

// reportRow is ReportRow for raw that checkSyntax has passed.
func (n *Normalizer) reportRow(kind string, t *schema.Type, timeProp string, raw []byte) (callvault.ReportRow, error) {
	var buf []byte
	if _, err := n.object(t, raw, &buf, 0, false); err != nil {
		return callvault.ReportRow{}, err.finish()
	}
	row := callvault.ReportRow{Body: buf}
	o, _ := jsonx.NewObject(buf)
	for m, ok := o.Next(); ok; m, ok = o.Next() {
		switch string(m.Key) {
		case "id":
			row.Key = unquote(m.Value)
		case timeProp:
			row.Time, _ = time.Parse(time.RFC3339Nano, unquote(m.Value))
			if err := indexable(row.Time, m.Value); err != nil {
				return callvault.ReportRow{}, err.at(key(timeProp)).finish()
			}
		}
	}
	if timeProp != "" && row.Time.IsZero() {
		return callvault.ReportRow{}, (&Error{Reason: "missing " + timeProp + ": the report's date range selects rows on it"}).at(key(timeProp)).finish()
	}
	if row.Key == "" {
		sum := sha256.Sum256(buf)
		row.Key = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return row, nil
}
