package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/ingest"
)

const records = "/v1.0/communications/callRecords"

func TestReadAPIResponses(t *testing.T) {
	f := newFixture(t, nil)
	pstnOnly := map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantA, Roles: []string{"CallRecord-PstnCalls.Read.All"}})}
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
	}{
		{"records list", records, nil},
		{"records list beta with count", "/beta/communications/callRecords?$count=true&$select=id,startDateTime", nil},
		{"records filtered by start", records + "?$filter=startDateTime%20ge%202024-06-01T00:00:00Z%20and%20startDateTime%20lt%202024-06-02T09:00:00Z", nil},
		{"records filtered by participant", records + "?$filter=participants_v2/any(p:p/id%20eq%20'u-daichi')&$select=id", nil},
		{"records first page", records + "?$select=id", map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{"records count path", records + "/$count", nil},
		{"record", records + "/" + meetingID, nil},
		{"record selected", records + "/" + meetingID + "?$select=id,version,startDateTime", map[string]string{"Prefer": "odata.maxpagesize=5"}},
		{"record with sessions and segments", records + "/" + meetingID + "?$expand=sessions($expand=segments)", map[string]string{"Prefer": "odata.maxpagesize=2, omit-values=nulls"}},
		{"record with participants", records + "/r-2024-06-01?$expand=participants_v2", map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{"record with both expansions", "/beta/communications/callRecords('r-2024-06-01')?$select=id&$expand=participants_v2,sessions($select=id)", nil},
		{"session", records + "/" + meetingID + "/sessions/s-1?$expand=segments", map[string]string{"Prefer": "omit-values=nulls"}},
		{"session selected", records + "/" + meetingID + "/sessions('s-2')?$select=id,caller", nil},
		{"sessions count", records + "/" + meetingID + "/sessions/$count", nil},
		{"sessions with count", records + "/" + meetingID + "/sessions?$count=true&$select=id", nil},
		{"segments", records + "/" + meetingID + "/sessions/s-1/segments?$count=true", map[string]string{"Prefer": "omit-values=nulls"}},
		{"segment", records + "/" + meetingID + "/sessions/s-1/segments/g-2", nil},
		{"participants", records + "/r-2024-06-01/participants_v2?$count=true", map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{"participant", records + "/r-2024-06-01/participants_v2/u-daichi", nil},
		{"participants count", records + "/r-2024-06-01/participants_v2/$count", nil},
		{"organizer", records + "/" + meetingID + "/organizer_v2", nil},
		{"pstn calls v1.0", records + "/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)", nil},
		{"pstn calls beta", "/beta/communications/callRecords/getPstnCalls(fromDateTime=2019-11-01T00:00:00Z,toDateTime=2019-12-01T00:00:00Z)", nil},
		{"pstn calls paged", records + "/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)", map[string]string{"Prefer": "odata.maxpagesize=1"}},
		{"pstn calls second page", records + "/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)?$skip=1", map[string]string{"Prefer": "odata.maxpagesize=1"}},
		{"pstn calls with the pstn role", records + "/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)", pstnOnly},
		{"direct routing calls exclude toDateTime", records + "/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)", nil},
		{"sms log", "/beta/communications/callRecords/getSmsLog(fromDateTime=2022-10-01,toDateTime=2022-11-01)", nil},
		{"blocked users log", "/beta/communications/callRecords/getPstnBlockedUsersLog(fromDateTime=2022-10-01,toDateTime=2022-11-01)", nil},
		{"dial-out report", "/beta/communications/callRecords/getPstnOnlineMeetingDialoutReport(fromDateTime=2022-10-01,toDateTime=2022-11-01)", nil},

		{"error records filter eq", records + "?$filter=startDateTime%20eq%202024-06-01T00:00:00Z", nil},
		{"error records filter on type", records + "?$filter=type%20eq%20'groupCall'", nil},
		{"error records expand", records + "?$expand=sessions", nil},
		{"error record expand unknown", records + "/" + meetingID + "?$expand=colours", nil},
		{"error record unknown", records + "/nope", nil},
		{"error session unknown", records + "/" + meetingID + "/sessions/nope", nil},
		{"error segment unknown", records + "/" + meetingID + "/sessions/s-1/segments/nope", nil},
		{"error participant unknown", records + "/r-2024-06-01/participants_v2/nope", nil},
		{"error organizer missing", records + "/r-2024-06-02/organizer_v2", nil},
		{"participants selected", records + "/r-2024-06-01/participants_v2?$select=id", map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{"error pstn calls without toDateTime", records + "/getPstnCalls(fromDateTime=2019-11-01)", nil},
		{"error pstn calls over 90 days", records + "/getPstnCalls(fromDateTime=2019-01-01,toDateTime=2019-12-01)", nil},
		{"error pstn calls reversed", records + "/getPstnCalls(fromDateTime=2019-12-01,toDateTime=2019-11-01)", nil},
		{"error pstn calls bad date", records + "/getPstnCalls(fromDateTime=yesterday,toDateTime=2019-11-01)", nil},
		{"error sms log on v1.0", records + "/getSmsLog(fromDateTime=2022-10-01,toDateTime=2022-11-01)", nil},
		{"error pstn role reads no records", records, pstnOnly},
		{"another tenant sees none of the pstn calls", records + "/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)", map[string]string{"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantB})}},

		// Added after the cases above, so that their request ids stay.
		{"records filtered with plus for spaces", records + "?$filter=startDateTime+ge+2024-06-01T00:00:00Z+and+startDateTime+lt+2024-06-02T09:00:00Z", nil},
		{"records filtered with an offset", records + "?$filter=startDateTime+ge+2024-06-01T02:00:00%2B02:00&$select=id,startDateTime", nil},
		{"error records filter offset lost", records + "?$filter=startDateTime+ge+2024-06-01T02:00:00+02:00", nil},
		{"records before the zero instant", records + "?$count=true&$filter=startDateTime%20lt%200001-01-01T00:00:00Z%20and%20startDateTime%20gt%202024-06-01T00:00:00Z", nil},
		{"records count from the zero instant", records + "/$count?$filter=startDateTime%20ge%200001-01-01T00:00:00Z", nil},
		{"pstn calls at the zero instant", records + "/getPstnCalls(fromDateTime=0001-01-01,toDateTime=0001-01-01)", nil},
		{"records selected with their organizer", records + "?$select=id&$expand=organizer_v2($select=id)", map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{"record with participants selected", records + "/r-2024-06-01?$select=id&$expand=participants_v2($select=id),organizer_v2($select=id)", map[string]string{"Prefer": "odata.maxpagesize=2"}},
		{"participant selected", records + "/r-2024-06-01/participants_v2/u-daichi?$select=identity", nil},
		{"organizer selected", records + "/" + meetingID + "/organizer_v2?$select=id", nil},
		{"error segments select", records + "/" + meetingID + "/sessions/s-1/segments?$select=id", nil},
		{"error records count with select", records + "/$count?$select=id", nil},
		{"error expand star with options", records + "/" + meetingID + "?$expand=*($select=id)", nil},
		{"session with format json", records + "/" + meetingID + "/sessions/s-2?$format=json&$select=id", nil},
		{"error format xml", records + "/" + meetingID + "/sessions/s-2?$format=xml", nil},
		{"error calls not served", "/v1.0/communications/calls", nil},
		{"error unknown communications segment", "/v1.0/communications/colours", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "read/"+strings.ReplaceAll(tc.name, " ", "-"), render(t, f.do(t, http.MethodGet, tc.path, tc.headers)))
		})
	}
}

func TestMetadataNeedsNoToken(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []string{"v1.0", "beta"} {
		resp := f.do(t, http.MethodGet, "/"+v+"/$metadata", map[string]string{"Authorization": ""})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/xml;charset=utf-8" {
			t.Fatalf("%s: %d %s", v, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{`<Schema Namespace="microsoft.graph.callRecords"`, `<EntityType Name="session"`, `<Singleton Name="communications"`, `Org.OData.Core.V1.AutoExpand`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("%s: $metadata lacks %s", v, want)
			}
		}
		if bytes.Contains(body, []byte("graph.adhocCall")) {
			t.Errorf("%s: $metadata refers to types it does not define", v)
		}
		hasSms := bytes.Contains(body, []byte(`Name="getSmsLog"`))
		if hasSms != (v == "beta") {
			t.Errorf("%s: getSmsLog in $metadata: %v", v, hasSms)
		}
	}
}

func TestRetentionHidesOldRecords(t *testing.T) {
	// Records of the fixture are from 2019 to 2024; now is 2026-11-27.
	f := newFixtureWith(t, nil, 30*24*time.Hour)
	im := &ingest.Importer{Store: f.store, Tenant: tenantA}
	var stats ingest.Stats
	recent := `{"id":"recent","version":1,"startDateTime":"2026-11-20T10:00:00Z","endDateTime":"2026-11-20T10:30:00Z","sessions":[{"id":"s"}]}`
	if err := im.Import(context.Background(), "recent", strings.NewReader(recent), &stats); err != nil {
		t.Fatal(err)
	}
	status := func(path string) int {
		resp := f.do(t, http.MethodGet, path, nil)
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{
		records + "/recent":                         200,
		records + "/recent/sessions":                200,
		records + "/" + meetingID:                   404,
		records + "/" + meetingID + "/sessions":     404,
		records + "/" + meetingID + "/sessions/s-1": 404,
		records + "/" + meetingID + "/organizer_v2": 404,
		records + "/r-2024-06-01/participants_v2":   404,
	} {
		if got := status(path); got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
	resp := f.do(t, http.MethodGet, records+"?$count=true&$select=id", nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`"@odata.count":1,"value":[{"id":"recent"}]`)) {
		t.Errorf("the list holds only what retention keeps: %s", body)
	}
}

// pages follows next links from path, collecting the values of key.
func (f *fixture) pages(t *testing.T, path, key string, headers map[string]string) (ids []string) {
	t.Helper()
	for n := 0; path != ""; n++ {
		resp := f.do(t, http.MethodGet, path, headers)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		var items []struct {
			ID string `json:"id"`
		}
		json.Unmarshal(page[key], &items)
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		var next string
		json.Unmarshal(page[nextKey(key)], &next)
		path = strings.TrimPrefix(next, "https://graph.microsoft.com")
		key = "value" // continuations are plain collections
		if n > 200 {
			t.Fatal("paging does not end")
		}
	}
	return ids
}

func nextKey(key string) string {
	if key == "value" {
		return "@odata.nextLink"
	}
	return key + "@odata.nextLink"
}

func TestALargeRecordPagesThroughEveryPath(t *testing.T) {
	f := newFixture(t, nil)
	var b strings.Builder
	b.WriteString(`{"id":"huge","version":1,"startDateTime":"2024-01-01T00:00:00Z","endDateTime":"2024-01-01T05:00:00Z","participants_v2":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"p%04d","identity":{"user":{"id":"p%04d","displayName":"Person %d"}}}`, i, i, i)
	}
	b.WriteString(`],"sessions":[`)
	for i := range 3000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"s%04d","segments":[{"id":"g"}]}`, i)
	}
	b.WriteString("]}")
	im := &ingest.Importer{Store: f.store, Tenant: tenantA}
	var stats ingest.Stats
	if err := im.Import(context.Background(), "huge", strings.NewReader(b.String()), &stats); err != nil || stats.Rejected > 0 {
		t.Fatal(err, stats)
	}
	check := func(name string, ids []string, n int, prefix string) {
		t.Helper()
		if len(ids) != n {
			t.Fatalf("%s: %d items, want %d", name, len(ids), n)
		}
		for i, id := range ids {
			if want := fmt.Sprintf("%s%04d", prefix, i); id != want {
				t.Fatalf("%s: item %d is %s, want %s", name, i, id, want)
			}
		}
	}
	check("sessions", f.pages(t, records+"/huge/sessions?$expand=segments", "value", nil), 3000, "s")
	check("expanded sessions", f.pages(t, records+"/huge?$expand=sessions($expand=segments)", "sessions", nil), 3000, "s")
	check("participants", f.pages(t, records+"/huge/participants_v2", "value", nil), 1000, "p")
	check("expanded participants", f.pages(t, records+"/huge?$expand=participants_v2", "participants_v2", nil), 1000, "p")
	check("small pages", f.pages(t, records+"/huge/participants_v2", "value", map[string]string{"Prefer": "odata.maxpagesize=7"}), 1000, "p")
	check("selected participants", f.pages(t, records+"/huge/participants_v2?$select=id", "value", nil), 1000, "p")
	check("expanded selected participants", f.pages(t, records+"/huge?$expand=participants_v2($select=id)", "participants_v2", nil), 1000, "p")

	// A cursor is bound to its $select: one of the whole list does not
	// page a selected one.
	resp := f.do(t, http.MethodGet, records+"/huge/participants_v2", nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var page struct {
		Next string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(body, &page); err != nil || !strings.Contains(page.Next, "$skiptoken=") {
		t.Fatalf("no next link: %v %.200s", err, body)
	}
	_, tok, _ := strings.Cut(page.Next, "$skiptoken=")
	resp = f.do(t, http.MethodGet, records+"/huge/participants_v2?$select=id&$skiptoken="+tok, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("the whole list's cursor with $select: %d, want 400", resp.StatusCode)
	}
}

func TestRecordsPageInAStableOrder(t *testing.T) {
	f := newFixture(t, nil)
	all := f.pages(t, records+"?$select=id", "value", nil)
	paged := f.pages(t, records+"?$select=id", "value", map[string]string{"Prefer": "odata.maxpagesize=1"})
	if strings.Join(all, ",") != strings.Join(paged, ",") || len(all) != 6 {
		t.Errorf("one page: %v\npages of one: %v", all, paged)
	}
}
