package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// runHealthcheck asks this container's own serve whether it is ready: the
// HEALTHCHECK of plain Docker, for an image that has no shell or curl.
func runHealthcheck(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "healthcheck")
	port := intSetting(fs, env, setting{"port", "PORT"}, 8080, "serve's public port", new([]error))
	path := fs.String("path", "/readyz", "probe to ask: /readyz or /healthz")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *path != "/readyz" && *path != "/healthz" {
		return fmt.Errorf("--path must be /readyz or /healthz, not %q: %w", *path, errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)) + *path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *path, resp.StatusCode)
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
