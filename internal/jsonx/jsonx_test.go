package jsonx

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestObjectWalksMembersInOrder(t *testing.T) {
	in := ` { "a" : 1 , "b\"q":"x,}]" ,"c":{"d":[1,{"e":null}]},"f":[],"g":true } `
	o, ok := NewObject([]byte(in))
	if !ok {
		t.Fatal("not an object")
	}
	var got []string
	for m, ok := o.Next(); ok; m, ok = o.Next() {
		got = append(got, string(m.Key)+"="+string(m.Value))
		if !json.Valid(m.Value) {
			t.Errorf("member %s: value %q is not valid JSON", m.Key, m.Value)
		}
	}
	want := `a=1|b\"q="x,}]"|c={"d":[1,{"e":null}]}|f=[]|g=true`
	if s := strings.Join(got, "|"); s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
}

func TestArrayWalksElements(t *testing.T) {
	a, ok := NewArray([]byte(`[ "x\\" , 2.5e3, [ ], {"k":"]"} ]`))
	if !ok {
		t.Fatal("not an array")
	}
	var got []string
	for v, ok := a.Next(); ok; v, ok = a.Next() {
		got = append(got, string(v))
	}
	if s := strings.Join(got, "|"); s != `"x\\"|2.5e3|[ ]|{"k":"]"}` {
		t.Errorf("got %s", s)
	}
	empty, _ := NewArray([]byte(`[]`))
	if _, ok := empty.Next(); ok {
		t.Error("an empty array has no elements")
	}
}

func TestNotAnObject(t *testing.T) {
	if _, ok := NewObject([]byte(`[1]`)); ok {
		t.Error("an array is not an object")
	}
	if _, ok := NewArray([]byte(`{}`)); ok {
		t.Error("an object is not an array")
	}
}
