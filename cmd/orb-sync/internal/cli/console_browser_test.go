package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector/console/consoletest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// screenshotsEnv names the folder the browser test writes its screenshots
// to (make screenshots sets it to projector/console/testdata/screenshots);
// unset, they go to a temporary folder and are still taken.
const screenshotsEnv = "ORB_CONSOLE_SCREENSHOTS"

// TestConsoleInBrowser drives headless Chromium through the console of a
// real `orb-sync serve`, fed by signed webhooks: search a customer, open
// it, see the changed field highlighted in its timeline, go back to an
// earlier date and see the old value, open the raw event, watch the
// pipeline page refresh itself. Any script error or CSP violation fails it.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	browser := findChromium(t)
	s := pgtest.NewEmptySchema(t)
	admin := startConsoleServe(t, s)
	shots := screenshotDir(t)

	ctx := newBrowser(t, browser)
	var problems browserProblems
	problems.listen(ctx)
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("authenticate", network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": "Bearer " + testAdminToken}))

	// Search by email, in another case than stored.
	customerLink := `a[href="/console/customer/` + consoletest.CustomerID + `"]`
	run("search", chromedp.Navigate(admin+"/console/"),
		chromedp.SendKeys(`input[name=q]`, strings.ToUpper(consoletest.NewEmail), chromedp.ByQuery),
		chromedp.Submit(`form.search`, chromedp.ByQuery),
		chromedp.WaitVisible(customerLink, chromedp.ByQuery),
		screenshot(shots, "search.png"))

	// Open the customer: the timeline shows the email change, highlighted.
	var oldEmail, newEmail, highlight, name string
	run("open the customer", chromedp.Click(customerLink, chromedp.ByQuery),
		chromedp.WaitVisible(`table.events`, chromedp.ByQuery),
		chromedp.Text(`//tr[td/span[@class="type" and text()="customer.edited"]]//li[span[@class="field" and text()="email"]]/del`, &oldEmail),
		chromedp.Text(`//tr[td/span[@class="type" and text()="customer.edited"]]//li[span[@class="field" and text()="email"]]/ins`, &newEmail),
		chromedp.Evaluate(`getComputedStyle(document.querySelector("ul.changes ins")).backgroundColor`, &highlight),
		chromedp.Text(`//table[@class="fields"]//tr[th[text()="name"]]/td`, &name),
		screenshot(shots, "customer.png"))
	if oldEmail != consoletest.OldEmail || newEmail != consoletest.NewEmail {
		t.Errorf("timeline shows email %q -> %q, want %q -> %q", oldEmail, newEmail, consoletest.OldEmail, consoletest.NewEmail)
	}
	if highlight == "" || highlight == "rgba(0, 0, 0, 0)" {
		t.Errorf("the new value is not highlighted (background %q)", highlight)
	}
	if strings.TrimSpace(name) != consoletest.HostileName {
		t.Errorf("the customer's name shows as %q, want the markup as text", name)
	}

	// As of a date before the edit: the old email, marked as changed since.
	var email string
	// The picker's keyboard input depends on the locale; set its value as
	// a person's picking would.
	pick := fmt.Sprintf(`document.getElementById("as_of").value = %q`, consoletest.BeforeChange.Format("2006-01-02T15:04:05"))
	run("as of an earlier date", chromedp.Evaluate(pick, nil),
		chromedp.Click(`form.asof button`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.banner`, chromedp.ByQuery),
		chromedp.Text(`//table[@class="fields"]//tr[th[text()="email"]]/td`, &email),
		screenshot(shots, "customer-as-of.png"))
	if !strings.HasPrefix(strings.TrimSpace(email), consoletest.OldEmail) || !strings.Contains(email, "now: "+consoletest.NewEmail) {
		t.Errorf("as of %s the email cell reads %q", consoletest.BeforeChange, email)
	}

	// The raw event is one click away, its signature checked.
	var sig string
	run("raw event", chromedp.Navigate(admin+"/console/customer/"+consoletest.CustomerID),
		chromedp.Click(`a[href="/console/event/`+consoletest.EditedEventID+`"]`, chromedp.ByQuery),
		chromedp.Text(`p.sig`, &sig, chromedp.ByQuery),
		screenshot(shots, "event.png"))
	if !strings.Contains(sig, "signature verified") {
		t.Errorf("raw event: %q", sig)
	}

	// The pipeline page shows the dead letter and refreshes itself.
	var first, later, dead string
	run("pipeline", chromedp.Click(`header nav a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#live`, chromedp.ByQuery),
		chromedp.Text(`h1 .refreshed`, &first, chromedp.ByQuery),
		chromedp.Text(`#live`, &dead, chromedp.ByQuery),
		screenshot(shots, "pipeline.png"))
	if !strings.Contains(dead, "evt_console_bad") || !strings.Contains(dead, "customers") {
		t.Errorf("pipeline lacks the dead letter:\n%s", dead)
	}
	deadline := time.Now().Add(20 * time.Second)
	for later = first; later == first && time.Now().Before(deadline); {
		run("pipeline refresh", chromedp.Sleep(500*time.Millisecond), chromedp.Text(`h1 .refreshed`, &later, chromedp.ByQuery))
	}
	if later == first {
		t.Errorf("the pipeline page did not refresh itself: still %q", first)
	}
	if p := problems.list(); len(p) > 0 {
		t.Errorf("the browser reported problems:\n%s", strings.Join(p, "\n"))
	}
}

// findChromium returns the browser to drive. Without one the test fails
// (in CI and locally) unless ORB_SKIP_BROWSER_TESTS=1 outside CI.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "" && os.Getenv("ORB_SKIP_BROWSER_TESTS") == "1" {
		t.Skip("no chromium; skipped because ORB_SKIP_BROWSER_TESTS=1")
	}
	t.Fatal("the console's browser test needs Chromium: apt-get install chromium (.ci/run installs it); " +
		"outside CI, ORB_SKIP_BROWSER_TESTS=1 skips it")
	return ""
}

