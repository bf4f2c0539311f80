package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// Defaults of the Orb API settings.
const (
	orbBaseURLDefault   = "https://api.withorb.com/v1"
	orbRateLimitDefault = 20.0 // Orb allows 100 read requests/s live, 10 on trials.
	orbRateLimitMax     = 1000.0
	orbPageSizeDefault  = 100
)

// apiSettings are the Orb REST API settings shared by backfill, repair and
// serve's workers.
type apiSettings struct {
	key, baseURL *string
	rateLimit    *float64
	pageSize     *int
}

func addAPISettings(fs *flag.FlagSet, env *environment, errs *[]error) apiSettings {
	return apiSettings{
		key:       secretSetting(fs, env, setting{"api-key", "ORB_API_KEY"}, "Orb API key (Bearer); never logged"),
		baseURL:   stringSetting(fs, env, setting{"api-base-url", "ORB_BASE_URL"}, orbBaseURLDefault, "Orb API root"),
		rateLimit: floatSetting(fs, env, setting{"api-rate-limit", "ORB_API_RATE_LIMIT"}, orbRateLimitDefault, "Orb API requests per second, shared by every reader in this process", errs),
		pageSize:  intSetting(fs, env, setting{"api-page-size", "ORB_API_PAGE_SIZE"}, orbPageSizeDefault, "objects per list page, 1 to 100 (halved automatically when Orb fails a page)", errs),
	}
}

// enabled reports whether an API key is set.
func (a apiSettings) enabled() bool { return strings.TrimSpace(*a.key) != "" }

// validate checks the settings; the key only when required.
func (a apiSettings) validate(keyRequired bool) []error {
	var errs []error
	if keyRequired && !a.enabled() {
		errs = append(errs, errors.New("ORB_API_KEY is not set: create an API key in Orb (Developers → API keys) and set it"))
	}
	if !(*a.rateLimit > 0 && *a.rateLimit <= orbRateLimitMax) {
		errs = append(errs, fmt.Errorf("ORB_API_RATE_LIMIT=%v must be above 0 and at most %v requests per second", *a.rateLimit, orbRateLimitMax))
	}
	if *a.pageSize < 1 || *a.pageSize > 100 {
		errs = append(errs, fmt.Errorf("ORB_API_PAGE_SIZE=%d must be between 1 and 100", *a.pageSize))
	}
	return errs
}

// newOrbClient builds the API client. Its errors never contain the key.
func newOrbClient(a apiSettings, logger *slog.Logger) (*orbapi.Client, error) {
	c, err := orbapi.New(orbapi.Config{
		APIKey:    strings.TrimSpace(*a.key),
		BaseURL:   *a.baseURL,
		RateLimit: *a.rateLimit,
		PageSize:  *a.pageSize,
		Logger:    logger.With("component", "orbapi"),
	})
	if err != nil {
		return nil, fmt.Errorf("ORB_BASE_URL or ORB_API_PAGE_SIZE: %w", err)
	}
	return c, nil
}

// floatSetting is intSetting for decimals.
func floatSetting(fs *flag.FlagSet, env *environment, s setting, def float64, help string, errs *[]error) *float64 {
	if v := env.getenv(s.env); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s=%q is not a number", s.env, v))
		} else {
			def = f
		}
	}
	return fs.Float64(s.flag, def, fmt.Sprintf("%s (env %s)", help, s.env))
}
