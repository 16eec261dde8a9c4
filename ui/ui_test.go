package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/callvaulttest"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
	"github.com/callvault/callvault/ui"
)

// site is a server with the Graph API, the analytics API and the web view
// over the demo data, on 127.0.0.1: callvaulttest's, as users' tests get it.
type site struct {
	*callvaulttest.Server
	url  string
	from string // the demo's first day
	to   string // the day after its last
}

var now = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

func newSite(t testing.TB) *site { return newSiteKeeping(t, 0) }

// newSiteKeeping is newSite with serve's --retention.
func newSiteKeeping(t testing.TB, retention time.Duration) *site {
	t.Helper()
	srv := callvaulttest.Start(t, callvaulttest.Options{Demo: true, DemoRecords: 60, Now: func() time.Time { return now }, Retention: retention})
	from, to := synth.DemoWindow(now)
	return &site{Server: srv, url: srv.URL, from: from.Format(time.DateOnly), to: to.AddDate(0, 0, 1).Format(time.DateOnly)}
}

func (s *site) link(t *testing.T, next string) string {
	t.Helper()
	l, err := s.SignInLink(next)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestSignInOnceThenEveryPage(t *testing.T) {
	s := newSite(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute}
	if status, body := get(t, c, s.url+"/ui/"); status != 401 || !strings.Contains(body, "not signed in") {
		t.Fatalf("without a session: %d", status)
	}
	link := s.link(t, "")
	if status, body := get(t, c, link); status != 200 || !strings.Contains(body, "Call quality") {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	other := &http.Client{Timeout: 2 * time.Minute}
	if status, _ := get(t, other, link); status != 401 {
		t.Errorf("a used link signed in again: %d", status)
	}
	if status, _ := get(t, other, s.url+"/ui/signin?code=x"); status != 401 {
		t.Errorf("a bad code: %d", status)
	}
	q := "?from=" + s.from + "&to=" + s.to
	for _, page := range []struct{ path, want string }{
		{"/ui/" + q, `id="total-streams"`},
		{"/ui/breakdown" + q + "&by=second.connection", `id="breakdown"`},
		{"/ui/calls" + q + "&poor=1", `id="calls"`},
		{"/ui/calls/" + synth.DemoMeetingID, `id="timeline"`},
		{"/ui/calls/" + synth.DemoMeetingID, "Zoë Åkesson"},
		{"/ui/graph/communications/callRecords/" + synth.DemoMeetingID + "/sessions?$select=id", `"@odata.context"`},
		{"/ui/export" + q + "&by=day&media=audio", "day,streams,good"},
		{"/ui/assets/style.css", "prefers-color-scheme: dark"},
	} {
		status, body := get(t, c, s.url+page.path)
		if status != 200 || !strings.Contains(body, page.want) {
			t.Errorf("%s: %d, no %q in %.300s", page.path, status, page.want, body)
		}
	}
	if status, _ := get(t, c, s.url+"/ui/calls/no-such-call"); status != 404 {
		t.Errorf("an unknown call: %d", status)
	}
	if status, _ := get(t, c, s.url+"/ui/breakdown?by=nope"); status != 400 {
		t.Errorf("an unknown dimension: %d", status)
	}
	// The link's next page stays on this site.
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(s.link(t, "//evil.example/ui/"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); loc != "/ui/" {
		t.Errorf("next=//evil.example redirected to %q", loc)
	}
}

// Under serve's --retention the pages count and list nothing the Graph
// API has forgotten: with an hour's, the demo's calls (all of the days
// before now) are gone from every page, as from the API.
func TestPagesForgetWhatTheRetentionForgets(t *testing.T) {
	s := newSiteKeeping(t, time.Hour)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 2 * time.Minute}
	if status, _ := get(t, c, s.link(t, "")); status != 200 {
		t.Fatalf("sign-in: %d", status)
	}
	q := "?from=" + s.from + "&to=" + s.to
	if status, body := get(t, c, s.url+"/ui/export"+q+"&by=day&media=audio"); status != 200 || strings.Count(strings.TrimSpace(body), "\n") != 0 {
		t.Errorf("export: %d, %q", status, body)
	}
	if status, body := get(t, c, s.url+"/ui/"+q); status != 200 || !strings.Contains(body, "No audio streams in this period.") {
		t.Errorf("overview: %d %.300s", status, body)
	}
	if status, body := get(t, c, s.url+"/ui/calls"+q); status != 200 || strings.Contains(body, synth.DemoMeetingID) {
		t.Errorf("calls: %d, lists the demo meeting", status)
	}
	if status, _ := get(t, c, s.url+"/ui/calls/"+synth.DemoMeetingID); status != 404 {
		t.Errorf("the demo meeting's page: %d, want 404 as the API answers", status)
	}
	if status, _ := get(t, c, s.url+"/ui/graph/communications/callRecords/"+synth.DemoMeetingID); status != 404 {
		t.Errorf("the demo meeting's JSON: %d", status)
	}
	// Without the retention, the same pages have it all.
	all := newSite(t)
	jar2, _ := cookiejar.New(nil)
	c2 := &http.Client{Jar: jar2, Timeout: 2 * time.Minute}
	get(t, c2, all.link(t, ""))
	if status, body := get(t, c2, all.url+"/ui/export"+q+"&by=day&media=audio"); status != 200 || strings.Count(body, "\n") < 10 {
		t.Errorf("export without retention: %d, %q", status, body)
	}
	if status, _ := get(t, c2, all.url+"/ui/calls/"+synth.DemoMeetingID); status != 200 {
		t.Errorf("the demo meeting's page without retention: %d", status)
	}
}

// chromium returns the path of Debian's chromium, or skips the test
// (fails it under CI, where .ci/run installs it).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatal("chromium is not installed, and CI=true: .ci/run installs it")
	}
	t.Skip("chromium is not installed: the browser tests are skipped (apt-get install chromium)")
	return ""
}

