package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

func osGetenv(key string) string { return os.Getenv(key) }

// setting is one configuration value: a flag whose default comes from an
// environment variable, so `--port 9000` and `PORT=9000` are the same.
type setting struct {
	flag, env string
}

// stringSetting defines a string flag defaulting to env's value or def.
func stringSetting(fs *flag.FlagSet, env *environment, s setting, def, help string) *string {
	if v := env.getenv(s.env); v != "" {
		def = v
	}
	return fs.String(s.flag, def, fmt.Sprintf("%s (env %s)", help, s.env))
}

// secretSetting is stringSetting that never shows the value in -h output.
func secretSetting(fs *flag.FlagSet, env *environment, s setting, help string) *string {
	v := new(string)
	*v = env.getenv(s.env)
	fs.Func(s.flag, fmt.Sprintf("%s (env %s)", help, s.env), func(in string) error { *v = in; return nil })
	return v
}

// durationSetting and intSetting parse env values up front, so a bad value
// names the variable it came from.
func durationSetting(fs *flag.FlagSet, env *environment, s setting, def time.Duration, help string, errs *[]error) *time.Duration {
	if v := env.getenv(s.env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s=%q is not a duration (e.g. 5m, 30s)", s.env, v))
		} else {
			def = d
		}
	}
	return fs.Duration(s.flag, def, fmt.Sprintf("%s (env %s)", help, s.env))
}

func intSetting(fs *flag.FlagSet, env *environment, s setting, def int, help string, errs *[]error) *int {
	if v := env.getenv(s.env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s=%q is not an integer", s.env, v))
		} else {
			def = n
		}
	}
	return fs.Int(s.flag, def, fmt.Sprintf("%s (env %s)", help, s.env))
}

// dbSettings are the database settings every command that talks to
// PostgreSQL shares.
type dbSettings struct {
	url, schema *string
}

func addDBSettings(fs *flag.FlagSet, env *environment) dbSettings {
	return dbSettings{
		url:    secretSetting(fs, env, setting{"database-url", "DATABASE_URL"}, "PostgreSQL connection URL (required)"),
		schema: stringSetting(fs, env, setting{"database-schema", "DATABASE_SCHEMA"}, orbsql.DefaultSchema, "schema holding every orb-sync table"),
	}
}

func (d dbSettings) validate() error {
	if *d.url == "" {
		return errors.New("DATABASE_URL is not set: give a PostgreSQL URL (e.g. postgres://user@host:5432/db), or run 'orb-sync local-postgres' to get one on this machine")
	}
	if err := orbsql.ValidateSchema(*d.schema); err != nil {
		return fmt.Errorf("DATABASE_SCHEMA: %w", err)
	}
	return nil
}

// Connection defaults filled in unless the URL sets them: a name per role so
// operators (and tests) can find our sessions in pg_stat_activity, and
// timeouts so a stuck statement or an abandoned transaction cannot hold the
// log's head lock for long.
var connDefaults = map[string]string{
	"statement_timeout":                   "60000",
	"idle_in_transaction_session_timeout": "60000",
}

// openPool connects to the database with role-specific defaults.
func openPool(ctx context.Context, d dbSettings, role string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(*d.url)
	if err != nil {
		// pgx's ParseConfigError masks the password.
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	params := cfg.ConnConfig.RuntimeParams
	if params["application_name"] == "" {
		params["application_name"] = "orb-sync-" + role
	}
	for k, v := range connDefaults {
		if params[k] == "" {
			params[k] = v
		}
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	return pool, nil
}

// splitSecrets parses ORB_WEBHOOK_SECRET's comma-separated list.
func splitSecrets(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
