package projector

import (
	"testing"
)

// TestMissingMarkerRecordedNotDeleted: a customer the backfill's reconcile
// found gone from Orb's listing keeps its row, marked with when; a newer
// full customer object clears the mark; an older one arriving late does
// not.
func TestMissingMarkerRecordedNotDeleted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	marker := map[string]any{"resource_type": "customer", "customer": map[string]any{"id": "cus_m"}}
	b.append(t,
		event(t, "evt_full", "customer.edited", at(1), map[string]any{"customer": customerObj(t, "cus_m")}),
		event(t, "missing_1", "reconcile.missing", at(5), marker),
	)
	b.drain(t, 100)
	row := b.row(t, "customers", "cus_m")
	if row["missing_from_api_at"] == nil || row["email"] == nil || row["last_event_id"] != "missing_1" {
		t.Fatalf("after the marker: %v", row)
	}

	// An older full object delivered late changes nothing.
	b.append(t, event(t, "evt_late", "customer.edited", at(3), map[string]any{"customer": customerObj(t, "cus_m")}))
	b.drain(t, 100)
	if row := b.row(t, "customers", "cus_m"); row["missing_from_api_at"] == nil {
		t.Fatalf("a late, older object cleared the mark: %v", row)
	}

	// The customer shows up again in a newer snapshot: the mark goes.
	b.append(t, event(t, "snap_back", "snapshot.customer", at(9), map[string]any{"customer": customerObj(t, "cus_m")}))
	b.drain(t, 100)
	if row := b.row(t, "customers", "cus_m"); row["missing_from_api_at"] != nil {
		t.Fatalf("a newer full object left the mark: %v", row)
	}
	b.checkRebuildMatches(t)
}
