package cli

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/orb-sync/orb-sync/eventlog/adminjob"
)

// The admin endpoints' jobs are their owners' (orbsync.BackfillJob,
// projector.RebuildJob); serve mounts them behind requireBearer.

// requireBearer answers 401 unless the request carries the token.
func requireBearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orb-sync admin"`)
			adminjob.WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token (ADMIN_TOKEN)")
			return
		}
		next.ServeHTTP(w, r)
	})
}
