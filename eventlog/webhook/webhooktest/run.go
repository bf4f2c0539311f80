package webhooktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
)

// Config says what to send and how hard.
type Config struct {
	// URL of the webhook endpoint. Only loopback hosts are accepted: this is
	// a load generator, and this tool never aims one at another machine.
	URL string
	// Secret signs every request.
	Secret string
	// Concurrency is the number of senders, each with one request in flight.
	// Defaults to 8.
	Concurrency int
	// Duration stops the run; Requests stops it after that many requests.
	// At least one must be set.
	Duration time.Duration
	Requests int
	// Entities is the number of distinct customers, subscriptions and
	// invoices events are about. Defaults to 1,000.
	Entities int
	// Mix is the relative weight of each kind; defaults to equal thirds.
	Mix map[Kind]int
	// Seed sends one event creating each entity of each kind (entity 0 of
	// every kind, then entity 1, ...) instead of updating random ones;
	// Requests defaults to 3 x Entities.
	Seed bool
}

// Report summarizes a run.
type Report struct {
	Requests   int
	Elapsed    time.Duration
	P50, P99   time.Duration
	Max        time.Duration
	BodyBytes  int64
	Statuses   map[int]int // non-2xx answers by status
	Errors     int         // transport errors
	FirstError string
}

// PerSecond is the throughput of the run.
func (r Report) PerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// String renders the report the way the README quotes it.
func (r Report) String() string {
	non2xx := 0
	for _, n := range r.Statuses {
		non2xx += n
	}
	s := fmt.Sprintf("requests=%d elapsed=%s req/s=%.0f p50=%s p99=%s max=%s MB/s=%.1f non2xx=%d errors=%d",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.PerSecond(), r.P50.Round(10*time.Microsecond),
		r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond), float64(r.BodyBytes)/r.Elapsed.Seconds()/1e6, non2xx, r.Errors)
	if non2xx > 0 {
		s += fmt.Sprintf(" statuses=%v", r.Statuses)
	}
	if r.FirstError != "" {
		s += " first_error=" + r.FirstError
	}
	return s
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("loadgen: invalid url %q", c.URL)
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return fmt.Errorf("loadgen: resolving %s: %w", u.Hostname(), err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("loadgen: %s is not a loopback address; refusing to generate load against it", u.Hostname())
		}
	}
	if c.Secret == "" {
		return errors.New("loadgen: a webhook secret is required to sign requests")
	}
	if c.Duration <= 0 && c.Requests <= 0 && !c.Seed {
		return errors.New("loadgen: set a duration or a request count")
	}
	return nil
}

// Run sends signed webhooks until the duration or request count is reached,
// or ctx ends.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Entities <= 0 {
		cfg.Entities = 1000
	}
	mix := weighted(cfg.Mix)
	if cfg.Seed && cfg.Requests <= 0 {
		cfg.Requests = len(Kinds) * cfg.Entities
	}
	var seeded atomic.Int64 // the seed's next request
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency},
	}
	var (
		mu        sync.Mutex
		report    = Report{Statuses: map[int]int{}}
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	remaining := cfg.Requests
	take := func() bool {
		if cfg.Requests <= 0 {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if remaining == 0 {
			return false
		}
		remaining--
		return true
	}
	start := time.Now()
	for w := range cfg.Concurrency {
		gen, err := New(cfg.Entities, uint64(w+1))
		if err != nil {
			return Report{}, err
		}
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			for i := 0; ctx.Err() == nil && take(); i++ {
				var body []byte
				if cfg.Seed {
					j := int(seeded.Add(1) - 1)
					_, _, body = gen.NextFor(Kinds[j%len(Kinds)], j/len(Kinds))
				} else {
					_, _, body = gen.Next(mix[(i*7+w)%len(mix)])
				}
				took, status, err := send(ctx, client, cfg, body)
				if ctx.Err() != nil && err != nil {
					break // The run ended mid-request; don't count it.
				}
				local = append(local, took)
				mu.Lock()
				report.Requests++
				report.BodyBytes += int64(len(body))
				switch {
				case err != nil:
					report.Errors++
					if report.FirstError == "" {
						report.FirstError = err.Error()
					}
				case status < 200 || status > 299:
					report.Statuses[status]++
				}
				mu.Unlock()
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	report.Elapsed = time.Since(start)
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		report.P50 = latencies[n/2]
		report.P99 = latencies[min(n-1, n*99/100)]
		report.Max = latencies[n-1]
	}
	return report, nil
}

func send(ctx context.Context, client *http.Client, cfg Config, body []byte) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	stamp := webhook.FormatTimestamp(time.Now())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(cfg.Secret, stamp, body))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(start), 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode, nil
}

// weighted expands a mix into a list to cycle through.
func weighted(mix map[Kind]int) []Kind {
	var out []Kind
	for _, k := range Kinds {
		w, ok := mix[k]
		if !ok && len(mix) == 0 {
			w = 1
		}
		for range w {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = Kinds
	}
	return out
}
