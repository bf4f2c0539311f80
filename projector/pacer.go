package projector

import "time"

// pacer spaces the runner's rounds by the backlog they find. A round has a
// fixed cost besides its events (planning and running each fed
// projection's fold statement, the checkpoints, one commit), so while
// events trickle in, a round per commit or per RoundInterval would spend
// most of its time on that fixed cost. The pacer measures the rate the
// log grew at between the last two rounds and holds the next round until
// about RoundEvents positions have gathered at that rate, between
// RoundInterval and RoundIntervalMax. So the cost per event falls as the
// rate rises, and the lag it adds stays below RoundIntervalMax:
//
//	gap = clamp(RoundEvents / rate, RoundInterval, RoundIntervalMax)
//
// A round that found nothing new (a poll, an idle log) leaves the least
// gap: the next event starts a round at once, as there is nothing to
// gather it with. A backlog larger than a batch is applied in back-to-back
// rounds within one catch-up regardless.
type pacer struct {
	min, max time.Duration
	events   int64 // positions a round should gather

	gap  time.Duration // from the last round's start to the next one's
	head int64         // the head the last round read
	at   time.Time     // when the last round began
}

func newPacer(cfg Config) pacer {
	return pacer{min: cfg.RoundInterval, max: cfg.RoundIntervalMax, events: int64(cfg.RoundEvents), gap: cfg.RoundInterval}
}

// due is when the next round may begin.
func (pc *pacer) due() time.Time { return pc.at.Add(pc.gap) }

// began records a round that began at at and read head, and sets the gap
// before the next one.
func (pc *pacer) began(at time.Time, head int64) {
	n, elapsed := head-pc.head, at.Sub(pc.at)
	first := pc.at.IsZero()
	pc.head, pc.at = head, at
	if first || n <= 0 || elapsed <= 0 {
		pc.gap = pc.min
		return
	}
	// events / (n / elapsed), in floating point: elapsed may be hours.
	gap := time.Duration(float64(pc.events) / float64(n) * float64(elapsed))
	pc.gap = min(max(gap, pc.min), pc.max)
}
