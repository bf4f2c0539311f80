package cli

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/orb-sync/orb-sync/projector"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &environment{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}
	code := mainWithEnv(context.Background(), args, e)
	return code, stdout.String(), stderr.String()
}

func TestSettingsErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	full := map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db", "ORB_WEBHOOK_SECRET": "s"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no database url", with("DATABASE_URL", ""), nil, "DATABASE_URL is not set"},
		{"no secret", with("ORB_WEBHOOK_SECRET", " , "), nil, "ORB_WEBHOOK_SECRET is not set"},
		{"bad port", with("PORT", "http"), nil, `PORT="http" is not an integer`},
		{"port out of range", with("PORT", "70000"), nil, "PORT=70000 must be between 1 and 65535"},
		{"bad schema", with("DATABASE_SCHEMA", "Orb-Live"), nil, "DATABASE_SCHEMA"},
		{"bad tolerance", with("ORB_WEBHOOK_TOLERANCE", "five"), nil, "ORB_WEBHOOK_TOLERANCE"},
		{"bad log level", with("LOG_LEVEL", "loud"), nil, "LOG_LEVEL"},
		{"negative lag bound", with("ORB_BACKPRESSURE_LAG_EVENTS", "-1"), nil, "ORB_BACKPRESSURE_LAG_EVENTS=-1 must be between 0 (off)"},
		{"bad lag bound", with("ORB_BACKPRESSURE_LAG_EVENTS", "5k"), nil, `ORB_BACKPRESSURE_LAG_EVENTS="5k" is not an integer`},
		{"hold past Orb's timeout", with("ORB_BACKPRESSURE_MAX_WAIT", "5s"), nil, "ORB_BACKPRESSURE_MAX_WAIT=5s must be between 10ms and 4s"},
		{"bad hold", with("ORB_BACKPRESSURE_MAX_WAIT", "2"), nil, "ORB_BACKPRESSURE_MAX_WAIT"},
		{"history of a table without one", with("PROJECTOR_HISTORY", "invoices,events"), nil, `PROJECTOR_HISTORY="invoices,events": "events" keeps no history`},
		{"empty history entry", with("PROJECTOR_HISTORY", "invoices,"), nil, `PROJECTOR_HISTORY="invoices,": "" keeps no history`},
		{"unreachable database", full, []string{"--port", "65000"}, "acquiring a connection"},
		{"stray argument", full, []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, tt.env, append([]string{"serve"}, tt.args...)...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want failure naming %q", code, stderr, tt.want)
			}
			if strings.Contains(stderr, "postgres://u@") {
				t.Fatal("the database URL leaked into the error output")
			}
		})
	}
}

// TestPausedHistorySetting reads PROJECTOR_HISTORY into the tables to
// pause: the ones not listed.
func TestPausedHistorySetting(t *testing.T) {
	t.Parallel()
	versioned := projector.VersionedTables()
	for _, tt := range []struct {
		live string
		want []string
	}{
		{"all", nil},
		{"none", versioned},
		{" invoices , subscriptions_history", slices.DeleteFunc(slices.Clone(versioned), func(t string) bool { return t == "invoices" || t == "subscriptions" })},
		{strings.Join(versioned, ","), nil},
	} {
		got, err := pausedHistory(tt.live)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("PROJECTOR_HISTORY=%q: paused %v, %v; want %v", tt.live, got, err, tt.want)
		}
	}
	if len(versioned) < 3 {
		t.Fatalf("versioned tables %v: too few to test a list", versioned)
	}
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestParseMix(t *testing.T) {
	t.Parallel()
	if _, err := parseMix("customer=1,subscription=2,invoice=0"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"customer", "plan=1", "invoice=-1", "invoice=x"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}
