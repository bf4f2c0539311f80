package orbsync

import (
	"strings"
	"testing"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// TestQueriesNameMissingType: existing_objects.sql leaves out objects whose
// newest event is a missing marker, and spells MissingType out so the
// planner sees it.
func TestQueriesNameMissingType(t *testing.T) {
	q := newQueries(orbsql.DefaultSchema)
	if want := "n.type <> " + orbsql.QuoteLiteral(MissingType); !strings.Contains(q.ExistingObjects, want) {
		t.Errorf("existing_objects.sql lacks %q:\n%s", want, q.ExistingObjects)
	}
}