// artifacts is where the browser test writes its screenshots:
// $CALLVAULT_ARTIFACTS, else a directory under the system's temp dir.
func artifacts(t *testing.T) string {
	dir := os.Getenv("CALLVAULT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "callvault-ui-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse loads u in a fresh headless chromium, which follows the sign-in
// redirect, and returns the page's DOM and what chromium logged of the
// page's console. With shot, it saves a screenshot there instead of the DOM.
func browse(t *testing.T, bin, u, shot string, dark bool) (dom, console string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", // loopback only
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=1280,1600"}
	if dark {
		args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
	}
	if shot != "" {
		args = append(args, "--screenshot="+shot, "--hide-scrollbars")
	} else {
		args = append(args, "--dump-dom")
	}
	cmd := exec.CommandContext(ctx, bin, append(args, u)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", u, err, errb.String())
	}
	var lines []string
	for _, l := range strings.Split(errb.String(), "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Uncaught") || strings.Contains(l, "Refused to") {
			lines = append(lines, l)
		}
	}
	return out.String(), strings.Join(lines, "\n")
}

var (
	idText  = func(id string) *regexp.Regexp { return regexp.MustCompile(`id="` + id + `">([^<]*)<`) }
	session = regexp.MustCompile(`class="tl-row session"`)
)

func TestPagesInARealBrowser(t *testing.T) {
	bin := chromium(t)
	s := newSite(t)
	dir := artifacts(t)
	q := "?from=" + s.from + "&to=" + s.to

	// The overview's numbers are the analytics API's.
	dom, console := browse(t, bin, s.link(t, "/ui/"+q), "", false)
	if console != "" {
		t.Errorf("the overview logged to the console:\n%s", console)
	}
	tok, _ := s.Token("")
	req, _ := http.NewRequest("GET", s.url+"/analytics/v1/streams"+q+"&media=audio", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var api analytics.Result
	json.NewDecoder(res.Body).Decode(&api)
	res.Body.Close()
	if api.Total.Streams == 0 {
		t.Fatal("the analytics API has no audio streams for the demo")
	}
	pct := func(p *float64) string {
		return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(*p, 'f', 2, 64), "0"), ".") + " %"
	}
	for id, want := range map[string]string{
		"total-streams":     strconv.FormatInt(api.Total.Streams, 10),
		"total-calls":       strconv.FormatInt(api.Total.Calls, 10),
		"unclassified":      strconv.FormatInt(api.Total.Unclassified, 10),
		"poor-percent":      pct(api.Total.PoorPercent),
		"poor-call-percent": pct(api.Total.PoorCallPercent),
	} {
		m := idText(id).FindStringSubmatch(dom)
		if m == nil || m[1] != want {
			t.Errorf("overview #%s = %v, the API says %s", id, m, want)
		}
	}
	t.Logf("overview: %d audio streams, %s poor, %d calls, %s poor calls", api.Total.Streams, pct(api.Total.PoorPercent), api.Total.Calls, pct(api.Total.PoorCallPercent))

	// The meeting's page shows every one of its 150 sessions.
	dom, console = browse(t, bin, s.link(t, "/ui/calls/"+synth.DemoMeetingID), "", false)
	if n := len(session.FindAllString(dom, -1)); n != 150 {
		t.Errorf("the meeting's timeline has %d sessions, want 150", n)
	}
	if m := idText("session-count").FindStringSubmatch(dom); m == nil || m[1] != "150" {
		t.Errorf("session count %v", m)
	}
	if console != "" {
		t.Errorf("the call page logged to the console:\n%s", console)
	}

	for _, p := range []struct{ name, path, want string }{
		{"breakdown", "/ui/breakdown" + q + "&by=second.connection", `id="breakdown"`},
		{"calls", "/ui/calls" + q, `id="calls"`},
	} {
		dom, console := browse(t, bin, s.link(t, p.path), "", false)
		if !strings.Contains(dom, p.want) || console != "" {
			t.Errorf("%s: %q in the DOM: %v; console %q", p.name, p.want, strings.Contains(dom, p.want), console)
		}
	}

	for _, shot := range []struct {
		name, path string
		dark       bool
	}{
		{"overview.png", "/ui/" + q, false},
		{"overview-dark.png", "/ui/" + q, true},
		{"call.png", "/ui/calls/" + synth.DemoMeetingID, false},
	} {
		path := filepath.Join(dir, shot.name)
		browse(t, bin, s.link(t, shot.path), path, shot.dark)
		if fi, err := os.Stat(path); err != nil || fi.Size() < 10_000 {
			t.Errorf("screenshot %s: %v", path, err)
		}
	}
	t.Logf("screenshots in %s", dir)
	if *updateScreenshots {
		for _, name := range []string{"overview.png", "call.png"} {
			b := readmeShot(t, filepath.Join(dir, name))
			if len(b) > maxScreenshot {
				t.Fatalf("%s is %d bytes, more than the %d the README's screenshots may weigh", name, len(b), maxScreenshot)
			}
			if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Log("updated docs/screenshots/overview.png and call.png")
	}
}

// updateScreenshots makes TestPagesInARealBrowser copy its light overview
// and call screenshots into docs/screenshots, for the README (as -update
// does the goldens).
var updateScreenshots = flag.Bool("update-screenshots", false, "write docs/screenshots/overview.png and call.png from the browser test")

// readmeShot returns the top of a screenshot (what a reader sees first of
// the page), as a PNG compressed as well as the standard library can.
func readmeShot(t *testing.T, path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	r.Max.Y = min(r.Max.Y, r.Min.Y+readmeShotHeight)
	top := image.NewRGBA(r)
	draw.Draw(top, r, img, r.Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, top); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readmeShotHeight is how much of a page, in pixels, the README shows.
const readmeShotHeight = 720

// maxScreenshot is the most a committed screenshot may weigh.
const maxScreenshot = 200 << 10

// recordingStore notes the aggregations the analytics ask the store for.
type recordingStore struct {
	*sqlite.DB
	mu  sync.Mutex
	got []string
}

func (s *recordingStore) AggregateQuality(ctx context.Context, tenant string, q callvault.QualityAggregate) ([]callvault.QualityGroup, error) {
	s.mu.Lock()
	s.got = append(s.got, fmt.Sprintf("%s %+v", tenant, q))
	s.mu.Unlock()
	return s.DB.AggregateQuality(ctx, tenant, q)
}

func (s *recordingStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

// demoStore opens a new SQLite store holding 30 records of the demo
// tenant's.
func demoStore(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	importInto(t, st, func(w io.Writer) error {
		_, err := synth.WriteDemo(w, synth.DemoConfig{Now: now.Truncate(24 * time.Hour), Seed: 1, Records: 30})
		return err
	})
	return st
}

// importInto imports what write writes into st, for the demo tenant.
func importInto(t *testing.T, st callvault.Store, write func(io.Writer) error) {
	t.Helper()
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	var stats ingest.Stats
	if err := (&ingest.Importer{Store: st, Tenant: synth.DemoTenant}).Import(t.Context(), "test", &buf, &stats); err != nil {
		t.Fatal(err)
	}
}

// mountWeb serves web, signing with a new key, on a test server on
// 127.0.0.1.
func mountWeb(t *testing.T, web *ui.Server) *httptest.Server {
	t.Helper()
	signer, err := auth.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	web.Signer = signer
	mux := http.NewServeMux()
	if err := web.Mount(mux); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs
}

// Warm asks the store what the overview will ask (so that the store's kept
// answers are ready for it), for the tenants whose people opened a page and
// for those it is given, and for no other.
func TestWarmAsksWhatTheOverviewWillAsk(t *testing.T) {
	st := demoStore(t)
	rec := &recordingStore{DB: st}
	web := &ui.Server{Store: st, Quality: rec, Now: func() time.Time { return now }, Retention: 240 * time.Hour}
	hs := mountWeb(t, web)
	if n, err := web.Warm(t.Context()); err != nil || n != 0 || len(rec.take()) != 0 {
		t.Fatalf("with nobody looking: %d tenants warmed, %v", n, err)
	}
	if n, err := web.Warm(t.Context(), "someone-else"); err != nil || n != 1 {
		t.Fatalf("an extra tenant: %d tenants warmed, %v", n, err)
	}
	for _, q := range rec.take() {
		if !strings.HasPrefix(q, "someone-else ") {
			t.Errorf("warming someone-else asked %s", q)
		}
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	link, err := ui.Link(web.Signer, hs.URL, synth.DemoTenant)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, c, link); status != 200 { // the overview
		t.Fatalf("sign-in: %d", status)
	}
	page := rec.take()
	if len(page) == 0 {
		t.Fatal("the overview asked the store nothing")
	}
	if n, err := web.Warm(t.Context()); err != nil || n != 1 {
		t.Fatalf("after a page view: %d tenants warmed, %v", n, err)
	}
	if warmed := rec.take(); !slices.Equal(warmed, page) {
		t.Errorf("Warm asked\n%s\nthe overview asked\n%s", strings.Join(warmed, "\n"), strings.Join(page, "\n"))
	}
}

// slowRollup is a store whose computation of the rollup's dirty days waits
// for release.
type slowRollup struct {
	*sqlite.DB
	release chan struct{}
}

func (s *slowRollup) RefreshQualityRollup(ctx context.Context) (int, error) {
	<-s.release
	return s.DB.RefreshQualityRollup(ctx)
}

// While the dirty days an import left take longer than RollupWait to
// compute, the overview and the breakdown answer from the rollup as it
// stands and say so; once they are computed, the pages count the new calls
// and say nothing.
func TestPagesDoNotWaitLongForTheRollup(t *testing.T) {
	st := demoStore(t)
	if _, err := st.RefreshQualityRollup(t.Context()); err != nil {
		t.Fatal(err)
	}
	from, to := synth.DemoWindow(now)
	importInto(t, st, func(w io.Writer) error { // more calls, on days already computed
		_, err := synth.Write(w, synth.Config{Tenant: synth.DemoTenant, Seed: 7, Records: 40, From: from, To: to})
		return err
	})
	slow := &slowRollup{DB: st, release: make(chan struct{})}
	web := &ui.Server{Store: st, Quality: slow, Now: func() time.Time { return now }, RollupWait: 50 * time.Millisecond}
	hs := mountWeb(t, web)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	link, err := ui.Link(web.Signer, hs.URL, synth.DemoTenant)
	if err != nil {
		t.Fatal(err)
	}
	streams := regexp.MustCompile(`id="total-streams">(\d+)<`)
	overview := func() (total string, late bool) {
		t.Helper()
		status, body := get(t, c, hs.URL+"/ui/")
		m := streams.FindStringSubmatch(body)
		if status != 200 || m == nil {
			t.Fatalf("overview: %d %.300s", status, body)
		}
		return m[1], strings.Contains(body, `id="late"`)
	}
	if status, _ := get(t, c, link); status != 200 {
		t.Fatalf("sign-in: %d", status)
	}
	before, late := overview()
	if !late {
		t.Error("the overview answered from a rollup with dirty days without saying so")
	}
	if _, body := get(t, c, hs.URL+"/ui/breakdown"); !strings.Contains(body, `id="late"`) {
		t.Error("the breakdown answered from a rollup with dirty days without saying so")
	}
	close(slow.release)
	var after string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if after, late = overview(); !late {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the overview still says the days are being computed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := strconv.Atoi(before)
	a, _ := strconv.Atoi(after)
	if a <= b {
		t.Errorf("%s audio streams before the days were computed, %s after; want more after", before, after)
	}
	// The figures computed are the analytics' own, fresh, over the page's
	// default period.
	period, err := analytics.ParseQuery(nil, now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := analytics.Run(t.Context(), st, synth.DemoTenant, nil, analytics.Query{From: period.From, To: period.To, Media: callvault.MediaAudio, By: []string{"day"}})
	if err != nil || fmt.Sprint(res.Total.Streams) != after {
		t.Errorf("the API counts %d (%v), the page %s", res.Total.Streams, err, after)
	}
}
