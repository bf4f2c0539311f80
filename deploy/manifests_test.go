package deploy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// The public listener's probe paths and the admin listener's metrics path,
// as serve mounts them (cmd/orb-sync/internal/cli/serve.go).
var (
	publicProbes = []string{"/healthz", "/readyz"}
	metricsPath  = "/metrics"
	// entrypoint is where the image puts the binary.
	entrypoint = "/orb-sync"
)

// TestDockerfile checks the image statically: the binary is built from the
// command's package and copied where ENTRYPOINT and HEALTHCHECK run it, the
// exposed ports are those the environment sets, and healthcheck is a
// command the binary has.
func TestDockerfile(t *testing.T) {
	lines, err := dockerfile()
	if err != nil {
		t.Fatal(err)
	}
	find := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("Dockerfile has no %q", prefix)
		return ""
	}
	build := goBuild.FindStringSubmatch(find("RUN CGO_ENABLED=0 go build"))
	out, pkg := build[2], build[3]
	if _, err := os.Stat(filepath.Join("..", pkg, "main.go")); err != nil {
		t.Errorf("the Dockerfile builds %s: %v", pkg, err)
	}
	if want := fmt.Sprintf("COPY --from=build %s %s", out, entrypoint); find("COPY --from=build") != want {
		t.Errorf("copy line %q, want %q", find("COPY --from=build"), want)
	}
	if want := fmt.Sprintf(`ENTRYPOINT ["%s"]`, entrypoint); find("ENTRYPOINT") != want {
		t.Errorf("%q, want %q", find("ENTRYPOINT"), want)
	}
	hc := find("HEALTHCHECK")
	if !strings.HasSuffix(hc, fmt.Sprintf(`CMD ["%s", "healthcheck"]`, entrypoint)) {
		t.Errorf("HEALTHCHECK does not run %s healthcheck: %q", entrypoint, hc)
	}
	if help := runBinary(t, "healthcheck", "-h"); !strings.Contains(help, "PORT") {
		t.Errorf("healthcheck -h does not read PORT:\n%s", help)
	}
	env := map[string]string{}
	for _, kv := range strings.Fields(strings.TrimPrefix(find("ENV "), "ENV ")) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	checkEnvNames(t, "Dockerfile ENV", "serve", keys(env))
	exposed := strings.Fields(strings.TrimPrefix(find("EXPOSE"), "EXPOSE"))
	for _, port := range []string{env["PORT"], portOf(t, env["ADMIN_LISTEN"])} {
		if !slices.Contains(exposed, port) {
			t.Errorf("EXPOSE %v lacks %s (from PORT/ADMIN_LISTEN)", exposed, port)
		}
	}
}

