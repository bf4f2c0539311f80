package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/sleep"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
)

// delivery is one event to deliver: its id and exact body.
type delivery struct {
	id   string
	body []byte
}

// answer is one HTTP answer (or transport failure, code 0), with when it
// came and how long it took.
type answer struct {
	at      time.Time
	code    int
	latency time.Duration
}

// ledger records every acknowledgement: the ids answered 2xx (how many
// times), and every answer, so faults can be checked against it.
type ledger struct {
	mu      sync.Mutex
	acked   map[string]int
	answers []answer
}

func newLedger() *ledger { return &ledger{acked: map[string]int{}} }

func (l *ledger) record(id string, a answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.code >= 200 && a.code < 300 {
		l.acked[id]++
	}
	l.answers = append(l.answers, a)
}

// ackedIDs returns a copy of the acknowledged ids.
func (l *ledger) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	return ids
}

// answersBetween counts answers by code that arrived in [from, to].
func (l *ledger) answersBetween(from, to time.Time) map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int{}
	for _, a := range l.answers {
		if !a.at.Before(from) && !a.at.After(to) {
			out[a.code]++
		}
	}
	return out
}

// firstAckAfter is the time of the first 2xx at or after t (zero if none).
func (l *ledger) firstAckAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, a := range l.answers {
		if a.code >= 200 && a.code < 300 && !a.at.Before(t) && (first.IsZero() || a.at.Before(first)) {
			first = a.at
		}
	}
	return first
}

// latencies returns the 2xx latencies in [from, to], sorted.
func (l *ledger) latencies(from, to time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, a := range l.answers {
		if a.code >= 200 && a.code < 300 && !a.at.Before(from) && !a.at.After(to) {
			out = append(out, a.latency)
		}
	}
	slices.Sort(out)
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// sign signs body as Orb does, at now.
func (s *suite) sign(req *http.Request, body []byte) {
	stamp := webhook.FormatTimestamp(time.Now())
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(s.secret, stamp, body))
	req.Header.Set("Content-Type", "application/json")
}

var httpClient = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 0},
}

// post delivers one signed event and records the answer.
func (s *suite) post(ctx context.Context, url string, d delivery, l *ledger) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		return 0
	}
	s.sign(req, d.body)
	start := time.Now()
	resp, err := httpClient.Do(req)
	code := 0
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
	}
	if ctx.Err() != nil && code == 0 {
		return 0 // Our own stop, not the service's answer.
	}
	l.record(d.id, answer{at: time.Now(), code: code, latency: time.Since(start)})
	return code
}

// loadConfig describes a load: senders posting generated events to the
// targets in turn, each retrying what was not acknowledged (as Orb does)
// before sending new ones.
type loadConfig struct {
	targets  []string
	senders  int
	rate     float64 // events per second over all senders; 0: as fast as answered
	entities int
	seed     uint64
}

// load runs until ctx ends and returns the ledger. Unacknowledged events
// left at the end were never acknowledged, so they cannot be lost.
type load struct {
	ledger *ledger
	sent   atomic.Int64
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

func (s *suite) startLoad(ctx context.Context, cfg loadConfig) *load {
	ctx, cancel := context.WithCancel(ctx)
	ld := &load{ledger: newLedger(), cancel: cancel}
	var tick <-chan time.Time
	if cfg.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
		tick = t.C
		go func() { <-ctx.Done(); t.Stop() }()
	}
	for i := range cfg.senders {
		ld.wg.Go(func() {
			gen, err := webhooktest.New(max(cfg.entities, 1), cfg.seed*1000+uint64(i)+1)
			if err != nil {
				panic(err)
			}
			var retry []delivery
			for n := i; ctx.Err() == nil; n++ {
				if tick != nil {
					select {
					case <-tick:
					case <-ctx.Done():
						return
					}
				}
				var d delivery
				if len(retry) > 0 {
					d, retry = retry[0], retry[1:]
				} else {
					_, id, body := gen.Next(webhooktest.Kinds[n%len(webhooktest.Kinds)])
					d = delivery{id: id, body: body}
				}
				ld.sent.Add(1)
				code := s.post(ctx, cfg.targets[n%len(cfg.targets)], d, ld.ledger)
				if code < 200 || code >= 300 {
					retry = append(retry, d)
					sleep.For(ctx, 100*time.Millisecond)
				}
			}
		})
	}
	return ld
}

// stop stops the senders and waits for them.
func (ld *load) stop() *ledger {
	ld.cancel()
	ld.wg.Wait()
	return ld.ledger
}

// deliverAll sends every delivery (retrying each until acknowledged) with
// senders goroutines taking them in order from a shared queue.
func (s *suite) deliverAll(ctx context.Context, url string, ds []delivery, senders int, l *ledger) {
	next := make(chan delivery)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for d := range next {
				for ctx.Err() == nil {
					if code := s.post(ctx, url, d, l); code >= 200 && code < 300 {
						break
					}
					sleep.For(ctx, 100*time.Millisecond)
				}
			}
		})
	}
	for _, d := range ds {
		select {
		case next <- d:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
}
