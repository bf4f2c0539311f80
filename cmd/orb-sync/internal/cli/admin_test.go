package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

const testAdminToken = "admin-token-for-tests-0123456789"

// adminStatus is the body of GET /admin/backfill.
type adminStatus struct {
	Job      orbsync.BackfillJobStatus `json:"job"`
	Progress []orbsync.Progress        `json:"progress"`
}

func TestAdminBackfillEndpoint(t *testing.T) {
	t.Parallel()
	s, srv := pgtest.NewSchema(t), orbapitest.New(t)
	putObjects(srv, "customers", "cus", 120)
	client, err := orbapi.New(orbapi.Config{APIKey: srv.APIKey, BaseURL: srv.URL, RateLimit: -1, PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	runner, err := orbsync.New(s.Pool, client, orbsync.Config{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job := orbsync.NewBackfillJob(ctx, runner, logger)
	defer job.Stop()
	api := httptest.NewServer(requireBearer(testAdminToken, job))
	defer api.Close()
	call := func(method, query, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	for _, tt := range []struct {
		name, method, query, token string
		want                       int
	}{
		{"no token", http.MethodGet, "", "", http.StatusUnauthorized},
		{"wrong token", http.MethodPost, "", "nope", http.StatusUnauthorized},
		{"bad entity", http.MethodPost, "?entity=widgets", testAdminToken, http.StatusBadRequest},
		{"bad since", http.MethodPost, "?since=soon", testAdminToken, http.StatusBadRequest},
	} {
		if code, body := call(tt.method, tt.query, tt.token); code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.want)
		}
	}

	// Held up by a slow first page, so the second POST finds it running.
	srv.Inject(1, orbapitest.Fault{Delay: 300 * time.Millisecond})
	if code, body := call(http.MethodPost, "?entity=customers", testAdminToken); code != http.StatusAccepted || !strings.Contains(body, `"running": true`) {
		t.Fatalf("start: %d %s", code, body)
	}
	if code, _ := call(http.MethodPost, "?entity=customers", testAdminToken); code != http.StatusConflict {
		t.Fatalf("second start: %d, want 409", code)
	}
	var st adminStatus
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := call(http.MethodGet, "", testAdminToken)
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if !st.Job.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Job.Error != "" || len(st.Job.Entities) != 1 || st.Job.Entities[0].Status != "done" || st.Job.Entities[0].Stored != 120 {
		t.Fatalf("job %+v", st.Job)
	}
	if len(st.Progress) != 1 || !st.Progress[0].Done || st.Progress[0].Fetched != 120 {
		t.Fatalf("stored progress %+v", st.Progress)
	}
}
