package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
)

// hostileRequest is one bad request of the corpus: what it is, and how to
// send it (returning the status, 0 when the server closed the connection
// without an answer).
type hostileRequest struct {
	kind string
	send func(ctx context.Context, sv *service) (int, error)
	// mayHangUp marks requests too large to be read whole: the server
	// answers 413 or 431 and closes, and a client still writing can see
	// its connection reset before it reads that answer. For these, a
	// reset while sending also counts as refused (nothing is stored,
	// which the scenario checks separately).
	mayHangUp bool
}

// hungUp reports whether err is the server closing the connection on a
// client that was still sending.
func hungUp(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// validBody is a well-formed event body with id.
func validBody(id string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":"customer.edited","created_at":%q,"customer":{"id":"cus_hostile","name":"H"},"properties":{}}`,
		id, time.Now().UTC().Format(time.RFC3339Nano))
}

// httpRequest builds a corpus entry sent with net/http.
func httpRequest(kind, method string, body []byte, headers func(h http.Header)) hostileRequest {
	return hostileRequest{kind: kind, send: func(ctx context.Context, sv *service) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, sv.url("/webhooks"), bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		headers(req.Header)
		resp, err := hostileClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, nil
	}}
}

var hostileClient = &http.Client{Timeout: 45 * time.Second}

// signedHeaders signs body with secret at ts, as JSON.
func signedHeaders(secret string, ts time.Time, body []byte) func(http.Header) {
	return func(h http.Header) {
		stamp := webhook.FormatTimestamp(ts)
		h.Set(webhook.HeaderTimestamp, stamp)
		h.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(secret, stamp, body))
		h.Set("Content-Type", "application/json")
	}
}

