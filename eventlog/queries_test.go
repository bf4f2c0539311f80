package eventlog

import (
	"strings"
	"testing"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// TestNotifyRingsNotifyChannel: notify.sql spells the channel out (a DO
// block takes no parameters); it must be the one readers LISTEN on.
func TestNotifyRingsNotifyChannel(t *testing.T) {
	for _, schema := range []string{orbsql.DefaultSchema, "test_1_ab"} {
		if want := orbsql.QuoteLiteral(NotifyChannel(schema)); !strings.Contains(sqlFiles.For(schema).Notify, want) {
			t.Errorf("notify.sql for %s lacks %s: %s", schema, want, sqlFiles.For(schema).Notify)
		}
	}
}
