package schema

import (
	"strings"
	"testing"
)

func TestModelsLoad(t *testing.T) {
	for _, v := range []string{V1, Beta} {
		m, err := Load(v)
		if err != nil {
			t.Fatalf("Load(%s): %v", v, err)
		}
		session := m.Type("microsoft.graph.callRecords.session")
		if session == nil || session.Kind != Entity {
			t.Fatalf("%s: session is %+v", v, session)
		}
		var names []string
		for _, p := range session.Properties {
			names = append(names, p.Name)
		}
		// id comes from graph.entity, then the session's own, in CSDL order.
		want := "id callee caller endDateTime failureInfo isTest modalities startDateTime segments"
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s: session properties\n got %s\nwant %s", v, got, want)
		}
		if p := session.Property("segments"); p == nil || !p.Navigation || !p.Collection || !p.ContainsTarget {
			t.Errorf("%s: segments is %+v", v, p)
		}
		if p := session.Property("startDateTime"); p.Nullable || p.Type.Name != EdmDateTimeOffset {
			t.Errorf("%s: startDateTime is %+v", v, p)
		}
	}
}

func TestEnumsKnowTheirSentinel(t *testing.T) {
	m := MustLoad(V1)
	pf := m.Type("microsoft.graph.callRecords.productFamily")
	acs := pf.Member("azureCommunicationServices")
	if acs < 0 || !pf.Evolvable(acs) {
		t.Errorf("azureCommunicationServices should be evolvable: index %d, sentinel %d", acs, pf.Sentinel)
	}
	if pf.Evolvable(pf.Member("teams")) || pf.Evolvable(pf.Sentinel) {
		t.Error("members up to the sentinel are not evolvable")
	}
	dir := m.Type("microsoft.graph.callRecords.mediaStreamDirection")
	if dir.Sentinel != -1 || dir.Evolvable(1) {
		t.Errorf("mediaStreamDirection has no sentinel, got %d", dir.Sentinel)
	}
}

func TestDerivedTypesAndOpenTypes(t *testing.T) {
	m := MustLoad(Beta)
	endpoint := m.Type("microsoft.graph.callRecords.endpoint")
	var derived []string
	for _, d := range endpoint.Derived {
		derived = append(derived, d.ShortName())
	}
	if got := strings.Join(derived, ","); got != "participantEndpoint,serviceEndpoint" {
		t.Errorf("endpoint derived types: %s", got)
	}
	pe := m.Type("microsoft.graph.callRecords.participantEndpoint")
	if !pe.DerivesFrom(endpoint) || pe.Property("userAgent") == nil || pe.Property("feedback") == nil {
		t.Error("participantEndpoint must inherit userAgent and add feedback")
	}
	if ua := m.Type("microsoft.graph.callRecords.userAgent"); !ua.Abstract {
		t.Error("userAgent is abstract")
	}
	if !m.Type("microsoft.graph.callRecords.feedbackTokenSet").Open {
		t.Error("feedbackTokenSet is open")
	}
	// The alias graph. resolves to microsoft.graph.
	if m.Type("graph.identitySet") == nil || !m.Type("microsoft.graph.communicationsIdentitySet").Open {
		t.Error("referenced graph types are missing")
	}
	if p := pe.Property("associatedIdentity"); p.Type.Name != "microsoft.graph.identity" {
		t.Errorf("associatedIdentity type %s", p.Type.Name)
	}
}

func TestVersionsDiffer(t *testing.T) {
	v1, beta := MustLoad(V1), MustLoad(Beta)
	if v1.Type("microsoft.graph.callRecords.smsLogRow") != nil || beta.Type("microsoft.graph.callRecords.smsLogRow") == nil {
		t.Error("smsLogRow is beta only")
	}
	if v1.Function("getSmsLog") != nil || beta.Function("getSmsLog") == nil || v1.Function("getPstnCalls") == nil {
		t.Error("getSmsLog is beta only, getPstnCalls is in both")
	}
	f := v1.Function("getPstnCalls")
	if f.BindingType != "Collection(microsoft.graph.callRecords.callRecord)" || len(f.Parameters) != 2 || f.ReturnType != "Collection(microsoft.graph.callRecords.pstnCallLogRow)" {
		t.Errorf("getPstnCalls: %+v", f)
	}
}

func TestAnnotationsApply(t *testing.T) {
	m := MustLoad(V1)
	cr := m.Type("microsoft.graph.callRecords.callRecord")
	if !cr.Property("organizer_v2").AutoExpand {
		t.Error("organizer_v2 is auto-expanded")
	}
	if d := cr.Property("organizer").Deprecated; !strings.Contains(d, "organizer_v2") {
		t.Errorf("organizer deprecation note: %q", d)
	}
}
