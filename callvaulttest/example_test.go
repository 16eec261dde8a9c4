package callvaulttest_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/callvault/callvault/callvaulttest"
)

// A call record as Graph returns it with its sessions expanded.
const record = `{"id":"e523d2ed-2966-4b6b-925b-754a88034cc5","version":1,"type":"groupCall",
 "modalities":["audio"],"startDateTime":"2026-11-01T10:00:00Z","endDateTime":"2026-11-01T11:00:00Z",
 "lastModifiedDateTime":"2026-11-01T11:05:00Z",
 "sessions":[
  {"id":"s1","modalities":["audio"],"startDateTime":"2026-11-01T10:00:00Z","endDateTime":"2026-11-01T10:30:00Z"},
  {"id":"s2","modalities":["audio"],"startDateTime":"2026-11-01T10:30:00Z","endDateTime":"2026-11-01T11:00:00Z"}]}`

// A server holding one record, read back as a Graph client reads it.
func Example() {
	srv, err := callvaulttest.NewServer(callvaulttest.Options{Records: [][]byte{[]byte(record)}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/v1.0/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5/sessions?$select=id")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Value []struct{ ID string } `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status)
	for _, s := range page.Value {
		fmt.Println(s.ID)
	}
	// Output:
	// 200 OK
	// s1
	// s2
}
