package cli

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector"
)

// startBackpressure starts, unless ORB_BACKPRESSURE_LAG_EVENTS is 0, the
// gate that holds webhook acks while the projections lag, and the watcher
// that reads the lag for it: on a ticker (whichever replica projects) and,
// through nudge, after each round of the projector in this process. nudge
// is nil when back-pressure is off; stop is always safe to call.
func startBackpressure(ctx context.Context, s *serveSettings, pool *pgxpool.Pool, schema string, logger *slog.Logger,
	metrics *webhook.Metrics) (gate *webhook.Backpressure, nudge func(), stop func(), err error) {
	if *s.bpLag == 0 {
		logger.InfoContext(ctx, "back-pressure off (ORB_BACKPRESSURE_LAG_EVENTS=0): webhook acks never wait for the projections")
		return nil, nil, func() {}, nil
	}
	gate, err = webhook.NewBackpressure(webhook.BackpressureConfig{LagEvents: int64(*s.bpLag), MaxWait: *s.bpMaxWait, Metrics: metrics})
	if err != nil {
		return nil, nil, nil, err
	}
	watcher, err := projector.NewLagWatcher(pool, projector.LagWatcherConfig{
		Schema:     schema,
		UpdateFunc: gate.Update,
		Logger:     logger.With("component", "lag-watcher"),
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := watcher.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	return gate, watcher.Nudge, watcher.Stop, nil
}
