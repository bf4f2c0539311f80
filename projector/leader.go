package projector

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
	orbsql "github.com/orb-sync/orb-sync/sql"
)

// elector holds the projector lock: a session advisory lock on a dedicated
// connection. Only its holder applies events. The lock lives as long as
// the session, so the connection is watched continuously: when it dies
// (killed, server restart, network), leadership ends at once and the batch
// in flight is cancelled; the checkpoint compare-and-set stops any write
// that slips through.
type elector struct {
	p *Projector

	mu     sync.Mutex
	lead   context.Context // nil unless leading; cancelled when the lead ends
	cancel context.CancelFunc
}

func newElector(p *Projector) *elector { return &elector{p: p} }

// lockNamespace is the first key of the two-key advisory lock, so our lock
// cannot collide with other applications' (or tern's) single-key locks.
var lockNamespace = orbsql.LockKey32("orb-sync projector")

// leading returns a context that lives while this instance leads, or nil.
func (e *elector) leading() context.Context {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lead
}

func (e *elector) isLeader() bool { return e.leading() != nil }

// run campaigns until ctx ends: connect, try the lock at once and then
// every ElectInterval, hold it while the connection lives, start over.
//
// A leader whose lock session dropped (a failover, a pooler or an operator
// terminating it) reconnects and tries again at once rather than stepping
// back: as the only replica, or the first to ask, it leads again within a
// round trip, so the tables stall for no more than the poll interval plus
// one round. Reconnecting is retried every PollInterval (or ElectInterval,
// if shorter) while the server is away.
func (e *elector) run(ctx context.Context) {
	cfg := e.p.connConfig("leader")
	retry := min(e.p.cfg.PollInterval, e.p.cfg.ElectInterval)
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			e.p.logFailure(ctx, "connecting for the projector lock", err)
			sleep.For(ctx, sleep.Jitter(retry))
			continue
		}
		led := e.campaign(ctx, conn)
		// Closing the session releases the lock, if held.
		_ = conn.Close(context.WithoutCancel(ctx))
		if !led {
			// The session failed before leading: don't spin on a server
			// that takes connections but fails them.
			sleep.For(ctx, sleep.Jitter(retry))
		}
	}
}

// campaign tries the lock every ElectInterval until it gets it (then
// leads until the connection fails) or the connection fails. It reports
// whether it led.
func (e *elector) campaign(ctx context.Context, conn *pgx.Conn) bool {
	key := orbsql.LockKey32(e.p.cfg.Schema)
	for {
		var got bool
		err := conn.QueryRow(ctx, sqlFor(e.p.cfg.Schema).TryLock, lockNamespace, key).Scan(&got)
		if err != nil {
			e.p.logFailure(ctx, "trying the projector lock", err)
			return false
		}
		if got {
			e.hold(ctx, conn)
			return true
		}
		if !sleep.For(ctx, sleep.Jitter(e.p.cfg.ElectInterval)) {
			return false
		}
	}
}

// hold leads until the lock connection fails or ctx ends. The connection
// sits in WaitForNotification, so a killed session is noticed as soon as
// the server says so; after PingInterval of silence it is pinged.
func (e *elector) hold(ctx context.Context, conn *pgx.Conn) {
	lead, cancel := context.WithCancel(ctx)
	e.mu.Lock()
	e.lead, e.cancel = lead, cancel
	e.mu.Unlock()
	e.p.cfg.Metrics.setLeader(true)
	e.p.logger.InfoContext(ctx, "leading: this instance applies events", slog.String("schema", e.p.cfg.Schema))
	e.p.kick(wakeLeader)
	defer func() {
		e.mu.Lock()
		e.lead, e.cancel = nil, nil
		e.mu.Unlock()
		cancel()
		e.p.cfg.Metrics.setLeader(false)
	}()
	for {
		_, err := waitOrPing(ctx, conn, e.p.cfg.PingInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.p.logger.WarnContext(ctx, "lost the projector lock connection; no longer leading", slog.String("error", err.Error()))
			return
		}
	}
}

// waitOrPing blocks on conn for up to d and pings it if no notification
// came. It returns the notification, if any, and an error when the
// connection is no longer usable.
func waitOrPing(ctx context.Context, conn *pgx.Conn, d time.Duration) (*pgconn.Notification, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	n, err := conn.WaitForNotification(wctx)
	cancel()
	if err == nil || ctx.Err() != nil || !pgconn.Timeout(err) {
		return n, err
	}
	// A timeout leaves the connection usable (pgx peekMessage).
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return nil, conn.Ping(pctx)
}
