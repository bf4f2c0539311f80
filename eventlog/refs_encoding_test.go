package eventlog

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestRefsSameInNonUTF8Database: refs' fingerprints are the MD5 of a
// price's jsonb text in the database's encoding, and the service renders
// that text in UTF-8. In a LATIN1 database a price with "é" would get one
// fingerprint from the service and another from event_refs, so refs would
// depend on who built them; the log's trigger builds them there, whatever
// the service sent.
func TestRefsSameInNonUTF8Database(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := pgtest.DatabaseURL(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := fmt.Sprintf("orb_latin1_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "create database "+pgx.Identifier{db}.Sanitize()+" encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "drop database if exists "+pgx.Identifier{db}.Sanitize()+" with (force)"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const schema = "orb"
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = orbsql.Migrate(ctx, conn.Conn(), schema)
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAppender(pool, AppenderConfig{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Stop()
	body := []byte(`{"id": "evt_latin1", "type": "subscription.edited", "created_at": "2025-03-01T12:00:00Z", "properties": {},
		"subscription": {"id": "sub_1", "customer": {"id": "cus_1", "email": "z@x", "name": "Zo\u00eb Café"}, "plan": {"id": "plan_1", "prices": [
			{"id": "price_1", "name": "Caf\u00e9 premium", "model_type": "unit", "unit_config": {"unit_amount": "1.00"}},
			{"id": "price_2", "name": "Café", "model_type": "unit", "unit_config": {"unit_amount": "2.00"}}]},
		"price_intervals": [{"id": "pi_1", "price": {"id": "price_3", "name": "Crème", "model_type": "unit"}}]}}`)
	if _, ok := EventRefs(body); !ok {
		t.Fatal("the service does not vouch for the body: the test compares nothing")
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, Event{Envelope: env, Body: body}); err != nil {
		t.Fatal(err)
	}
	var same, fps bool
	var refs, built string
	// The customer's and plan's fingerprints too (migration 025): their
	// text has non-ASCII characters.
	err = pool.QueryRow(ctx, `select refs = orb.event_refs(payload), refs::text, orb.event_refs(payload)::text,
		refs #> '{subscription,customer,fp}' is not null and refs #> '{subscription,plan,fp}' is not null
		from orb.events where event_id = 'evt_latin1'`).Scan(&same, &refs, &built, &fps)
	if err != nil {
		t.Fatal(err)
	}
	if !fps {
		t.Errorf("refs %s have no customer or plan fingerprint", refs)
	}
	if !same {
		t.Errorf("refs stored %s\nevent_refs(payload) %s", refs, built)
	}
}
