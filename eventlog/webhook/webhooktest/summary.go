package webhooktest

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Summarize reads the phase lines reference.sh collected (key=value pairs
// with rep, build, mode and phase) and writes a Markdown table: for each
// build, serve mode and phase, the median and range over repetitions of
// throughput, latency, memory and PostgreSQL CPU per acknowledged event,
// then the projector's PostgreSQL CPU cost against ingest-only.
func Summarize(r io.Reader, w io.Writer) error {
	groups, order, err := readPhaseLines(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "| build | mode | phase | reps | req/s | p50 ms | p99 ms | RSS MB (max) | PG CPU ms/event | PG cores | max lag (events) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range order {
		g := groups[k]
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", k.build, k.mode, k.phase, len(g["req/s"]),
			spread(g["req/s"], 0), spread(g["p50"], 1), spread(g["p99"], 1), spread(g["rss_max_mb"], 0),
			spread(g["pg_cpu_ms_per_event"], 2), spread(g["pg_cores"], 2), spread(g["lag_max"], 0))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "PostgreSQL CPU per acknowledged event, projector on / ingest-only (medians):")
	for _, k := range order {
		if k.mode != "default" {
			continue
		}
		off, ok := groups[phaseKey{k.build, "ingest-only", k.phase}]
		if !ok {
			continue
		}
		on := median(groups[k]["pg_cpu_ms_per_event"])
		fmt.Fprintf(w, "- %s %s: %.2fx\n", k.build, k.phase, on/median(off["pg_cpu_ms_per_event"]))
	}
	return nil
}

type phaseKey struct{ build, mode, phase string }

// readPhaseLines groups every numeric field of the phase lines by build,
// mode and phase; durations become milliseconds.
func readPhaseLines(r io.Reader) (map[phaseKey]map[string][]float64, []phaseKey, error) {
	groups := map[phaseKey]map[string][]float64{}
	var order []phaseKey
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		k := phaseKey{fields["build"], fields["mode"], fields["phase"]}
		if k.phase == "" || k.phase == "seed" {
			continue
		}
		if groups[k] == nil {
			groups[k] = map[string][]float64{}
			order = append(order, k)
		}
		for name, v := range fields {
			if x, ok := number(v); ok {
				groups[k][name] = append(groups[k][name], x)
			}
		}
	}
	slices.SortStableFunc(order, func(a, b phaseKey) int {
		return strings.Compare(a.mode+a.build, b.mode+b.build)
	})
	return groups, order, sc.Err()
}

// number reads a plain number or a duration (as milliseconds).
func number(v string) (float64, bool) {
	if x, err := strconv.ParseFloat(v, 64); err == nil {
		return x, true
	}
	if d, err := time.ParseDuration(v); err == nil {
		return float64(d) / float64(time.Millisecond), true
	}
	return 0, false
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// spread renders "median (min–max)".
func spread(xs []float64, decimals int) string {
	if len(xs) == 0 {
		return "–"
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', decimals, 64) }
	if len(xs) == 1 {
		return f(xs[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(median(xs)), f(slices.Min(xs)), f(slices.Max(xs)))
}
