package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Change is one row of the change feed (<schema>.changes): an event, the
// entity it touched in one history table, and what it changed there.
type Change struct {
	Seq        int64     `json:"seq"`
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Source     string    `json:"source"`
	CreatedAt  time.Time `json:"created_at"`
	Table      string    `json:"table"`
	ResourceID string    `json:"resource_id"`
	// Changed is false for an event that left the entity as it was.
	Changed bool `json:"changed"`
	// Fields maps each changed column to its old and new value.
	Fields map[string]FieldChange `json:"changes"`
	// PreviousAttributes is Orb's properties.previous_attributes, if sent.
	PreviousAttributes json.RawMessage `json:"previous_attributes,omitempty"`
	Properties         json.RawMessage `json:"properties,omitempty"`
}

// FieldChange is one column's values before and after an event.
type FieldChange struct {
	Old json.RawMessage `json:"old"`
	New json.RawMessage `json:"new"`
}

// Changes reads the change feed of one entity (table is a versioned table
// such as "invoices", or a history projection's name), oldest first.
func Changes(ctx context.Context, db DB, schema, table, id string) ([]Change, error) {
	p, ok := fold.ProjectionByName(table + "_history")
	if !ok {
		p, ok = fold.ProjectionByName(table)
	}
	if !ok || !p.History {
		return nil, fmt.Errorf("%q keeps no history (tables with history: %v)", table, fold.VersionedTables())
	}
	if err := checkLive(ctx, db, schema, p.Name); err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, sqlFor(schema).Changes, p.BaseTable(), id)
	if err != nil {
		return nil, fmt.Errorf("reading the changes of %s %s: %w", p.BaseTable(), id, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Change, error) {
		var c Change
		err := row.Scan(&c.Seq, &c.EventID, &c.EventType, &c.Source, &c.CreatedAt, &c.Table, &c.ResourceID, &c.Changed,
			&c.Fields, &c.PreviousAttributes, &c.Properties)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the changes of %s %s: %w", p.BaseTable(), id, err)
	}
	return list, nil
}

// VersionedTables lists the tables that keep history.
func VersionedTables() []string { return fold.VersionedTables() }