// corpus generates the hostile requests: every one must get a 4xx.
func (s *suite) corpus() []hostileRequest {
	var c []hostileRequest
	now := time.Now
	add := func(n int, kind string, make func(i int) hostileRequest) {
		for i := range n {
			r := make(i)
			r.kind = kind
			r.mayHangUp = strings.HasPrefix(kind, "oversized") || strings.HasPrefix(kind, "header flood")
			c = append(c, r)
		}
	}
	id := func(kind string, i int) string { return fmt.Sprintf("hostile_%s_%d", kind, i) }
	signedBody := func(kind string, body func(i int) []byte) func(int) hostileRequest {
		return func(i int) hostileRequest {
			b := body(i)
			return httpRequest(kind, http.MethodPost, b, signedHeaders(s.secret, now(), b))
		}
	}
	add(100, "missing signature", func(i int) hostileRequest {
		b := validBody(id("nosig", i))
		return httpRequest("", http.MethodPost, b, func(h http.Header) {
			h.Set(webhook.HeaderTimestamp, webhook.FormatTimestamp(now()))
			h.Set("Content-Type", "application/json")
		})
	})
	add(80, "wrong signature", func(i int) hostileRequest {
		b := validBody(id("badsig", i))
		return httpRequest("", http.MethodPost, b, func(h http.Header) {
			h.Set(webhook.HeaderTimestamp, webhook.FormatTimestamp(now()))
			h.Set(webhook.HeaderSignature, "v1="+randomHex(32))
			h.Set("Content-Type", "application/json")
		})
	})
	add(80, "other secret", func(i int) hostileRequest {
		b := validBody(id("othersecret", i))
		return httpRequest("", http.MethodPost, b, signedHeaders("whsec_not_ours", now(), b))
	})
	add(60, "duplicated signatures", func(i int) hostileRequest {
		b := validBody(id("dupsig", i))
		return httpRequest("", http.MethodPost, b, func(h http.Header) {
			h.Set(webhook.HeaderTimestamp, webhook.FormatTimestamp(now()))
			for range 2 + i%4 {
				h.Add(webhook.HeaderSignature, "v1="+randomHex(32))
			}
			h.Set("Content-Type", "application/json")
		})
	})
	add(50, "stale timestamp", func(i int) hostileRequest {
		b := validBody(id("stale", i))
		return httpRequest("", http.MethodPost, b, signedHeaders(s.secret, now().Add(-time.Duration(10+i)*time.Minute), b))
	})
	add(50, "future timestamp", func(i int) hostileRequest {
		b := validBody(id("future", i))
		return httpRequest("", http.MethodPost, b, signedHeaders(s.secret, now().Add(time.Duration(10+i)*time.Minute), b))
	})
	add(40, "missing or malformed timestamp", func(i int) hostileRequest {
		b := validBody(id("badts", i))
		return httpRequest("", http.MethodPost, b, func(h http.Header) {
			if i%2 == 0 {
				h.Set(webhook.HeaderTimestamp, "yesterday-ish")
			}
			h.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(s.secret, "yesterday-ish", b))
			h.Set("Content-Type", "application/json")
		})
	})
	add(50, "truncated after signing", func(i int) hostileRequest {
		b := validBody(id("trunc", i))
		sent := b[:len(b)/2]
		return httpRequest("", http.MethodPost, sent, signedHeaders(s.secret, now(), b))
	})
	add(50, "signed truncated JSON", signedBody("", func(i int) []byte {
		b := validBody(id("truncjson", i))
		return b[:len(b)-1-i%20]
	}))
	add(4, "oversized (11 MB)", signedBody("", func(i int) []byte {
		b := validBody(id("huge", i))
		return append(b[:len(b)-1], append([]byte(`,"pad":"`+strings.Repeat("x", 11<<20)), '"', '}')...)
	}))
	add(60, "non-JSON", signedBody("", func(i int) []byte { return fmt.Appendf(nil, "id=hostile_nonjson_%d&type=customer.edited", i) }))
	add(50, "JSON array", signedBody("", func(i int) []byte { return fmt.Appendf(nil, `[%s]`, validBody(id("array", i))) }))
	add(30, "JSON scalar", signedBody("", func(i int) []byte { return []byte([]string{`42`, `null`, `"hostile"`, `true`, `{}`}[i%5]) }))
	add(60, "envelope fields missing or mistyped", signedBody("", func(i int) []byte {
		return []byte([]string{
			fmt.Sprintf(`{"type":"customer.edited","created_at":"2025-01-08T08:19:20Z","x":%d}`, i),
			fmt.Sprintf(`{"id":"hostile_notype_%d","created_at":"2025-01-08T08:19:20Z"}`, i),
			fmt.Sprintf(`{"id":"hostile_nodate_%d","type":"customer.edited"}`, i),
			fmt.Sprintf(`{"id":%d,"type":"customer.edited","created_at":"2025-01-08T08:19:20Z"}`, i),
			fmt.Sprintf(`{"id":"hostile_baddate_%d","type":"customer.edited","created_at":"not a date"}`, i),
			fmt.Sprintf(`{"id":"%s","type":"customer.edited","created_at":"2025-01-08T08:19:20Z"}`, strings.Repeat("i", 300+i)),
		}[i%6])
	}))
	add(10, "nested 100,000 deep", signedBody("", func(i int) []byte { return eventlog.UnstorableDeepBody(id("deep", i)) }))
	add(10, "8,000-character customer id", signedBody("", func(i int) []byte { return eventlog.UnstorableLongIDBody(id("longid", i)) }))
	add(50, "invalid UTF-8", signedBody("", func(i int) []byte {
		b := validBody(id("utf8", i))
		return bytes.Replace(b, []byte(`"H"`), []byte("\"H\xff\xfe\xc3\""), 1)
	}))
	add(50, `\u0000 in a value`, signedBody("", func(i int) []byte {
		return bytes.Replace(validBody(id("nul", i)), []byte(`"H"`), []byte(`"H\u0000"`), 1)
	}))
	add(20, "empty body", signedBody("", func(int) []byte { return nil }))
	add(60, "wrong content type", func(i int) hostileRequest {
		b := validBody(id("ctype", i))
		return httpRequest("", http.MethodPost, b, func(h http.Header) {
			signedHeaders(s.secret, now(), b)(h)
			h.Set("Content-Type", []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=z", "application/xml"}[i%4])
		})
	})
	add(30, "header flood (1.5 MB of headers)", func(i int) hostileRequest {
		b := validBody(id("hflood", i))
		return httpRequest("", http.MethodPost, b, func(h http.Header) {
			signedHeaders(s.secret, now(), b)(h)
			for j := range 120 {
				h.Set(fmt.Sprintf("X-Flood-%d", j), strings.Repeat("f", 12<<10))
			}
		})
	})
	add(20, "wrong method", func(i int) hostileRequest {
		b := validBody(id("method", i))
		return httpRequest("", []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch}[i%4], b, signedHeaders(s.secret, now(), b))
	})
	add(6, "slow drip (1 byte/s)", func(i int) hostileRequest {
		return hostileRequest{send: func(ctx context.Context, sv *service) (int, error) {
			return s.slowDrip(ctx, sv, validBody(id("drip", i)))
		}}
	})
	return c
}

