package notify

import (
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
)

// AppendNotifications appends the body Graph POSTs to a notificationUrl for
// call records: {"value":[…]}, each item as Graph's documented callRecords
// example writes it (shared/graph/examples), byte for byte in its shape:
// "resource" without a leading slash, "@odata.type" spelled
// "#Microsoft.Graph.callrecord", the expiry with an offset, not "Z".
func AppendNotifications(b []byte, ns []*callvault.Notification) []byte {
	b = append(b, `{"value":[`...)
	for i, n := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendNotification(b, n)
	}
	return append(b, "]}"...)
}

// AppendNotification appends one item of a notification body.
func AppendNotification(b []byte, n *callvault.Notification) []byte {
	s := &n.Subscription
	// A path a client can follow: an imported id with a '/', '?', '#' or
	// '%' is escaped so that it still names one record (Graph's ids are
	// GUIDs, which this leaves as they are).
	resource := "communications/callRecords/" + pathEscaper.Replace(n.RecordID)
	b = append(b, `{"subscriptionId":`...)
	b = odata.AppendString(b, s.ID)
	b = append(b, `,"clientState":`...)
	b = appendNullable(b, s.ClientState)
	b = append(b, `,"changeType":`...)
	b = odata.AppendString(b, n.Change.String())
	b = append(b, `,"resource":`...)
	b = odata.AppendString(b, resource)
	b = append(b, `,"subscriptionExpirationDateTime":`...)
	b = odata.AppendString(b, FormatOffset(s.ExpirationDateTime))
	b = append(b, `,"resourceData":{"@odata.type":"#Microsoft.Graph.callrecord","@odata.id":`...)
	b = odata.AppendString(b, resource)
	b = append(b, `,"id":`...)
	b = odata.AppendString(b, n.RecordID)
	b = append(b, `},"tenantId":`...)
	b = odata.AppendString(b, s.Tenant)
	return append(b, '}')
}

// pathEscaper escapes what would end or split a path segment.
var pathEscaper = strings.NewReplacer("%", "%25", "/", "%2F", "?", "%3F", "#", "%23")

// AppendLifecycle appends the body of reauthorizationRequired lifecycle
// notifications, in the field order of Graph's documented example. No
// resource information: lifecycle notifications carry none.
func AppendLifecycle(b []byte, subs []*callvault.Subscription) []byte {
	b = append(b, `{"value":[`...)
	for i, s := range subs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"subscriptionId":`...)
		b = odata.AppendString(b, s.ID)
		b = append(b, `,"subscriptionExpirationDateTime":`...)
		b = odata.AppendString(b, FormatOffset(s.ExpirationDateTime))
		b = append(b, `,"tenantId":`...)
		b = odata.AppendString(b, s.Tenant)
		b = append(b, `,"clientState":`...)
		b = appendNullable(b, s.ClientState)
		b = append(b, `,"lifecycleEvent":"reauthorizationRequired"}`...)
	}
	return append(b, "]}"...)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return odata.AppendString(b, s)
}

// FormatOffset writes t as Graph writes subscriptionExpirationDateTime in a
// notification: UTC with an explicit +00:00 offset and milliseconds
// ("2023-02-28T00:00:00.000+00:00", the documented example).
func FormatOffset(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000-07:00")
}
