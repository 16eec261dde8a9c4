package schema

import "testing"

func TestWithDriftOpensTypesAndAddsEvolvableMembers(t *testing.T) {
	const ns = CallRecordsNamespace + "."
	d := Drift{
		Properties: map[string][]string{ns + "endpoint": {"satelliteLink"}, "no.such.type": {"x"}},
		Members:    map[string][]string{ns + "networkConnectionType": {"satellite", "wifi", "not an identifier"}},
	}
	beta, err := WithDrift(Beta, d)
	if err != nil {
		t.Fatal(err)
	}
	if beta == MustLoad(Beta) {
		t.Fatal("WithDrift changed the shared model")
	}
	if MustLoad(Beta).Type(ns+"endpoint").Open || MustLoad(Beta).Type(ns+"networkConnectionType").Member("satellite") >= 0 {
		t.Fatal("the shared model was changed")
	}
	for _, name := range []string{"endpoint", "participantEndpoint", "serviceEndpoint"} {
		if !beta.Type(ns + name).Open {
			t.Errorf("%s (a drifted type or its subtype) is not open", name)
		}
	}
	if beta.Type(ns + "session").Open {
		t.Error("session, which has no drift, was opened")
	}
	nct := beta.Type(ns + "networkConnectionType")
	i := nct.Member("satellite")
	if i < 0 || !nct.Evolvable(i) || nct.Members[i].Value != 6 {
		t.Errorf("satellite: index %d, evolvable %v, members %v; want past unknownFutureValue with value 6", i, i >= 0 && nct.Evolvable(i), nct.Members)
	}
	if nct.Member("not an identifier") >= 0 || len(nct.Members) != 7 {
		t.Errorf("members %v: want the six declared and satellite", nct.Members)
	}

	v1, err := WithDrift(V1, d)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Type(ns+"endpoint").Open || v1.Type(ns+"networkConnectionType").Member("satellite") < 0 {
		t.Error("v1.0: properties must stay beta's, members apply to both")
	}
	if m, _ := WithDrift(Beta, Drift{}); m != MustLoad(Beta) {
		t.Error("no drift: want the shared model")
	}
}

func TestIsIdentifier(t *testing.T) {
	for s, want := range map[string]bool{"a": true, "_x1": true, "mediaLabel": true, "1a": false, "": false, "a-b": false, "a b": false, "é": false, string(make([]byte, 129)): false} {
		if IsIdentifier(s) != want {
			t.Errorf("IsIdentifier(%q) = %v", s, !want)
		}
	}
}
