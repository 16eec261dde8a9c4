package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/communications"
	"github.com/microsoftgraph/msgraph-sdk-go/models/callrecords"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/callvault/callvault/synth"
)

const tenant = "5b7e0c4a-3f1d-4e2a-9b8c-7d6e5f4a3b2c"

// binary is the callvault binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "callvault-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "callvault")
	build := exec.Command("go", "build", "-o", binary, "./cmd/callvault")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build callvault:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running callvault with its data directory.
type server struct {
	data, url string
}

// start imports the records, then serves them on a free loopback port.
func start(t *testing.T, records ...[]byte) *server {
	t.Helper()
	s := &server{data: t.TempDir()}
	file := filepath.Join(t.TempDir(), "records.jsonl")
	var content []byte
	for _, r := range records {
		content = append(append(content, r...), '\n')
	}
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "import", "--data", s.data, "--tenant", tenant, file).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	s.serve(t)
	return s
}

// serve runs callvault serve on s's data directory, with extra flags, on a
// free loopback port, and sets s.url; the server stops with the test.
func (s *server) serve(t *testing.T, extra ...string) {
	t.Helper()
	args := append([]string{"serve", "--data", s.data, "--addr", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "callvault listening on "); ok {
			s.url, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if s.url == "" {
		t.Fatal("the server did not say where it listens")
	}
	go func() {
		for lines.Scan() {
		}
	}()
}

// token mints a token with the callvault binary.
func (s *server) token(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"token", "--data", s.data, "--tenant", tenant}, args...)...).Output()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// bearer is an authentication provider that sends a fixed token: the
// standard Azure provider refuses plain-http base URLs.
type bearer string

func (b bearer) AuthenticateRequest(_ context.Context, req *abs.RequestInformation, _ map[string]any) error {
	req.Headers.Add("Authorization", "Bearer "+string(b))
	return nil
}

func (s *server) client(t *testing.T, token string) (*msgraphsdk.GraphServiceClient, *msgraphsdk.GraphRequestAdapter) {
	t.Helper()
	adapter, err := msgraphsdk.NewGraphRequestAdapter(bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(s.url + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), adapter
}

func TestTheSDKPagesThroughEverySessionWithSegments(t *testing.T) {
	const id = "c0ffee00-0000-4000-8000-000000000150"
	s := start(t, synth.RecordWithSessions(tenant, 7, id, 150))
	client, adapter := s.client(t, s.token(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	page, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().Get(ctx,
		&communications.CallRecordsItemSessionsRequestBuilderGetRequestConfiguration{
			QueryParameters: &communications.CallRecordsItemSessionsRequestBuilderGetQueryParameters{Expand: []string{"segments"}},
		})
	if err != nil {
		t.Fatalf("first page: %v", describe(err))
	}
	if n := len(page.GetValue()); n != 60 {
		t.Errorf("the first page has %d sessions, want 60", n)
	}
	it, err := msgraphcore.NewPageIterator[callrecords.Sessionable](page, adapter, callrecords.CreateSessionCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var segments int
	err = it.Iterate(ctx, func(session callrecords.Sessionable) bool {
		sid := *session.GetId()
		if seen[sid] {
			t.Errorf("session %s came twice", sid)
		}
		seen[sid] = true
		if len(session.GetSegments()) == 0 {
			t.Errorf("session %s has no segments", sid)
		}
		segments += len(session.GetSegments())
		if session.GetStartDateTime() == nil || session.GetCaller() == nil {
			t.Errorf("session %s lost its properties", sid)
		}
		return true
	})
	if err != nil {
		t.Fatalf("iterate: %v", describe(err))
	}
	if len(seen) != 150 {
		t.Errorf("the iterator returned %d sessions, want 150", len(seen))
	}
	t.Logf("150 sessions, %d segments, through the SDK's PageIterator", segments)
}

func TestTheSDKReadsTypedValues(t *testing.T) {
	const id = "c0ffee00-0000-4000-8000-000000000003"
	s := start(t, synth.RecordWithSessions(tenant, 11, id, 3))
	client, _ := s.client(t, s.token(t))
	page, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().Get(context.Background(),
		&communications.CallRecordsItemSessionsRequestBuilderGetRequestConfiguration{
			QueryParameters: &communications.CallRecordsItemSessionsRequestBuilderGetQueryParameters{
				Select: []string{"id", "caller", "callee", "modalities"},
				Expand: []string{"segments"},
			},
		})
	if err != nil {
		t.Fatal(describe(err))
	}
	for _, session := range page.GetValue() {
		// Derived types come through @odata.type: the SDK builds the subtype.
		switch session.GetCaller().(type) {
		case callrecords.ParticipantEndpointable, callrecords.ServiceEndpointable:
		default:
			t.Errorf("caller of %s is %T, want a participant or service endpoint", *session.GetId(), session.GetCaller())
		}
		if session.GetStartDateTime() != nil {
			t.Errorf("$select=id,caller,callee,modalities returned startDateTime")
		}
		if len(session.GetModalities()) == 0 {
			t.Errorf("session %s has no modalities", *session.GetId())
		}
	}
}

func TestTheSDKGetsGraphErrors(t *testing.T) {
	s := start(t, synth.RecordWithSessions(tenant, 3, "known", 1))
	for _, tc := range []struct {
		name   string
		token  string
		record string
		status int
		code   string
	}{
		{"an unknown record is 404", s.token(t), "unknown", 404, "NotFound"},
		{"a delegated token is 403", s.token(t, "--delegated"), "known", 403, "Forbidden"},
		{"a token without the role is 403", s.token(t, "--roles", "User.Read.All"), "known", 403, "Forbidden"},
		{"a bad token is 401", "not-a-token", "known", 401, "InvalidAuthenticationToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := s.client(t, tc.token)
			_, err := client.Communications().CallRecords().ByCallRecordId(tc.record).Sessions().Get(context.Background(), nil)
			var oe *odataerrors.ODataError
			if !errors.As(err, &oe) {
				t.Fatalf("got %T %v, want an *odataerrors.ODataError", err, err)
			}
			if oe.ResponseStatusCode != tc.status || oe.GetErrorEscaped() == nil || *oe.GetErrorEscaped().GetCode() != tc.code {
				t.Fatalf("got %d %v, want %d %s", oe.ResponseStatusCode, describe(err), tc.status, tc.code)
			}
			inner := oe.GetErrorEscaped().GetInnerError()
			if inner == nil || inner.GetDate() == nil || inner.GetRequestId() == nil || inner.GetClientRequestId() == nil {
				t.Errorf("innerError lacks date, request-id or client-request-id: %v", describe(err))
			}
		})
	}
}

// describe spells out an ODataError, which prints as a bare type otherwise.
func describe(err error) string {
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.GetErrorEscaped() != nil {
		e := oe.GetErrorEscaped()
		return fmt.Sprintf("HTTP %d %s: %s", oe.ResponseStatusCode, deref(e.GetCode()), deref(e.GetMessage()))
	}
	return fmt.Sprint(err)
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
