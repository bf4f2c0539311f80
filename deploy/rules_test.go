package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

const (
	rulesFile     = "prometheus/orb-sync.rules.yaml"
	rulesTestFile = "prometheus/orb-sync.rules.test.yaml"
	dashboardFile = "grafana/orb-sync.json"
)

// promtool finds promtool; CI (CI=true) installs it in .ci/run, so there a
// missing promtool fails the test instead of skipping it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("promtool is not installed (apt-get install prometheus; .ci/run does it)")
	}
	t.Skip("promtool is not installed: apt-get install prometheus")
	return ""
}

// TestPromtool checks the rules and runs their unit tests.
func TestPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Annotations map[string]string `json:"annotations"`
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []alertRule `json:"rules"`
		} `json:"groups"`
	}
	decodeYAML(t, rulesFile, &f)
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) < 8 {
		t.Fatalf("only %d rules in %s", len(out), rulesFile)
	}
	return out
}

// TestEveryAlertIsTestedAndHasARunbook: each alert has a promtool case
// where it stays quiet and one where it fires, and its runbook_url points
// at a heading of the README.
func TestEveryAlertIsTestedAndHasARunbook(t *testing.T) {
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	decodeYAML(t, rulesTestFile, &tests)
	quiet, fires := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) == 0 {
				quiet[a.Alertname] = true
			} else {
				fires[a.Alertname] = true
			}
		}
	}
	anchors := readmeAnchors(t)
	for _, r := range alertRules(t) {
		if !quiet[r.Alert] || !fires[r.Alert] {
			t.Errorf("%s: promtool cases quiet=%v fires=%v, want both", r.Alert, quiet[r.Alert], fires[r.Alert])
		}
		url := r.Annotations["runbook_url"]
		_, anchor, _ := strings.Cut(url, "README.md#")
		if !anchors[anchor] {
			t.Errorf("%s: runbook_url %q names no README heading", r.Alert, url)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s has no summary", r.Alert)
		}
	}
}

// readmeAnchors are the GitHub anchors of the README's headings.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(mustRead(t, "../README.md")), "\n") {
		if strings.HasPrefix(line, "#") {
			h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
			out[strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-")] = true
		}
	}
	return out
}

