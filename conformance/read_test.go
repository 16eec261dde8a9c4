package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/communications"
	"github.com/microsoftgraph/msgraph-sdk-go/models/callrecords"

	"github.com/callvault/callvault/synth"
)

// importFile runs callvault import on content with extra flags.
func (s *server) importFile(t *testing.T, content string, flags ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rows.jsonl")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"import", "--data", s.data, "--tenant", tenant}, flags...)
	if out, err := exec.Command(binary, append(args, file)...).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
}

func TestTheSDKGetsARecordWithItsExpansions(t *testing.T) {
	const id = "c0ffee00-0000-4000-8000-000000000070"
	s := start(t, synth.RecordWithSessions(tenant, 5, id, 70))
	client, _ := s.client(t, s.token(t))
	ctx := context.Background()

	rec, err := client.Communications().CallRecords().ByCallRecordId(id).Get(ctx, &communications.CallRecordsCallRecordItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &communications.CallRecordsCallRecordItemRequestBuilderGetQueryParameters{Expand: []string{"sessions($expand=segments)"}},
	})
	if err != nil {
		t.Fatal(describe(err))
	}
	if *rec.GetId() != id || rec.GetStartDateTime() == nil || rec.GetVersion() == nil {
		t.Errorf("the record lost its properties: id %v", rec.GetId())
	}
	if n := len(rec.GetSessions()); n != 60 {
		t.Errorf("the expanded sessions hold %d, want one page of 60", n)
	}
	for _, s := range rec.GetSessions() {
		if len(s.GetSegments()) == 0 {
			t.Errorf("session %s has no segments", *s.GetId())
		}
	}
	if rec.GetOrganizerV2() == nil || rec.GetOrganizerV2().GetIdentity() == nil {
		t.Error("organizer_v2 is auto-expanded")
	}
	firstSession := *rec.GetSessions()[0].GetId()

	rec, err = client.Communications().CallRecords().ByCallRecordId(id).Get(ctx, &communications.CallRecordsCallRecordItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &communications.CallRecordsCallRecordItemRequestBuilderGetQueryParameters{Expand: []string{"participants_v2"}},
	})
	if err != nil {
		t.Fatal(describe(err))
	}
	if n := len(rec.GetParticipantsV2()); n == 0 {
		t.Error("no participants_v2 were expanded")
	}
	for _, p := range rec.GetParticipantsV2() {
		if p.GetId() == nil || p.GetIdentity() == nil {
			t.Errorf("a participant lost its id or identity")
		}
	}

	n, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().Count().Get(ctx, nil)
	if err != nil || n == nil || *n != 70 {
		t.Errorf("sessions/$count = %v, %v; want 70", n, describe(err))
	}
	one, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().BySessionId(firstSession).Get(ctx, nil)
	if err != nil || one.GetCaller() == nil {
		t.Errorf("one session: %v", describe(err))
	}
}

func TestTheSDKListsRecordsWithAStartDateTimeFilter(t *testing.T) {
	var buf bytes.Buffer
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if _, err := synth.Write(&buf, synth.Config{Tenant: tenant, Seed: 42, Records: 200, From: from, To: from.Add(10 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cut := from.Add(4 * 24 * time.Hour)
	want := 0
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var r struct {
			Start time.Time `json:"startDateTime"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if !r.Start.Before(cut) {
			want++
		}
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	s := start(t, lines...)
	client, adapter := s.client(t, s.token(t))
	ctx := context.Background()
	filter := "startDateTime ge " + cut.Format(time.RFC3339)
	page, err := client.Communications().CallRecords().Get(ctx, &communications.CallRecordsRequestBuilderGetRequestConfiguration{
		QueryParameters: &communications.CallRecordsRequestBuilderGetQueryParameters{Filter: &filter},
	})
	if err != nil {
		t.Fatal(describe(err))
	}
	it, err := msgraphcore.NewPageIterator[callrecords.CallRecordable](page, adapter, callrecords.CreateCallRecordCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	seen := map[string]bool{}
	err = it.Iterate(ctx, func(r callrecords.CallRecordable) bool {
		if r.GetStartDateTime().Before(cut) {
			t.Errorf("record %s starts at %v, before the filter's %v", *r.GetId(), r.GetStartDateTime(), cut)
		}
		if seen[*r.GetId()] {
			t.Errorf("record %s came twice", *r.GetId())
		}
		seen[*r.GetId()] = true
		got++
		return true
	})
	if err != nil {
		t.Fatal(describe(err))
	}
	if got != want || want < 61 {
		t.Errorf("the iterator returned %d records, want %d (more than a page)", got, want)
	}
	n, err := client.Communications().CallRecords().Count().Get(ctx, nil)
	if err != nil || n == nil || int(*n) != len(lines) {
		t.Errorf("callRecords/$count = %v, %v; want %d", n, describe(err), len(lines))
	}
}

func TestTheSDKCallsTheReportFunctions(t *testing.T) {
	s := start(t, synth.RecordWithSessions(tenant, 1, "r", 1))
	var pstn, direct strings.Builder
	for i := range 5 {
		fmt.Fprintf(&pstn, `{"id":"pstn-%d","userId":"u%d","startDateTime":"2026-11-0%dT10:00:00Z","duration":%d,"charge":0.05,"currency":"USD","callType":"user_out","callDurationSource":"microsoft"}`+"\n", i, i, i+1, 60*i)
		fmt.Fprintf(&direct, `{"id":"dr-%d","correlationId":"c%d","startDateTime":"2026-11-0%dT10:00:00Z","successfulCall":true,"finalSipCode":0,"duration":%d}`+"\n", i, i, i+1, i)
	}
	s.importFile(t, pstn.String(), "--type", "pstnCallLogRow")
	s.importFile(t, direct.String(), "--type", "directRoutingLogRow")
	client, _ := s.client(t, s.token(t))
	ctx := context.Background()
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)

	calls, err := client.Communications().CallRecords().MicrosoftGraphCallRecordsGetPstnCallsWithFromDateTimeWithToDateTime(&from, &to).GetAsGetPstnCallsWithFromDateTimeWithToDateTimeGetResponse(ctx, nil)
	if err != nil {
		t.Fatal(describe(err))
	}
	// Both bounds are inclusive: Nov 2, 3 and 4 (at 10:00, the upper bound).
	if n := len(calls.GetValue()); n != 3 {
		t.Errorf("getPstnCalls returned %d rows, want 3", n)
	}
	for _, row := range calls.GetValue() {
		if row.GetCharge() == nil || row.GetCallDurationSource() == nil {
			t.Errorf("row %v lost its charge or duration source", row.GetId())
		}
	}
	routed, err := client.Communications().CallRecords().MicrosoftGraphCallRecordsGetDirectRoutingCallsWithFromDateTimeWithToDateTime(&from, &to).GetAsGetDirectRoutingCallsWithFromDateTimeWithToDateTimeGetResponse(ctx, nil)
	if err != nil {
		t.Fatal(describe(err))
	}
	// toDateTime is exclusive here: Nov 2 and 3 only.
	if n := len(routed.GetValue()); n != 2 {
		t.Errorf("getDirectRoutingCalls returned %d rows, want 2", n)
	}
}
