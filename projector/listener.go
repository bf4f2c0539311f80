package projector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
)

// Listener reconnect backoff: the first attempt is immediate, failures
// back off from reconnectMin to reconnectMax, jittered.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// connectListener opens the dedicated LISTEN connection. It is never in a
// pool: a pooled session could be recycled and silently stop listening.
func (p *Projector) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, p.connConfig("listener"))
	if err != nil {
		return nil, fmt.Errorf("connecting the listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{p.listenChannel()}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listening on %s: %w", p.listenChannel(), err)
	}
	return conn, nil
}

// listen turns notifications into doorbell rings. Order matters on every
// (re)connect: LISTEN first, then ring, so the catch-up that follows reads
// everything committed before the LISTEN and every later commit rings
// again. A notification carries nothing; the log is the truth.
func (p *Projector) listen(ctx context.Context, conn *pgx.Conn) {
	for {
		p.kick(wakeListen)
		p.serveListener(ctx, conn)
		_ = conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return
		}
		p.cfg.Metrics.reconnected()
		conn = p.reconnectListener(ctx)
		if conn == nil {
			return
		}
	}
}

// serveListener waits for notifications until the connection fails.
func (p *Projector) serveListener(ctx context.Context, conn *pgx.Conn) {
	for {
		n, err := waitOrPing(ctx, conn, p.cfg.PingInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.logger.WarnContext(ctx, "listener connection lost; reconnecting", slog.String("error", err.Error()))
			return
		}
		if n != nil {
			p.kick(wakeNotify)
		}
	}
}

// reconnectListener retries until connected, or returns nil when ctx ends.
func (p *Projector) reconnectListener(ctx context.Context) *pgx.Conn {
	backoff := reconnectMin
	for {
		conn, err := p.connectListener(ctx)
		if err == nil {
			return conn
		}
		p.logFailure(ctx, "reconnecting the listener", err)
		if !sleep.For(ctx, sleep.Jitter(backoff)) {
			return nil
		}
		backoff = min(backoff*2, reconnectMax)
	}
}
