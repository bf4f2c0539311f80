package console

import (
	"strings"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// TestEventQueryReadsBothBodyColumns: event.sql selects the body columns
// eventlog.DecodeBody takes, in its order.
func TestEventQueryReadsBothBodyColumns(t *testing.T) {
	if q := sqlFiles.For("orb").Event; !strings.Contains(q, eventlog.BodyColumns) {
		t.Errorf("event.sql does not select %q:\n%s", eventlog.BodyColumns, q)
	}
}
