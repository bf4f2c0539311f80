package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/gorilla/mux"
)

// defaultAdminListen keeps /metrics and /admin/* on loopback unless the
// operator opens them (containers set ADMIN_LISTEN=:9090 and rely on the
// network policy of the cluster instead).
const defaultAdminListen = "127.0.0.1:9090"

// listeners are serve's two HTTP servers. The public one is what Orb
// reaches: POST /webhooks plus the probes, and 404 for anything else, so an
// exposed webhook port shows neither metrics nor admin endpoints. The admin
// one carries /metrics, /admin/* and whatever else is mounted on admin
// before start: admin.PathPrefix("/console/").Handler(h), for instance.
type listeners struct {
	public *mux.Router
	admin  *mux.Router
	logger *slog.Logger

	servers []*http.Server
	errs    chan error
}

func newListeners(logger *slog.Logger) *listeners {
	return &listeners{public: mux.NewRouter(), admin: mux.NewRouter(), logger: logger, errs: make(chan error, 2)}
}

// validateAdminListen accepts host:port (host may be empty for all
// interfaces) or "off".
func validateAdminListen(v string) error {
	if v == "off" {
		return nil
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("ADMIN_LISTEN=%q must be host:port (e.g. 127.0.0.1:9090 or :9090) or off", v)
	}
	return nil
}

// start binds both addresses before serving either, so a port in use fails
// the start instead of leaving a half-served process. adminAddr "off" serves
// no admin listener.
func (l *listeners) start(ctx context.Context, publicAddr, adminAddr string) error {
	type bound struct {
		name    string
		ln      net.Listener
		handler http.Handler
	}
	var all []bound
	for _, b := range []struct {
		name, addr string
		handler    http.Handler
	}{{"public", publicAddr, l.public}, {"admin", adminAddr, l.admin}} {
		if b.addr == "off" {
			continue
		}
		ln, err := net.Listen("tcp", b.addr)
		if err != nil {
			for _, prev := range all {
				prev.ln.Close()
			}
			return fmt.Errorf("listening on %s (%s): %w", b.addr, b.name, err)
		}
		all = append(all, bound{b.name, ln, b.handler})
	}
	for _, b := range all {
		srv := l.newServer(b.handler)
		l.servers = append(l.servers, srv)
		go func() { l.errs <- srv.Serve(b.ln) }()
		l.logger.InfoContext(ctx, "listening", slog.String("listener", b.name), slog.String("addr", b.ln.Addr().String()))
	}
	return nil
}

func (l *listeners) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(l.logger.Handler(), slog.LevelWarn),
	}
}

// failed delivers the first server that stopped on its own.
func (l *listeners) failed() <-chan error { return l.errs }

// shutdown stops accepting on both and waits for in-flight requests.
func (l *listeners) shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range l.servers {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
