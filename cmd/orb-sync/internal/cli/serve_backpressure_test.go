package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// These tests run `orb-sync serve` as an ingest-only replica (no projector
// in the process) with a lag bound of 2 events, and play the projector of
// another replica themselves by setting the checkpoints: the lag is then
// exactly what the test makes it, and the release of a held ack follows a
// checkpoint move the test chose, not a timer.
const bpTestBound = 2

type bpServe struct {
	schema      *pgtest.Schema
	base, admin string
	cmd         *exec.Cmd
}

func startBackpressureServe(t *testing.T, maxWait string) *bpServe {
	t.Helper()
	return startServeWith(t, "PROJECTOR_ENABLED=false",
		"ORB_BACKPRESSURE_LAG_EVENTS="+strconv.Itoa(bpTestBound), "ORB_BACKPRESSURE_MAX_WAIT="+maxWait)
}

// startServeWith runs `orb-sync serve` on a new empty schema with the
// secret post signs with, and env added; it returns once serve is ready.
func startServeWith(t *testing.T, env ...string) *bpServe {
	t.Helper()
	s := pgtest.NewEmptySchema(t)
	args, base, admin := serveArgs(t)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=bp-secret", "LOG_FORMAT=text"), env...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("serve's stderr:\n%s", stderr.String())
		}
	})
	waitFor(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return &bpServe{schema: s, base: base, admin: admin, cmd: cmd}
}