// TestRulesAndDashboardUseExportedMetrics starts a real serve (with a fake
// Orb API and an admin token), makes it do some of everything, scrapes its
// /metrics and fails on any metric a rule or a dashboard panel names that
// is not there: renaming a metric in code breaks this test.
func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	used := map[string][]string{} // Metric to where it is used.
	for _, r := range alertRules(t) {
		for _, m := range promqlMetrics(r.Expr) {
			used[m] = append(used[m], "alert "+r.Alert)
		}
	}
	for title, expr := range dashboardExprs(t) {
		for _, m := range promqlMetrics(expr) {
			used[m] = append(used[m], "panel "+title)
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d metric names in the rules and dashboard: %v", len(used), used)
	}

	exported := scrapeRealServe(t)
	var missing []string
	for m, where := range used {
		if !exported[m] {
			missing = append(missing, fmt.Sprintf("%s (%s)", m, strings.Join(where, "; ")))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics not exported by serve:\n  %s", strings.Join(missing, "\n  "))
	}
}

// dashboardExprs maps each panel's title (with a target suffix) to its query.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(mustRead(t, dashboardFile), &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			out[fmt.Sprintf("%s #%d", p.Title, i+1)] = tg.Expr
		}
	}
	return out
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// promqlMetrics lists the metric names an expression selects: identifiers
// outside strings, label matchers, ranges and grouping clauses that are
// neither functions (followed by "(") nor keywords nor parts of numbers.
func promqlMetrics(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "0123456789.$") {
			continue // 1e-9, $__rate_interval
		}
		if strings.HasPrefix(strings.TrimSpace(e[loc[1]:]), "(") || slices.Contains(promqlKeywords, strings.ToLower(name)) {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestPromqlMetrics(t *testing.T) {
	got := promqlMetrics(`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="b c"}[5m]))) / on () (b or vector(0)) > 1e-9 and max by (job) (c) offset 5m`)
	if want := []string{"a_bucket", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// scrapeRealServe runs `orb-sync serve` and returns the metric names on
// its admin listener after a webhook, a refused webhook, a rebuild, a
// backfill and the Orb API workers' first passes. It also checks that the
// public port's probes answer as the manifests expect.
func scrapeRealServe(t *testing.T) map[string]bool {
	t.Helper()
	schema, api := pgtest.NewEmptySchema(t), orbapitest.New(t)
	api.Put("customers", orbapitest.Object("cus_1", time.Now().Add(-time.Hour), nil))
	public, admin := freeAddr(t), freeAddr(t)
	const token = "deploy-test-admin-token-0123456789"
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+schema.URL, "DATABASE_SCHEMA="+schema.Name,
		"ORB_WEBHOOK_SECRET=whsec", "LOG_FORMAT=text", "ORB_API_KEY="+api.APIKey, "ORB_BASE_URL="+api.URL,
		"ORB_API_RATE_LIMIT=1000", "ADMIN_TOKEN="+token, "PORT="+portOf(t, public), "LISTEN_HOST=127.0.0.1", "ADMIN_LISTEN="+admin)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("serve's log:\n%s", stderr.String())
		}
	})
	waitFor(t, func() bool { return status(t, "GET", "http://"+public+"/readyz", "", "") == http.StatusOK })
	for _, p := range publicProbes {
		if s := status(t, "GET", "http://"+public+p, "", ""); s != http.StatusOK {
			t.Errorf("public %s: %d", p, s)
		}
	}
	postWebhook(t, "http://"+public+"/webhooks", "whsec", http.StatusOK)
	postWebhook(t, "http://"+public+"/webhooks", "wrong", http.StatusUnauthorized)
	base := "http://" + admin
	if s := status(t, "POST", base+"/admin/reproject", `{"tables": ["customers"]}`, token); s != http.StatusAccepted {
		t.Fatalf("POST /admin/reproject: %d", s)
	}
	if s := status(t, "POST", base+"/admin/backfill?entity=customers", "", token); s != http.StatusAccepted {
		t.Fatalf("POST /admin/backfill: %d", s)
	}
	var names map[string]bool
	waitFor(t, func() bool {
		names = metricNames(t, base+metricsPath)
		return names["orb_rebuild_last_duration_seconds"] && names["orb_sync_backfill_pages_total"] &&
			names["orb_sync_last_success_timestamp_seconds"] && names["orb_projection_lag_seconds"]
	})
	return names
}

func postWebhook(t *testing.T, url, secret string, want int) {
	t.Helper()
	body := []byte(`{"id":"evt_deploy","type":"customer.created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_1"},"properties":{}}`)
	stamp := webhook.FormatTimestamp(time.Now())
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(secret, stamp, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("webhook signed with %q: %d, want %d", secret, resp.StatusCode, want)
	}
}

func status(t *testing.T, method, url, body, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// metricNames are the sample names on a /metrics page.
func metricNames(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	docs, err := yamlDocs(path)
	if err != nil || len(docs) != 1 {
		t.Fatalf("%s: %d documents, %v", path, len(docs), err)
	}
	b, _ := json.Marshal(docs[0])
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPrometheusRuleMatchesTheRules: the operator's copy of the rules is
// the tested file's, group for group.
func TestPrometheusRuleMatchesTheRules(t *testing.T) {
	rules, err := yamlDocs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	crd, err := yamlDocs("kubernetes/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rules[0]["groups"])
	got, _ := json.Marshal(get(t, crd[0], "spec", "groups"))
	if !bytes.Equal(got, want) {
		t.Errorf("kubernetes/prometheusrule.yaml spec.groups differ from %s", rulesFile)
	}
}
