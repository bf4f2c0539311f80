package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/projector"
)

// projectorSettings configure the projector run by serve.
type projectorSettings struct {
	enabled      *bool
	batchSize    *int
	pollInterval *time.Duration
	roundGap     *time.Duration
	roundGapMax  *time.Duration
	roundEvents  *int
	pollOnly     *bool
	history      *string
}

func addProjectorSettings(fs *flag.FlagSet, env *environment, errs *[]error) *projectorSettings {
	return &projectorSettings{
		enabled: fs.Bool("projector", env.getenv("PROJECTOR_ENABLED") != "false",
			"run the projector in this process (env PROJECTOR_ENABLED=false for ingest-only replicas; another replica must then project)"),
		batchSize:    intSetting(fs, env, setting{"projector-batch-size", "PROJECTOR_BATCH_SIZE"}, 20000, "most log positions applied per transaction and projection", errs),
		pollInterval: durationSetting(fs, env, setting{"projector-poll-interval", "PROJECTOR_POLL_INTERVAL"}, time.Second, "how often the log is read without a notification (safety net)", errs),
		roundGap: durationSetting(fs, env, setting{"projector-round-interval", "PROJECTOR_ROUND_INTERVAL"}, 100*time.Millisecond,
			"least time between two projector rounds: commits in between are applied together", errs),
		roundGapMax: durationSetting(fs, env, setting{"projector-round-interval-max", "PROJECTOR_ROUND_INTERVAL_MAX"}, time.Second,
			"most time between two projector rounds while events trickle in, when rounds are stretched to gather PROJECTOR_ROUND_EVENTS (bounds the added lag)", errs),
		roundEvents: intSetting(fs, env, setting{"projector-round-events", "PROJECTOR_ROUND_EVENTS"}, 1000,
			"log positions a projector round tries to gather while events trickle in", errs),
		history: stringSetting(fs, env, setting{"projector-history", "PROJECTOR_HISTORY"}, "all",
			"history tables kept live: all, none, or a comma-separated list of versioned tables (e.g. invoices,subscriptions); the others are paused"),
		pollOnly: fs.Bool("projector-poll-only", env.getenv("PROJECTOR_POLL_ONLY") == "true", "don't LISTEN, only poll (for poolers without sessions; env PROJECTOR_POLL_ONLY=true)"),
	}
}

func (s *projectorSettings) validate() []error {
	var errs []error
	if *s.batchSize < 1 || *s.batchSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("PROJECTOR_BATCH_SIZE=%d must be between 1 and 1000000", *s.batchSize))
	}
	if *s.pollInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("PROJECTOR_POLL_INTERVAL=%s must be at least 10ms", *s.pollInterval))
	}
	if *s.roundGap < time.Millisecond || *s.roundGap > 10*time.Second {
		errs = append(errs, fmt.Errorf("PROJECTOR_ROUND_INTERVAL=%s must be between 1ms and 10s", *s.roundGap))
	}
	if *s.roundGapMax < *s.roundGap || *s.roundGapMax > time.Minute {
		errs = append(errs, fmt.Errorf("PROJECTOR_ROUND_INTERVAL_MAX=%s must be between PROJECTOR_ROUND_INTERVAL (%s) and 1m", *s.roundGapMax, *s.roundGap))
	}
	if *s.roundEvents < 1 || *s.roundEvents > 1_000_000 {
		errs = append(errs, fmt.Errorf("PROJECTOR_ROUND_EVENTS=%d must be between 1 and 1000000", *s.roundEvents))
	}
	if _, err := pausedHistory(*s.history); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// pausedHistory reads PROJECTOR_HISTORY into the tables to pause.
func pausedHistory(live string) ([]string, error) {
	paused, err := projector.PausedHistoryFor(live)
	if err != nil {
		return nil, fmt.Errorf("PROJECTOR_HISTORY=%q: %w", live, err)
	}
	return paused, nil
}

// startProjector starts the projector (unless disabled); its setup (compiling projections
// against their tables, the LISTEN connection) fails here, not later.
func startProjector(ctx context.Context, s *projectorSettings, pool *pgxpool.Pool, schema string, logger *slog.Logger, reg prometheus.Registerer,
	rebuildMetrics *projector.RebuildMetrics, afterRound func()) (*projector.Projector, error) {
	paused, err := pausedHistory(*s.history)
	if err != nil {
		return nil, err
	}
	p, err := projector.New(pool, projector.Config{
		Schema:           schema,
		PausedHistory:    paused,
		BatchSize:        *s.batchSize,
		PollInterval:     *s.pollInterval,
		RoundInterval:    *s.roundGap,
		RoundIntervalMax: *s.roundGapMax,
		RoundEvents:      *s.roundEvents,
		PollOnly:         *s.pollOnly,
		ApplicationName:  "orb-sync",
		Logger:           logger,
		Metrics:          projector.NewMetrics(reg),
		RebuildMetrics:   rebuildMetrics,
		AfterRoundFunc:   afterRound,
	})
	if err != nil {
		return nil, err
	}
	if !*s.enabled {
		// Never started: Stop is still safe. Status and metrics come from
		// the replicas that do project.
		logger.InfoContext(ctx, "projector disabled in this process (PROJECTOR_ENABLED=false)")
		return p, nil
	}
	if err := p.Start(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fmt.Errorf("starting the projector (are migrations applied?): %w", err)
	}
	return p, nil
}