// startConsoleServe runs `orb-sync serve` with the console on, sends it the
// fixture's webhooks, waits until every projection has applied them, and
// returns the admin listener's base URL.
func startConsoleServe(t *testing.T, s *pgtest.Schema) string {
	t.Helper()
	args, public, admin := serveArgs(t)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET="+consoletest.Secret, "ADMIN_TOKEN="+testAdminToken, "LOG_FORMAT=text")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("serve's log:\n%s", stderr.String())
		}
	})
	waitFor(t, func() bool {
		resp, err := http.Get(public + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	assertPublicHidesAdmin(t, public) // the console too
	var sent int
	for _, e := range consoletest.Events() {
		if !e.Snapshot {
			postSigned(t, public, e.Body)
			sent++
		}
	}
	waitFor(t, func() bool {
		var behind int
		err := s.Pool.QueryRow(context.Background(), fmt.Sprintf(
			"select count(*) from %[1]s.projection_checkpoints c, %[1]s.log_head h where c.seq < h.seq or h.seq < %d", s.Name, sent)).Scan(&behind)
		return err == nil && behind == 0
	})
	return admin
}

func postSigned(t *testing.T, public string, body []byte) {
	t.Helper()
	stamp := webhook.FormatTimestamp(time.Now())
	req, _ := http.NewRequest(http.MethodPost, public+"/webhooks", bytes.NewReader(body))
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(consoletest.Secret, stamp, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
}

// newBrowser starts headless Chromium with a laptop-sized window.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1366, 900),
		chromedp.Flag("hide-scrollbars", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// browserProblems collects script exceptions and console errors (CSP
// violations are reported there).
type browserProblems struct {
	mu   sync.Mutex
	seen []string
}

func (b *browserProblems) listen(ctx context.Context) {
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.seen = append(b.seen, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError {
				b.seen = append(b.seen, "log: "+e.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				b.seen = append(b.seen, fmt.Sprintf("console error: %v", e.Args))
			}
		}
	})
	_ = chromedp.Run(ctx, runtime.Enable(), cdplog.Enable())
}

func (b *browserProblems) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the whole page as PNG.
func screenshot(dir, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), png, 0o644)
	})
}