// post delivers a signed customer.edited webhook with event id id.
func (b *bpServe) post(ctx context.Context, id string) (int, error) {
	body := fmt.Appendf(nil, `{"id":%q,"type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_1"},"properties":{}}`, id)
	stamp := webhook.FormatTimestamp(time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/webhooks", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign("bp-secret", stamp, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// postHeld delivers webhook id in the background and returns once its ack
// is being held; the channel receives the status code when it is answered.
func (b *bpServe) postHeld(t *testing.T, id string) <-chan int {
	t.Helper()
	answered := make(chan int, 1)
	go func() {
		code, err := b.post(context.Background(), id)
		if err != nil {
			t.Error(err)
		}
		answered <- code
	}()
	waitFor(t, func() bool { return b.metric(t, "orb_webhook_acks_holding") == 1 })
	return answered
}

// postOK delivers webhooks that must be acknowledged within 3 s: less
// than the 4 s hold these tests allow, so a held one fails the test.
func (b *bpServe) postOK(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		code, err := b.post(ctx, id)
		cancel()
		if err != nil || code != http.StatusOK {
			t.Fatalf("webhook %s: %d, %v", id, code, err)
		}
	}
}

// setCheckpoints moves every projection's checkpoint to seq, as a
// projector in another replica would.
func (b *bpServe) setCheckpoints(t *testing.T, seq int64) {
	t.Helper()
	var names []string
	for _, p := range projector.Projections() {
		names = append(names, p.Name)
	}
	_, err := b.schema.Pool.Exec(context.Background(), "insert into "+b.schema.Name+".projection_checkpoints (projection, version, seq) "+
		"select unnest($1::text[]), 1, $2 on conflict (projection) do update set seq = excluded.seq, updated_at = now()", names, seq)
	if err != nil {
		t.Fatal(err)
	}
}

// stored counts the rows of event id.
func (b *bpServe) stored(t *testing.T, id string) int {
	t.Helper()
	var n int
	if err := b.schema.Pool.QueryRow(context.Background(), "select count(*) from "+b.schema.Name+".events where event_id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// metric reads one series (name with its labels, as exposed) from
// /metrics; -1 when absent.
func (b *bpServe) metric(t *testing.T, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(get(t, b.admin+"/metrics")))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return -1
}

// waitEstimate waits until the receiver's lag estimate is lag, with a
// projector advancing or not.
func (b *bpServe) waitEstimate(t *testing.T, lag int64, advancing bool) {
	t.Helper()
	want := 0.0
	if advancing {
		want = 1
	}
	waitFor(t, func() bool {
		return b.metric(t, "orb_webhook_backpressure_lag_events") == float64(lag) &&
			b.metric(t, "orb_webhook_backpressure_projector_advancing") == want
	})
}

func (b *bpServe) held(t *testing.T, release string) float64 {
	t.Helper()
	return b.metric(t, fmt.Sprintf("orb_webhook_acks_held_total{release=%q}", release))
}

// overBound makes the lag 3 (over the bound of 2) with the checkpoints
// just moved, so a projector is advancing: four webhooks, each
// acknowledged at once (no checkpoint has moved yet), then the
// checkpoints moved from 0 to 1.
func (b *bpServe) overBound(t *testing.T) {
	t.Helper()
	b.setCheckpoints(t, 0)
	b.postOK(t, "evt_1", "evt_2", "evt_3", "evt_4")
	b.waitEstimate(t, 4, false)
	b.setCheckpoints(t, 1)
	b.waitEstimate(t, 3, true)
}

// TestBackpressureNotHeldWithoutAdvancingProjector: with the lag over the
// bound but no checkpoint moving (no projector anywhere, or one stopped),
// acks are not held: holding could not bring the lag down.
func TestBackpressureNotHeldWithoutAdvancingProjector(t *testing.T) {
	t.Parallel()
	b := startBackpressureServe(t, "4s")
	b.setCheckpoints(t, 0)
	b.postOK(t, "evt_1", "evt_2", "evt_3")
	b.waitEstimate(t, 3, false)
	b.postOK(t, "evt_4", "evt_5")
	for _, release := range []string{"caught_up", "stalled", "max_wait", "sender_gone"} {
		if n := b.held(t, release); n != 0 {
			t.Errorf("acks held (released %s): %v, want 0", release, n)
		}
	}
}

// TestBackpressureHoldsUntilCaughtUp: with the lag over the bound and a
// projector advancing, a stored event's ack waits until the checkpoints
// move back under the bound, then goes out as 200.
func TestBackpressureHoldsUntilCaughtUp(t *testing.T) {
	t.Parallel()
	b := startBackpressureServe(t, "4s")
	b.overBound(t)
	answered := b.postHeld(t, "evt_5")
	// Held, and already committed.
	if n := b.stored(t, "evt_5"); n != 1 {
		t.Fatalf("held event stored %d times, want 1", n)
	}
	select {
	case code := <-answered:
		t.Fatalf("answered %d while the lag is over the bound", code)
	default:
	}
	b.setCheckpoints(t, 5)
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("released ack: %d, want 200", code)
	}
	if n := b.held(t, "caught_up"); n != 1 {
		t.Fatalf("acks released on catching up: %v, want 1", n)
	}
}

// TestBackpressureMaxWaitAcks: a projector advancing too slowly does not
// keep an ack past the longest hold; the event is stored and answered 200.
func TestBackpressureMaxWaitAcks(t *testing.T) {
	t.Parallel()
	b := startBackpressureServe(t, "300ms")
	b.overBound(t)
	b.postOK(t, "evt_5")
	if n := b.held(t, "max_wait"); n != 1 {
		t.Fatalf("acks released at the longest hold: %v, want 1", n)
	}
	if n := b.metric(t, "orb_webhook_ack_hold_seconds_count"); n != 1 {
		t.Fatalf("hold times observed: %v, want 1", n)
	}
	if n := b.stored(t, "evt_5"); n != 1 {
		t.Fatalf("event stored %d times, want 1", n)
	}
}

// TestBackpressureSenderGoneLosesNothing: a sender hanging up while its
// ack is held loses nothing: the event was committed first, and its retry
// is acknowledged as a duplicate.
func TestBackpressureSenderGoneLosesNothing(t *testing.T) {
	t.Parallel()
	b := startBackpressureServe(t, "4s")
	b.overBound(t)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := b.post(ctx, "evt_5")
		gone <- err
	}()
	waitFor(t, func() bool { return b.metric(t, "orb_webhook_acks_holding") == 1 })
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("the request was answered before the sender hung up")
	}
	waitFor(t, func() bool { return b.held(t, "sender_gone") == 1 })
	if n := b.stored(t, "evt_5"); n != 1 {
		t.Fatalf("event of the sender gone stored %d times, want 1", n)
	}
	b.setCheckpoints(t, 5)
	b.waitEstimate(t, 0, true)
	b.postOK(t, "evt_5") // The retry: a duplicate, acknowledged.
	if n := b.metric(t, `orb_webhook_requests_total{outcome="duplicate",type="customer.edited"}`); n != 1 {
		t.Fatalf("duplicates: %v, want 1", n)
	}
}

// TestBackpressureShutdownReleasesHeldAcks: on SIGTERM a held ack goes out
// at once as 200 (its event is stored): the drain does not wait out the
// longest hold (4 s here; the answer must come within 2 s).
func TestBackpressureShutdownReleasesHeldAcks(t *testing.T) {
	t.Parallel()
	b := startBackpressureServe(t, "4s")
	b.overBound(t)
	answered := b.postHeld(t, "evt_5")
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Fatalf("held ack on shutdown: %d, want 200", code)
		}
	case <-timer.C:
		t.Fatal("held ack not answered within 2 s of SIGTERM")
	}
	if n := b.stored(t, "evt_5"); n != 1 {
		t.Fatalf("event stored %d times, want 1", n)
	}
}
