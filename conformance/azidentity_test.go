package conformance

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/communications"
	"github.com/microsoftgraph/msgraph-sdk-go/models/callrecords"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/callvault/callvault/synth"
)

// The client half runs in a child process, so that it trusts callvault's
// local CA the way a user's program does, through SSL_CERT_FILE (Go reads
// it once per process), with no custom transport or certificate pool.
// These variables carry the server's details to it.
const (
	envAuthority = "CONFORMANCE_HTTPS_AUTHORITY" // https://localhost:PORT/
	envBaseURL   = "CONFORMANCE_HTTPS_BASE_URL"  // https://localhost:PORT/v1.0
	envClientID  = "CONFORMANCE_HTTPS_CLIENT_ID"
	envSecret    = "CONFORMANCE_HTTPS_CLIENT_SECRET"
	envRecord    = "CONFORMANCE_HTTPS_RECORD"
)

// TestAzidentityAndTheSDKOverHTTPS is the end-to-end path of a Graph client:
// azidentity's client secret credential gets a token from callvault's
// development issuer (its authority host set to callvault, its CA from
// 'serve --tls auto' in SSL_CERT_FILE), and msgraph-sdk-go with the standard
// Azure identity authentication provider lists sessions over https.
func TestAzidentityAndTheSDKOverHTTPS(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" {
		t.Skip("SSL_CERT_FILE is how this test trusts the local CA; Go honours it on Linux and the BSDs")
	}
	const id = "c0ffee00-0000-4000-8000-0000000005e5"
	data := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append(args[:1:1], append([]string{"--data", data}, args[1:]...)...)...)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("callvault %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
			}
			t.Fatal(err)
		}
		return string(out)
	}
	file := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(file, append(synth.RecordWithSessions(tenant, 5, id, 150), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	run("import", "--tenant", tenant, file)
	env := map[string]string{}
	for _, line := range strings.Split(run("app", "add", "--tenant", tenant, "--name", "conformance"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	caPath := strings.TrimSpace(run("ca"))
	publicURL := startTLS(t, data)

	child := exec.Command(os.Args[0], "-test.run=^TestHTTPSClient$", "-test.v", "-test.count=1")
	child.Env = append(os.Environ(),
		"SSL_CERT_FILE="+caPath,
		envAuthority+"="+publicURL+"/",
		envBaseURL+"="+publicURL+"/v1.0",
		envClientID+"="+env["AZURE_CLIENT_ID"],
		envSecret+"="+env["AZURE_CLIENT_SECRET"],
		envRecord+"="+id,
	)
	out, err := child.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHTTPSClient") {
		t.Fatalf("the client process failed: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "https_test") || strings.Contains(line, "azidentity_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestHTTPSClient is the client process of TestAzidentityAndTheSDKOverHTTPS.
func TestHTTPSClient(t *testing.T) {
	authority := os.Getenv(envAuthority)
	if authority == "" {
		t.Skip("the client half of TestAzidentityAndTheSDKOverHTTPS; it runs it")
	}
	clientID, base, id := os.Getenv(envClientID), os.Getenv(envBaseURL), os.Getenv(envRecord)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	scopes := []string{"https://graph.microsoft.com/.default"}

	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, os.Getenv(envSecret), &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: authority}},
		// Instance discovery asks login.microsoftonline.com about the
		// authority; callvault is not in Microsoft's list.
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}

	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
	if err != nil {
		t.Fatalf("azidentity got no token from %s: %v", authority, err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok.Token, claims); err != nil {
		t.Fatal(err)
	}
	if claims["appid"] != clientID || claims["tid"] != tenant || claims["aud"] != "https://graph.microsoft.com" {
		t.Errorf("token claims %v", claims)
	}
	if left := time.Until(tok.ExpiresOn); left < 55*time.Minute || left > time.Hour {
		t.Errorf("the token expires in %v, want about an hour", left)
	}
	t.Logf("azidentity got a token from %s for app %s", authority, clientID)

	// The SDK's standard provider sends tokens only to the hosts it is
	// given: Graph's own by default, so localhost must be named.
	client, err := msgraphsdk.NewGraphServiceClientWithCredentialsAndHosts(cred, scopes, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	adapter := client.GetAdapter()
	adapter.SetBaseUrl(base)
	page, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().Get(ctx,
		&communications.CallRecordsItemSessionsRequestBuilderGetRequestConfiguration{
			QueryParameters: &communications.CallRecordsItemSessionsRequestBuilderGetQueryParameters{Expand: []string{"segments"}},
		})
	if err != nil {
		t.Fatalf("first page over https: %v", describe(err))
	}
	it, err := msgraphcore.NewPageIterator[callrecords.Sessionable](page, adapter, callrecords.CreateSessionCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	err = it.Iterate(ctx, func(s callrecords.Sessionable) bool {
		seen[*s.GetId()] = true
		if len(s.GetSegments()) == 0 {
			t.Errorf("session %s has no segments", *s.GetId())
		}
		return true
	})
	if err != nil {
		t.Fatalf("iterate over https: %v", describe(err))
	}
	if len(seen) != 150 {
		t.Errorf("%d sessions, want 150", len(seen))
	}
	t.Logf("msgraph-sdk-go with the Azure identity provider listed %d sessions from %s", len(seen), base)

	// Unchanged, NewGraphServiceClientWithCredentials trusts Graph's hosts
	// only, and sends no token to localhost: callvault says so with a 401.
	plain, err := msgraphsdk.NewGraphServiceClientWithCredentials(cred, scopes)
	if err != nil {
		t.Fatal(err)
	}
	plain.GetAdapter().SetBaseUrl(base)
	_, err = plain.Communications().CallRecords().ByCallRecordId(id).Sessions().Get(ctx, nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 401 {
		t.Errorf("without localhost among the hosts: %v, want a 401", describe(err))
	}
}

// startTLS serves data with --tls auto on a free loopback port and returns
// the public URL, https://localhost:PORT.
func startTLS(t *testing.T, data string) string {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--data", data, "--addr", "127.0.0.1:0", "--tls", "auto", "--log-level", "warn")
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
	publicURL := ""
	for lines.Scan() {
		// callvault listening on https://127.0.0.1:PORT (public URL https://localhost:PORT, data DIR)
		if _, rest, ok := strings.Cut(lines.Text(), "(public URL "); ok && strings.HasPrefix(lines.Text(), "callvault listening on https://") {
			publicURL, _, _ = strings.Cut(rest, ",")
			break
		}
	}
	if !strings.HasPrefix(publicURL, "https://localhost:") {
		t.Fatalf("serve --tls auto did not say it listens on https://localhost (got %q)", publicURL)
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return publicURL
}
