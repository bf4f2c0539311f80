package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/gorilla/mux"

	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

func TestAdminReprojectEndpoint(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	fillLogForTest(t, s, 120, 10)
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	router := mux.NewRouter()
	stop := mountReproject(ctx, testAdminToken, s.Pool, s.Name, logger, nil, router, nil)
	defer stop()
	api := httptest.NewServer(router)
	defer api.Close()
	call := func(method, body, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+"/admin/reproject", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}

	for _, tt := range []struct {
		name, method, body, token string
		want                      int
	}{
		{"no token", http.MethodGet, "", "", http.StatusUnauthorized},
		{"wrong token", http.MethodPost, `{"all": true}`, "nope", http.StatusUnauthorized},
		{"not json", http.MethodPost, `tables=customers`, testAdminToken, http.StatusBadRequest},
		{"unknown field", http.MethodPost, `{"table": "customers"}`, testAdminToken, http.StatusBadRequest},
		{"neither", http.MethodPost, `{}`, testAdminToken, http.StatusBadRequest},
		{"both", http.MethodPost, `{"all": true, "tables": ["customers"]}`, testAdminToken, http.StatusBadRequest},
		{"unknown table", http.MethodPost, `{"tables": ["widgets"]}`, testAdminToken, http.StatusBadRequest},
		{"nothing yet", http.MethodGet, "", testAdminToken, http.StatusOK},
	} {
		if code, body := call(tt.method, tt.body, tt.token); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
		}
	}

	code, body := call(http.MethodPost, `{"tables": ["customers", "invoices"]}`, testAdminToken)
	if code != http.StatusAccepted || !strings.Contains(body, `"running": true`) {
		t.Fatalf("start: %d %s", code, body)
	}
	var st projector.RebuildJobStatus
	waitFor(t, func() bool {
		_, body := call(http.MethodGet, "", testAdminToken)
		st = projector.RebuildJobStatus{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		return !st.Running
	})
	// 40 events of each kind over 10 entities: at most 10 rows.
	if st.Error != "" || len(st.Results) != 2 || st.Progress == nil || st.Progress.TablesDone != 2 || st.Progress.Current != "" ||
		st.Progress.EventsDone != 240 || st.Results[0].Table != "customers" || st.Results[0].Rows < 1 || st.Results[0].Rows > 10 {
		t.Fatalf("finished status: %+v %+v", st, st.Progress)
	}
}

// TestAdminReprojectOff: without ADMIN_TOKEN there is no endpoint. (A
// second rebuild while one runs: projector.TestRebuildJobRefusesASecond.)
func TestAdminReprojectOff(t *testing.T) {
	t.Parallel()
	router := mux.NewRouter()
	stop := mountReproject(context.Background(), "", nil, "orb", slog.New(slog.DiscardHandler), nil, router, nil)
	defer stop()
	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/reproject", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without ADMIN_TOKEN: %d, want 404", rec.Code)
	}
}

// TestServeAdminReproject runs `orb-sync serve` with ADMIN_TOKEN: a rebuild
// of every table started over HTTP finishes while the service runs, and
// its metrics are exported.
func TestServeAdminReproject(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	fillLogForTest(t, s, 60, 5)
	args, base, admin := serveArgs(t)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=secret", "LOG_FORMAT=text", "ADMIN_TOKEN="+testAdminToken)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	post := func() int {
		req, _ := http.NewRequest(http.MethodPost, admin+"/admin/reproject", strings.NewReader(`{"all": true}`))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusAccepted {
		t.Fatalf("POST /admin/reproject: %d", code)
	}
	var st projector.RebuildJobStatus
	waitFor(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, admin+"/admin/reproject", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return !st.Running
	})
	if st.Error != "" || len(st.Results) != len(projector.Projections()) {
		t.Fatalf("admin rebuild: %+v\n%s", st, stderr.String())
	}
	assertPublicHidesAdmin(t, base)
	if m := get(t, admin+"/metrics"); !strings.Contains(m, `orb_rebuild_runs_total{projection="customers",result="swapped"} 1`) {
		t.Errorf("metrics lack the rebuild:\n%s", m)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}
