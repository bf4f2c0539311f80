package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	orbsql "github.com/orb-sync/orb-sync/sql"
)

// Outcomes of re-checking a stored event's signature.
const (
	// StoredValid: the stored body, timestamp and signature match one of the
	// secrets.
	StoredValid = "valid"
	// StoredMismatch: a signature is stored but no secret produces it for
	// the stored body and timestamp: the body (or header) was changed, or it
	// was signed with a secret not given.
	StoredMismatch = "mismatch"
	// StoredNoSignature: a webhook stored without its signing headers, so
	// nothing can prove it came from Orb.
	StoredNoSignature = "no-signature"
	// StoredUnsigned: snapshot and recovered events were read from Orb's
	// API, which signs nothing; reported, never a failure.
	StoredUnsigned = "unsigned"
)

// StoredCheck is one event's outcome.
type StoredCheck struct {
	Seq       int64     `json:"seq"`
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	Outcome   string    `json:"outcome"`
}

// Failed reports whether the outcome means the event cannot be trusted.
func (c StoredCheck) Failed() bool {
	return c.Outcome == StoredMismatch || c.Outcome == StoredNoSignature
}

// StoredSummary counts outcomes.
type StoredSummary struct {
	Checked  int64            `json:"checked"`
	Outcomes map[string]int64 `json:"outcomes"`
}

// CheckStoredConfig selects what CheckStored reads.
type CheckStoredConfig struct {
	Schema string
	// Secrets are tried in turn (current and former signing secrets).
	Secrets []string
	// Since, when set, checks only events received from then on.
	Since *time.Time
	// EventID, when set, checks only that event.
	EventID string
	// OnEvent is called for every event checked, in log order.
	OnEvent func(StoredCheck)
}

// queries is this package's SQL, in sql/queries/eventlog/webhook/ (see
// package sql for the scheme).
type queries struct {
	StoredEvents string `sql:"stored_events"`
}

var sqlFiles = orbsql.MustQueries[queries]("eventlog/webhook")

// CheckStored re-verifies the stored HMAC of every stored event (or those
// received since cfg.Since) against the stored body byte for byte, with no
// timestamp tolerance: the question is whether the bytes are what Orb
// signed, not whether the delivery was fresh.
func CheckStored(ctx context.Context, db eventlog.DB, cfg CheckStoredConfig) (StoredSummary, error) {
	sum := StoredSummary{Outcomes: map[string]int64{}}
	rows, err := db.Query(ctx, sqlFiles.For(cfg.Schema).StoredEvents, cfg.Since, cfg.EventID)
	if err != nil {
		return sum, fmt.Errorf("reading the log: %w", err)
	}
	defer rows.Close()
	var c StoredCheck
	var raw, compressed []byte
	var ts, sig string
	for rows.Next() {
		if err := rows.Scan(&c.Seq, &c.EventID, &c.Type, &c.Source, &c.CreatedAt, &raw, &compressed, &ts, &sig); err != nil {
			return sum, fmt.Errorf("reading the log: %w", err)
		}
		// A stored body that no longer decodes is not what was signed.
		if body, err := eventlog.DecodeBody(raw, compressed); err != nil {
			c.Outcome = StoredMismatch
		} else {
			c.Outcome = storedOutcome(c.Source, body, ts, sig, cfg.Secrets)
		}
		sum.Checked++
		sum.Outcomes[c.Outcome]++
		if cfg.OnEvent != nil {
			cfg.OnEvent(c)
		}
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("reading the log: %w", err)
	}
	return sum, nil
}

func storedOutcome(source string, body []byte, timestamp, signature string, secrets []string) string {
	switch {
	case source != "webhook":
		return StoredUnsigned
	case timestamp == "" || signature == "":
		return StoredNoSignature
	case eventlog.SignatureMatches(timestamp, signature, body, secrets):
		return StoredValid
	}
	return StoredMismatch
}
