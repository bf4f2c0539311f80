package projector

import (
	"context"
	"errors"
	"log/slog"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// A release that changes a projection's definition bumps its Version
// (catalog.go). The checkpoint records the version that built the table, so
// on start every instance looks for projections whose stored version is
// older than its own; the leader rebuilds those tables (shadow table, then
// swap) while the old ones keep serving and the live projector keeps them
// current. Other instances wait, and stop looking once none is older. A
// table built by a newer version is left alone: during a rolling deploy an
// old instance that becomes leader again must not undo the new one's
// rebuild (after a deliberate downgrade, run reproject).

// startRebuilds starts the goroutine that rebuilds outdated tables. Called
// by Start, under p.mu.
func (p *Projector) startRebuilds(ctx context.Context) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.rebuildOutdated(ctx)
	}()
}

// rebuildOutdated rebuilds, as leader, every projection whose table was
// built by an older version of its definition, until none is left or ctx
// ends. Leadership is checked every ElectInterval; losing it cancels the
// rebuild in progress (the new leader starts it again).
func (p *Projector) rebuildOutdated(ctx context.Context) {
	logger := p.cfg.Logger.With("component", "rebuild")
	for {
		outdated, err := p.outdated(ctx)
		switch {
		case err == nil && len(outdated) == 0:
			return
		case err == nil:
			if lead := p.elector.leading(); lead != nil {
				err = p.rebuildAsLeader(lead, outdated, logger)
			}
		}
		if err != nil && !errors.Is(err, ErrRebuildRunning) {
			p.logFailure(ctx, "rebuilding outdated tables", err, slog.Any("projections", outdated))
		}
		if !sleep.For(ctx, sleep.Jitter(p.cfg.ElectInterval)) {
			return
		}
	}
}

func (p *Projector) rebuildAsLeader(ctx context.Context, names []string, logger *slog.Logger) error {
	logger.InfoContext(ctx, "tables were built by an older version of their projection; rebuilding them from the log",
		slog.Any("projections", names))
	r, err := NewRebuilder(p.pool, RebuildConfig{Schema: p.cfg.Schema, Logger: p.cfg.Logger, Metrics: p.cfg.RebuildMetrics})
	if err != nil {
		return err
	}
	_, err = r.Rebuild(ctx, names...)
	return err
}

// outdated lists the projections whose stored version is older than this
// binary's.
func (p *Projector) outdated(ctx context.Context) ([]string, error) {
	cps, err := readCheckpoints(ctx, p.pool, p.cfg.Schema)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, proj := range fold.Projections() {
		if p.paused(proj) {
			continue // Rebuilt when it is resumed: this check runs at every start.
		}
		if c, ok := cps[proj.Name]; ok && c.Version < proj.Version {
			out = append(out, proj.Name)
		}
	}
	return out, nil
}

// refreshTarget returns the target to apply a batch with: t, or, if its
// table is no longer the one t was compiled for (oid, the table's now, is
// another: a rebuild swapped another in, maybe with other columns), t
// compiled again for the table now live. The oid must be read under the
// checkpoint lock, which a swap also takes, so the table cannot change
// between this check and the batch.
func (p *Projector) refreshTarget(ctx context.Context, db DB, t *fold.Target, oid uint32) (*fold.Target, error) {
	if oid == t.OID() {
		return t, nil
	}
	nt, err := fold.Compile(ctx, db, t.Schema(), t.Projection().Name, t.Table())
	if err != nil {
		return nil, err
	}
	for i, old := range p.targets {
		if old == t {
			p.targets[i] = nt
		}
	}
	p.logger.InfoContext(ctx, "table swapped by a rebuild; projection compiled again", slog.String("projection", t.Projection().Name),
		slog.Int("columns", len(nt.Columns())))
	return nt, nil
}
