package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/webhook"
)

// auditFailedExit is the exit code when a stored event fails its check.
const auditFailedExit = 3

func runAudit(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] != "verify-signatures" {
		return fmt.Errorf("%w: orb-sync audit verify-signatures [flags]", errUsage)
	}
	return runVerifySignatures(ctx, env, args[1:])
}

// secretList collects repeated --secret flags.
type secretList []string

func (s *secretList) String() string     { return fmt.Sprintf("%d secrets", len(*s)) }
func (s *secretList) Set(v string) error { *s = append(*s, splitSecrets(v)...); return nil }

func runVerifySignatures(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "audit verify-signatures")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orb-sync audit verify-signatures [flags]\n\n"+
			"Re-checks the stored HMAC of every stored webhook against its stored body, byte for byte, with the\n"+
			"configured secrets and any former ones given (no timestamp tolerance). Lists each event that fails:\n"+
			"'mismatch' (body or headers no longer what was signed, or signed with a secret not given) and\n"+
			"'no-signature' (a webhook stored without its headers). Snapshot and recovered events come from Orb's\n"+
			"API, which signs nothing: they are counted as unsigned. Exits %d if any event fails.\n\nFlags:\n", auditFailedExit)
		fs.PrintDefaults()
	}
	db := addDBSettings(fs, env)
	secrets := secretSetting(fs, env, setting{"webhook-secret", "ORB_WEBHOOK_SECRET"}, "signing secret(s), comma-separated")
	var former secretList
	fs.Var(&former, "secret", "a former signing secret to try as well (repeatable)")
	sinceFlag := fs.String("since", "", "only events received at or after: RFC 3339, a date or an age (7d)")
	asJSON := fs.Bool("json", false, "print every event's outcome as JSON lines")
	eventID := fs.String("event", "", "check only this event id (prints its outcome)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	since, err := optionalTime("since", *sinceFlag)
	if err != nil {
		return err
	}
	all := append(splitSecrets(*secrets), former...)
	if len(all) == 0 {
		return fmt.Errorf("%w: give the signing secret (ORB_WEBHOOK_SECRET or --secret)", errUsage)
	}
	if err := db.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "audit", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Release()
	// The whole log takes longer than the default statement_timeout.
	if _, err := conn.Exec(ctx, "set statement_timeout = 0"); err != nil {
		return fmt.Errorf("lifting statement_timeout: %w", err)
	}
	report := signatureReporter(env.stdout, *asJSON || *eventID != "")
	start := time.Now()
	sum, err := webhook.CheckStored(ctx, conn, webhook.CheckStoredConfig{Schema: *db.schema, Secrets: all, Since: since,
		EventID: *eventID, OnEvent: report})
	if err != nil {
		return err
	}
	if *eventID != "" && sum.Checked == 0 {
		return fmt.Errorf("no stored event has id %q", *eventID)
	}
	failed := sum.Outcomes[webhook.StoredMismatch] + sum.Outcomes[webhook.StoredNoSignature]
	fmt.Fprintf(env.stderr, "checked %d events in %s: %d valid, %d mismatch, %d webhooks without signature, %d unsigned (snapshot/recovered)\n",
		sum.Checked, time.Since(start).Round(time.Millisecond), sum.Outcomes[webhook.StoredValid], sum.Outcomes[webhook.StoredMismatch],
		sum.Outcomes[webhook.StoredNoSignature], sum.Outcomes[webhook.StoredUnsigned])
	if failed > 0 {
		return exitCodeError{code: auditFailedExit, err: fmt.Errorf("%d stored events do not match their signature", failed)}
	}
	return nil
}

// signatureReporter prints the failures (text) or every outcome (JSON).
func signatureReporter(w io.Writer, asJSON bool) func(webhook.StoredCheck) {
	if asJSON {
		enc := json.NewEncoder(w)
		return func(c webhook.StoredCheck) { _ = enc.Encode(c) }
	}
	return func(c webhook.StoredCheck) {
		if c.Failed() {
			fmt.Fprintf(w, "%-12s seq %d  %s  %s  created %s\n", strings.ToUpper(c.Outcome), c.Seq, c.EventID, c.Type,
				c.CreatedAt.UTC().Format(time.RFC3339))
		}
	}
}