// TestDockerfileInjectsTheVersion runs `version` on a binary built with the
// Dockerfile's own -ldflags (TestMain): the -X paths must name variables
// that exist, or the output says "(devel)".
func TestDockerfileInjectsTheVersion(t *testing.T) {
	out := runBinary(t, "version")
	for _, want := range []string{testVersion, testCommit, fmt.Sprintf("schema version %d", orbsql.LatestVersion())} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// TestKubernetesMatchesTheBinary checks the manifests against the code:
// env names the binary reads, container ports equal to PORT and
// ADMIN_LISTEN, probes on the public port's paths, the admin listener only
// behind a ClusterIP Service and the ServiceMonitor, the backfill Job
// running a real command.
func TestKubernetesMatchesTheBinary(t *testing.T) {
	byKind := map[string][]map[string]any{}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	for _, f := range files {
		docs, err := yamlDocs(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			byKind[str(t, d, "kind")] = append(byKind[str(t, d, "kind")], d)
		}
	}
	for _, kind := range []string{"Deployment", "Service", "NetworkPolicy", "ServiceMonitor", "Job", "PodDisruptionBudget"} {
		if len(byKind[kind]) == 0 {
			t.Errorf("no %s in deploy/kubernetes", kind)
		}
	}
	dep := byKind["Deployment"][0]
	c := get(t, dep, "spec", "template", "spec", "containers", 0)
	env := containerEnv(t, c)
	checkEnvNames(t, "Deployment", "serve", keys(env))
	ports := map[string]string{}
	for _, p := range list(t, c, "ports") {
		ports[str(t, p, "name")] = str(t, p, "containerPort")
	}
	if ports["http"] != env["PORT"] || ports["admin"] != portOf(t, env["ADMIN_LISTEN"]) || len(ports) != 2 {
		t.Errorf("container ports %v, want http=PORT (%s) and admin=ADMIN_LISTEN's (%s)", ports, env["PORT"], env["ADMIN_LISTEN"])
	}
	if got := list(t, c, "args"); len(got) != 1 || got[0] != "serve" {
		t.Errorf("Deployment args %v, want [serve]", got)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		path, port := str(t, c, probe, "httpGet", "path"), str(t, c, probe, "httpGet", "port")
		if !slices.Contains(publicProbes, path) || port != "http" {
			t.Errorf("%s: %s on %s, want one of %v on the public port", probe, path, port, publicProbes)
		}
	}
	if grace, drain := get(t, dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int), 25; grace <= drain {
		t.Errorf("terminationGracePeriodSeconds %d must exceed serve's %d s drain", grace, drain)
	}
	for _, svc := range byKind["Service"] {
		for _, p := range list(t, svc, "spec", "ports") {
			target := str(t, p, "targetPort")
			if target == "admin" && str(t, svc, "spec", "type") != "ClusterIP" {
				t.Errorf("Service %s exposes the admin listener outside the cluster", str(t, svc, "metadata", "name"))
			}
			if _, ok := ports[target]; !ok {
				t.Errorf("Service %s targets unknown port %s", str(t, svc, "metadata", "name"), target)
			}
		}
	}
	sm := byKind["ServiceMonitor"][0]
	if ep := get(t, sm, "spec", "endpoints", 0); str(t, ep, "port") != "admin" || str(t, ep, "path") != metricsPath {
		t.Errorf("ServiceMonitor scrapes %v, want port admin path %s", ep, metricsPath)
	}
	job := get(t, byKind["Job"][0], "spec", "template", "spec", "containers", 0)
	args := list(t, job, "args")
	if len(args) == 0 || args[0] != "backfill" {
		t.Fatalf("backfill Job args %v", args)
	}
	checkEnvNames(t, "backfill Job", "backfill", keys(containerEnv(t, job)))
	for _, c := range []any{c, job} {
		if m, ok := c.(map[string]any); ok && m["command"] != nil {
			t.Errorf("a container overrides the image's entrypoint %s: %v", entrypoint, m["command"])
		}
	}
}

// TestComposeMatchesTheBinary checks compose.yaml, the Prometheus config it
// mounts and Grafana's provisioning against each other and the binary.
func TestComposeMatchesTheBinary(t *testing.T) {
	docs, err := yamlDocs("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	services := get(t, docs[0], "services").(map[string]any)
	for _, name := range []string{"postgres", "orb-sync", "prometheus", "grafana"} {
		if services[name] == nil {
			t.Errorf("compose lacks the %s service", name)
		}
	}
	app := services["orb-sync"]
	env := map[string]string{}
	for k, v := range get(t, app, "environment").(map[string]any) {
		env[k] = fmt.Sprint(v)
	}
	checkEnvNames(t, "compose orb-sync", "serve", keys(env))
	published := map[string]string{} // Container port to host binding.
	for _, p := range list(t, app, "ports") {
		s := fmt.Sprint(p)
		i := strings.LastIndex(s, ":")
		published[s[i+1:]] = s[:i]
	}
	if _, ok := published[env["PORT"]]; !ok {
		t.Errorf("PORT %s is not published: %v", env["PORT"], published)
	}
	admin := portOf(t, env["ADMIN_LISTEN"])
	if host, ok := published[admin]; ok && !strings.HasPrefix(host, "127.0.0.1:") {
		t.Errorf("the admin port %s is published beyond loopback: %s", admin, host)
	}
	if hc := list(t, app, "healthcheck", "test"); len(hc) != 3 || hc[1] != entrypoint || hc[2] != "healthcheck" {
		t.Errorf("orb-sync healthcheck %v, want [CMD %s healthcheck]", hc, entrypoint)
	}
	// Prometheus: scrapes the admin port, loads the rules file it mounts.
	mounts := volumeTargets(t, services["prometheus"])
	prom, err := yamlDocs("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if mounts["./prometheus/prometheus.yml"] != "/etc/prometheus/prometheus.yml" {
		t.Errorf("prometheus.yml is not mounted where Prometheus reads it: %v", mounts)
	}
	if rules := str(t, prom[0], "rule_files", 0); mounts["./prometheus/orb-sync.rules.yaml"] != rules {
		t.Errorf("rule_files %s is not where the rules are mounted (%v)", rules, mounts)
	}
	scrape := get(t, prom[0], "scrape_configs", 0)
	if target := str(t, scrape, "static_configs", 0, "targets", 0); target != "orb-sync:"+admin || str(t, scrape, "metrics_path") != metricsPath {
		t.Errorf("Prometheus scrapes %s%s, want orb-sync:%s%s", target, str(t, scrape, "metrics_path"), admin, metricsPath)
	}
	// Grafana: the provider's folder holds the mounted dashboard; the
	// datasource points at the prometheus service.
	gmounts := volumeTargets(t, services["grafana"])
	provider, err := yamlDocs("grafana/provisioning/dashboards/orb-sync.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if dir := str(t, provider[0], "providers", 0, "options", "path"); filepath.Dir(gmounts["./grafana/orb-sync.json"]) != dir {
		t.Errorf("dashboard mounted at %s, provider reads %s", gmounts["./grafana/orb-sync.json"], dir)
	}
	if gmounts["./grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("provisioning not mounted: %v", gmounts)
	}
	dsDocs, err := yamlDocs("grafana/provisioning/datasources/prometheus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if url := str(t, dsDocs[0], "datasources", 0, "url"); url != "http://prometheus:9090" {
		t.Errorf("Grafana's datasource is %s, want the compose service http://prometheus:9090", url)
	}
}

func volumeTargets(t *testing.T, svc any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range list(t, svc, "volumes") {
		parts := strings.Split(fmt.Sprint(v), ":")
		if len(parts) >= 2 {
			out[parts[0]] = parts[1]
		}
		if strings.HasPrefix(parts[0], "./") {
			if _, err := os.Stat(parts[0]); err != nil {
				t.Errorf("mounted file %s: %v", parts[0], err)
			}
		}
	}
	return out
}

func containerEnv(t *testing.T, c any) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range list(t, c, "env") {
		env[str(t, e, "name")] = str(t, e, "value")
	}
	return env
}

var envInHelp = regexp.MustCompile(`\(env ([A-Z0-9_]+)`)

// checkEnvNames fails for a name the command does not read (per its -h).
func checkEnvNames(t *testing.T, where, command string, names []string) {
	t.Helper()
	help := runBinary(t, command, "-h")
	known := map[string]bool{"GOGC": true, "GOMEMLIMIT": true} // Read by the Go runtime.
	for _, m := range envInHelp.FindAllStringSubmatch(help, -1) {
		known[m[1]] = true
	}
	if len(known) < 8 {
		t.Fatalf("%s -h names only %d variables:\n%s", command, len(known), help)
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s sets %s, which `orb-sync %s` does not read", where, n, command)
		}
	}
}

// runBinary runs the built orb-sync and returns stdout and stderr; -h exits
// non-zero by design, so the exit code is not checked.
func runBinary(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return port
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