// slowDrip sends the headers of a signed request, then its body one byte a
// second, and reads what the server answers (0: it hung up).
func (s *suite) slowDrip(ctx context.Context, sv *service, body []byte) (int, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", sv.port))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stamp := webhook.FormatTimestamp(time.Now())
	fmt.Fprintf(conn, "POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n%s: v1=%s\r\n\r\n",
		len(body), webhook.HeaderTimestamp, stamp, webhook.HeaderSignature, eventlog.Sign(s.secret, stamp, body))
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	deadline := time.After(60 * time.Second)
	for i := 0; i < len(body); i++ {
		select {
		case code := <-answered:
			return code, nil
		case <-deadline:
			return 0, fmt.Errorf("no answer within 60 s")
		case <-time.After(time.Second):
		}
		if _, err := conn.Write(body[i : i+1]); err != nil {
			break
		}
	}
	select {
	case code := <-answered:
		return code, nil
	case <-deadline:
		return 0, fmt.Errorf("no answer within 60 s")
	}
}

// 6: the hostile corpus: every request a 4xx within the configured
// timeouts, none stored, the service healthy after, memory bounded.
func (s *suite) hostile(ctx context.Context) result {
	r := result{load: "16 concurrent hostile senders, plus one valid event a second"}
	sv, err := s.startService(ctx, "hostile", "chaos_hostile")
	if err != nil {
		return failed(r, err)
	}
	defer sv.stop()
	c := s.corpus()
	rssBefore := sv.rssKiB()
	var maxRSS int
	var mu sync.Mutex
	byKind := map[string]map[int]int{}
	var bad []string
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			select {
			case <-stopRSS:
				return
			case <-time.After(100 * time.Millisecond):
				mu.Lock()
				maxRSS = max(maxRSS, sv.rssKiB())
				mu.Unlock()
			}
		}
	}()
	// Valid traffic alongside, so "healthy" means "still storing".
	ld := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 1, rate: 1, entities: 10, seed: 6})
	next := make(chan hostileRequest)
	var wg sync.WaitGroup
	start := time.Now()
	var slowest time.Duration
	for range 16 {
		wg.Go(func() {
			for req := range next {
				began := time.Now()
				code, err := req.send(ctx, sv)
				took := time.Since(began)
				mu.Lock()
				slowest = max(slowest, took)
				if byKind[req.kind] == nil {
					byKind[req.kind] = map[int]int{}
				}
				byKind[req.kind][code]++
				refused := code >= 400 && code < 500 || req.mayHangUp && code == 0 && hungUp(err)
				ok := refused && took < 35*time.Second
				if !ok {
					bad = append(bad, fmt.Sprintf("%s: %d %v", req.kind, code, err))
				}
				mu.Unlock()
			}
		})
	}
	for _, req := range c {
		next <- req
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	close(stopRSS)
	<-rssDone
	l := ld.stop()
	healthy := sv.healthy(ctx)
	o := s.finish(ctx, &r, "chaos_hostile", l)
	pool, err := s.pool(ctx)
	if err != nil {
		return failed(r, err)
	}
	defer pool.Close()
	var stored int
	if err := pool.QueryRow(ctx, sqlFiles.For("chaos_hostile").HostileStored).Scan(&stored); err != nil {
		r.problems = append(r.problems, err.Error())
	}
	const rssLimitMiB = 256
	if stored > 0 {
		r.problems = append(r.problems, fmt.Sprintf("%d hostile events stored", stored))
	}
	if len(bad) > 0 {
		r.problems = append(r.problems, fmt.Sprintf("%d requests not answered 4xx, e.g. %s", len(bad), bad[0]))
	}
	if !healthy {
		r.problems = append(r.problems, "not healthy after the corpus")
	}
	if maxRSS/1024 > rssLimitMiB {
		r.problems = append(r.problems, fmt.Sprintf("RSS reached %d MiB (limit %d)", maxRSS/1024, rssLimitMiB))
	}
	r.pass = len(r.problems) == 0 && o.ok()
	codes := map[int]int{}
	for _, byCode := range byKind {
		for code, n := range byCode {
			codes[code] += n
		}
	}
	r.faults = fmt.Sprintf("%d hostile requests of %d kinds", len(c), len(byKind))
	r.recovery = "n/a (healthy throughout: valid events stored during and after)"
	r.figures = fmt.Sprintf("answers by status %v, slowest %s (slow drip: 408 after the 10 s body timeout), none stored; RSS %d → max %d MiB (limit %d); %s total",
		codes, slowest.Round(time.Second), rssBefore/1024, maxRSS/1024, rssLimitMiB, elapsed.Round(time.Second))
	return r
}

// healthy reports /healthz and /readyz both answering 200.
func (sv *service) healthy(ctx context.Context) bool {
	for _, path := range []string{"/healthz", "/readyz"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sv.url(path), nil)
		resp, err := hostileClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}
